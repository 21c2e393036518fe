package applyset

import (
	"fmt"
	"sort"
	"strings"

	v1 "berth.dev/berth/api/v1"
)

// plan decides, without I/O, what applying in as set name does given the
// live objects of every appliable kind: the objects to apply (copies of in,
// labelled with the set) and the live objects to prune (in the order of
// v1.AppliableKinds, then by name). It returns an error wrapping ErrOtherSet
// when an object of in is labelled, live or in the input, with another set.
func plan(name string, in []v1.Object, live []v1.Object, prune bool) (apply, pruned []v1.Object, err error) {
	inputs := make(map[string]bool, len(in))
	var conflicts []string
	for _, o := range in {
		c := o.DeepCopyObject()
		m := c.GetObjectMeta()
		r := ref(v1.KindOf(c), m.Name)
		inputs[r] = true
		if set := m.Labels[LabelPartOf]; set != "" && set != name {
			conflicts = append(conflicts, fmt.Sprintf("%s is labelled %s=%s in its manifest", r, LabelPartOf, set))
			continue
		}
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[LabelPartOf] = name
		apply = append(apply, c)
	}
	sorted := append([]v1.Object(nil), live...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ki, kj := kindOrder(v1.KindOf(sorted[i])), kindOrder(v1.KindOf(sorted[j]))
		if ki != kj {
			return ki < kj
		}
		return sorted[i].GetObjectMeta().Name < sorted[j].GetObjectMeta().Name
	})
	for _, o := range sorted {
		m := o.GetObjectMeta()
		r := ref(v1.KindOf(o), m.Name)
		set := m.Labels[LabelPartOf]
		switch {
		case inputs[r] && set != "" && set != name:
			conflicts = append(conflicts, fmt.Sprintf("%s belongs to apply set %q", r, set))
		case prune && !inputs[r] && set == name:
			pruned = append(pruned, o)
		}
	}
	if len(conflicts) > 0 {
		return nil, nil, &setError{ErrOtherSet, strings.Join(conflicts, "; ") + "; nothing was written"}
	}
	return apply, pruned, nil
}

// members returns the sorted kind/name of objs, as a Record lists them.
func members(objs []v1.Object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, ref(v1.KindOf(o), o.GetObjectMeta().Name))
	}
	sort.Strings(out)
	return out
}

func kindOrder(kind string) int {
	for i, k := range v1.AppliableKinds {
		if k == kind {
			return i
		}
	}
	return len(v1.AppliableKinds)
}

// ref names an object as users write it: unit/todo.
func ref(kind, name string) string { return strings.ToLower(kind) + "/" + name }
