package v1

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// deepCopy copies an object through its JSON form, which is its whole state.
func deepCopy[T any](in *T) *T {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("v1: copy %T: %v", in, err)) // our own types always marshal
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("v1: copy %T: %v", in, err))
	}
	return out
}

// TemplateHash returns a short, stable hash of a container template: the
// first 12 hex digits of the SHA-256 of its JSON form. It is the
// berth.dev/spec-hash label and the hash in a Job's id.
func TemplateHash(t *ContainerTemplate) string {
	return FullTemplateHash(t)[:12]
}

// FullTemplateHash is TemplateHash in full (64 hex digits).
func FullTemplateHash(t *ContainerTemplate) string {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("v1: hash template: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// SpecOf returns the JSON form of an object's spec (nil for a Host), used to
// tell a spec change, which raises metadata.generation, from a change of
// metadata only.
func SpecOf(o Object) []byte {
	var spec any
	switch v := o.(type) {
	case *Unit:
		spec = v.Spec
	case *Job:
		spec = v.Spec
	case *Service:
		spec = v.Spec
	case *GitSource:
		spec = v.Spec
	case *Timer:
		spec = v.Spec
	default:
		return nil
	}
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("v1: spec of %T: %v", o, err))
	}
	return b
}

// KindOf returns an object's kind from its Go type.
func KindOf(o Object) string {
	switch o.(type) {
	case *Unit:
		return KindUnit
	case *Job:
		return KindJob
	case *Service:
		return KindService
	case *Host:
		return KindHost
	case *GitSource:
		return KindGitSource
	case *Timer:
		return KindTimer
	}
	return ""
}

// New returns an empty object of a kind, or nil for a kind that is not known.
func New(kind string) Object {
	switch kind {
	case KindUnit:
		return &Unit{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindUnit}}
	case KindJob:
		return &Job{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindJob}}
	case KindService:
		return &Service{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindService}}
	case KindGitSource:
		return &GitSource{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindGitSource}}
	case KindTimer:
		return &Timer{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindTimer}}
	case KindHost:
		return &Host{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindHost}}
	}
	return nil
}

// AppliableKinds are the kinds a user may apply, in the order they are listed.
var AppliableKinds = []string{KindUnit, KindJob, KindService, KindGitSource, KindTimer}
