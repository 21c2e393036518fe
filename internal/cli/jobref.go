package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// jobRef is a job as Helios' verbs name it: NAME, NAME:VERSION or
// NAME:VERSION:HASH (the hash whole or a prefix of it).
type jobRef struct {
	name, version, hash string
}

// parseJobRef reads a job reference; a malformed one is a usage error.
func parseJobRef(s string) (jobRef, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return jobRef{}, usagef("%q is not a job: use NAME, NAME:VERSION or NAME:VERSION:HASH", s)
	}
	r := jobRef{name: parts[0]}
	if len(parts) > 1 {
		r.version = parts[1]
		if r.version == "" {
			return jobRef{}, usagef("%q is not a job: the version after ':' is empty", s)
		}
	}
	if len(parts) > 2 {
		r.hash = strings.ToLower(parts[2])
		if r.hash == "" {
			return jobRef{}, usagef("%q is not a job: the hash after the second ':' is empty", s)
		}
	}
	if msg := v1.ValidName(r.name); msg != "" {
		return jobRef{}, usagef("job name %s", msg)
	}
	return r, nil
}

func (r jobRef) String() string {
	s := r.name
	if r.version != "" {
		s += ":" + r.version
	}
	if r.hash != "" {
		s += ":" + r.hash
	}
	return s
}

// check reports whether the stored job j is the one r names: a version or
// hash that is not the stored one is an error that says which is stored.
func (r jobRef) check(j *v1.Job) error {
	if r.version != "" && r.version != j.Spec.Version {
		return fmt.Errorf("job %s: version %s is stored, not %s: use %s or %s", r.name, j.Spec.Version, r.version, r.name, jobID(j, true))
	}
	if r.hash != "" && !strings.HasPrefix(v1.FullTemplateHash(&j.Spec.Container), r.hash) {
		return fmt.Errorf("job %s: the stored version %s has hash %s, not %s", r.name, j.Spec.Version, shortHash(&j.Spec.Container), r.hash)
	}
	return nil
}

// checkJobRef reads the job s names (NAME, NAME:VERSION or
// NAME:VERSION:HASH) and returns its name, or why the stored job is not
// the one named.
func (a *app) checkJobRef(ctx context.Context, st *store.Store, s string) (string, error) {
	r, err := parseJobRef(s)
	if err != nil {
		return "", err
	}
	if r.version == "" {
		return r.name, nil
	}
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	o, err := store.GetObject(rctx, st, v1.KindJob, r.name)
	if errors.Is(err, store.ErrNotFound) {
		return "", notFound(v1.KindJob, r.name)
	}
	if err != nil {
		return "", storeErr(err)
	}
	if err := r.check(o.(*v1.Job)); err != nil {
		return "", err
	}
	return r.name, nil
}

// shortHashLen is how many hex digits of the template hash tables show, as
// Helios shortens job ids.
const shortHashLen = 8

func shortHash(t *v1.ContainerTemplate) string {
	return v1.FullTemplateHash(t)[:shortHashLen]
}

// jobID is the job id of Helios' tables: name:version:hash, the hash
// shortened unless full.
func jobID(j *v1.Job, full bool) string {
	return versionID(j.Metadata.Name, j.Spec.Version, &j.Spec.Container, full)
}

func versionID(name, version string, t *v1.ContainerTemplate, full bool) string {
	return hashID(name, version, v1.FullTemplateHash(t), full)
}

// hashID is the job id of a version whose template has hash h
// (v1.FullTemplateHash).
func hashID(name, version, h string, full bool) string {
	if !full && len(h) > shortHashLen {
		h = h[:shortHashLen]
	}
	return name + ":" + version + ":" + h
}

// checkOutput accepts the -o values of Helios' verbs and views: "" (text),
// json or yaml.
func checkOutput(output string) error {
	switch output {
	case "", "json", "yaml":
		return nil
	}
	return usagef("unsupported output format %q: use json or yaml", output)
}

// encodeDoc prints doc as indented JSON, or YAML.
func (a *app) encodeDoc(output string, doc any) error {
	b, err := json.MarshalIndent(doc, "", "    ")
	if err != nil {
		return err
	}
	if output == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = a.out.Write(b)
		return err
	}
	_, err = fmt.Fprintf(a.out, "%s\n", b)
	return err
}
