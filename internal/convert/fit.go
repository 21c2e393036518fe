package convert

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	v1 "berth.dev/berth/api/v1"
)

// maxFitRounds bounds the rounds of fit on one object: each round removes
// at least one field.
const maxFitRounds = 64

// fit makes every object of res one that apply accepts: what berth's
// validation refuses (two settings publishing the same host port, a label
// berth cannot hold, a dependency cycle) is taken out and reported as
// Dropped, as every other setting not carried over is. An object whose
// name or image is refused is dropped whole.
func fit(res *Result) {
	var kept []Object
	names := map[string]bool{}
	for _, o := range res.Objects {
		drop := func(field, msg string) {
			res.Findings = append(res.Findings, Finding{File: o.Source, Severity: Dropped,
				Msg: fmt.Sprintf("%s/%s: %s: not converted: %s", strings.ToLower(v1.KindOf(o.Object)), o.Object.GetObjectMeta().Name, field, msg)})
		}
		if !fitObject(o.Object, func(o v1.Object) []v1.FieldError {
			c := o.DeepCopyObject()
			v1.Default(c)
			return v1.Validate(c)
		}, drop) {
			continue
		}
		k := v1.KindOf(o.Object) + "/" + o.Object.GetObjectMeta().Name
		if names[k] {
			drop("metadata.name", "another object of the input has this name")
			continue
		}
		names[k] = true
		kept = append(kept, o)
	}
	// Checks across the objects (dependency cycles), one object at a time.
	for i := range kept {
		drop := func(field, msg string) {
			o := kept[i]
			res.Findings = append(res.Findings, Finding{File: o.Source, Severity: Dropped,
				Msg: fmt.Sprintf("%s/%s: %s: not converted: %s", strings.ToLower(v1.KindOf(o.Object)), o.Object.GetObjectMeta().Name, field, msg)})
		}
		fitObject(kept[i].Object, func(v1.Object) []v1.FieldError {
			objs := make([]v1.Object, len(kept))
			for j, o := range kept {
				objs[j] = o.Object.DeepCopyObject()
				v1.Default(objs[j])
			}
			var out []v1.FieldError
			for _, e := range v1.ValidateSet(objs, nil) {
				if e.Index == i {
					out = append(out, e.FieldError)
				}
			}
			return out
		}, drop)
	}
	res.Objects = kept
}

var pathTokenRe = regexp.MustCompile(`^(?:\.?([^.\[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])`)

// fitObject removes from o each field check refuses, and reports it,
// until check finds nothing; false when the object cannot be kept.
func fitObject(o v1.Object, check func(v1.Object) []v1.FieldError, drop func(field, msg string)) bool {
	for range maxFitRounds {
		errs := check(o)
		if len(errs) == 0 {
			return true
		}
		e := errs[0]
		switch {
		case e.Field == "", strings.HasPrefix(e.Field, "metadata.name"), strings.HasPrefix(e.Field, "apiVersion"),
			e.Field == "spec.container.image", e.Field == "spec.version":
			drop(orWhole(e.Field), e.Msg+": the object is not converted")
			return false
		}
		drop(e.Field, e.Msg)
		if !removeField(o, e.Field) {
			drop(orWhole(e.Field), "it cannot be taken out: the object is not converted")
			return false
		}
	}
	drop("spec", "too many settings refused: the object is not converted")
	return false
}

func orWhole(field string) string {
	if field == "" {
		return "object"
	}
	return field
}

// removeField takes out of o the field at path: the list element the
// path goes through, else the field three levels down
// (spec.container.healthCheck for spec.container.healthCheck.exec.command).
func removeField(o v1.Object, path string) bool {
	b, err := json.Marshal(o)
	if err != nil {
		return false
	}
	var root any
	if err := json.Unmarshal(b, &root); err != nil {
		return false
	}
	type step struct {
		key    string
		index  int  // -1 for a map key
		quoted bool // a map key written ["..."]: an entry, cut there
	}
	var steps []step
	for rest := path; rest != ""; {
		m := pathTokenRe.FindStringSubmatch(rest)
		if m == nil {
			return false
		}
		rest = rest[len(m[0]):]
		switch {
		case m[1] != "":
			steps = append(steps, step{m[1], -1, false})
		case m[2] != "":
			n, _ := strconv.Atoi(m[2])
			steps = append(steps, step{"", n, false})
		default:
			k, err := strconv.Unquote(m[3])
			if err != nil {
				return false
			}
			steps = append(steps, step{k, -1, true})
		}
	}
	cut := min(len(steps), 3)
	for i, s := range steps {
		if s.index >= 0 || s.quoted {
			cut = i + 1
			break
		}
	}
	steps = steps[:cut]
	// Walk to the parent of the last step and remove it there.
	cur := root
	for _, s := range steps[:len(steps)-1] {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[s.key]
		case []any:
			if s.index < 0 || s.index >= len(c) {
				return false
			}
			cur = c[s.index]
		default:
			return false
		}
	}
	last := steps[len(steps)-1]
	switch c := cur.(type) {
	case map[string]any:
		if _, ok := c[last.key]; !ok {
			return false
		}
		delete(c, last.key)
	case []any:
		if last.index < 0 || last.index >= len(c) {
			return false
		}
		// Lists are reached through their parent map: rewrite it there.
		parent := root
		for _, s := range steps[:len(steps)-2] {
			switch p := parent.(type) {
			case map[string]any:
				parent = p[s.key]
			case []any:
				parent = p[s.index]
			}
		}
		pm, ok := parent.(map[string]any)
		if !ok || len(steps) < 2 {
			return false
		}
		pm[steps[len(steps)-2].key] = append(c[:last.index:last.index], c[last.index+1:]...)
	default:
		return false
	}
	b, err = json.Marshal(root)
	if err != nil {
		return false
	}
	fresh := v1.New(v1.KindOf(o))
	if fresh == nil || json.Unmarshal(b, fresh) != nil {
		return false
	}
	return resetTo(o, fresh)
}

// resetTo makes o equal to fresh (json.Unmarshal into o keeps fields the
// JSON no longer has).
func resetTo(o, fresh v1.Object) bool {
	switch d := o.(type) {
	case *v1.Unit:
		*d = *fresh.(*v1.Unit)
	case *v1.Job:
		*d = *fresh.(*v1.Job)
	case *v1.Service:
		*d = *fresh.(*v1.Service)
	default:
		return false
	}
	return true
}
