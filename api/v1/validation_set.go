package v1

import (
	"fmt"
	"sort"
	"strings"
)

// SetError is a problem found by ValidateSet in the object at Index of the
// objects applied.
type SetError struct {
	Index int
	FieldError
}

// ValidateSet checks the objects of one apply together and against the
// objects already stored: the same object twice, dependency cycles across
// stored and applied Units, and Jobs whose container template changed
// without a new version. It expects defaulted objects that passed Validate.
func ValidateSet(applied []Object, stored []Object) []SetError {
	var out []SetError
	seen := map[string]int{}
	for i, o := range applied {
		k := KindOf(o) + "/" + o.GetObjectMeta().Name
		if j, dup := seen[k]; dup {
			out = append(out, SetError{i, FieldError{"metadata.name", fmt.Sprintf("%s %q appears twice in this apply (also document %d)", KindOf(o), o.GetObjectMeta().Name, j+1)}})
			continue
		}
		seen[k] = i
	}
	storedBy := map[string]Object{}
	for _, o := range stored {
		storedBy[KindOf(o)+"/"+o.GetObjectMeta().Name] = o
	}
	for i, o := range applied {
		j, ok := o.(*Job)
		if !ok {
			continue
		}
		old, ok := storedBy[KindJob+"/"+j.Metadata.Name].(*Job)
		if !ok || old.Spec.Version != j.Spec.Version {
			continue
		}
		if TemplateHash(&old.Spec.Container) != TemplateHash(&j.Spec.Container) {
			out = append(out, SetError{i, FieldError{"spec.container", fmt.Sprintf(
				"the container template of job %s version %s cannot change (stored %s, applied %s): raise spec.version to deploy a new template",
				j.Metadata.Name, j.Spec.Version, old.ID(), j.ID())}})
		}
	}
	out = append(out, cycles(applied, stored)...)
	return out
}

// unitDeps returns the names a unit is ordered after, with the field of each.
func unitDeps(u *Unit) (names []string, fields []string) {
	for _, l := range []struct {
		f string
		n []string
	}{{"spec.requires", u.Spec.Requires}, {"spec.wants", u.Spec.Wants}, {"spec.after", u.Spec.After}} {
		for i, n := range l.n {
			names = append(names, n)
			fields = append(fields, idx(l.f, i))
		}
	}
	return names, fields
}

// cycles finds dependency cycles through at least one applied Unit.
func cycles(applied, stored []Object) []SetError {
	units := map[string]*Unit{}
	for _, o := range stored {
		if u, ok := o.(*Unit); ok {
			units[u.Metadata.Name] = u
		}
	}
	appliedAt := map[string]int{}
	for i, o := range applied {
		if u, ok := o.(*Unit); ok {
			units[u.Metadata.Name] = u
			if _, dup := appliedAt[u.Metadata.Name]; !dup {
				appliedAt[u.Metadata.Name] = i
			}
		}
	}
	names := sortedKeys(units)
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var out []SetError
	reported := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		deps, _ := unitDeps(units[n])
		for _, d := range deps {
			if _, exists := units[d]; !exists || d == n {
				continue // a unit that does not exist yet is shown as WAITING; a self-dependency is Validate's
			}
			switch color[d] {
			case white:
				visit(d)
			case grey:
				start := len(stack) - 1
				for stack[start] != d {
					start--
				}
				cyc := append(append([]string{}, stack[start:]...), d)
				reportCycle(cyc, units, appliedAt, reported, &out)
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range names {
		if color[n] == white {
			visit(n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func reportCycle(cyc []string, units map[string]*Unit, appliedAt map[string]int, reported map[string]bool, out *[]SetError) {
	// Rotate so the cycle starts at its smallest name: one cycle, one report.
	body := cyc[:len(cyc)-1]
	min := 0
	for i := range body {
		if body[i] < body[min] {
			min = i
		}
	}
	rot := append(append([]string{}, body[min:]...), body[:min]...)
	rot = append(rot, rot[0])
	k := strings.Join(rot, " -> ")
	if reported[k] {
		return
	}
	reported[k] = true
	for i := 0; i < len(rot)-1; i++ {
		at, ok := appliedAt[rot[i]]
		if !ok {
			continue
		}
		deps, fields := unitDeps(units[rot[i]])
		field := "spec"
		for j, d := range deps {
			if d == rot[i+1] {
				field = fields[j]
				break
			}
		}
		*out = append(*out, SetError{at, FieldError{field, "dependency cycle: " + k}})
		return
	}
}
