package goals

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// Verb is one of the changes of a Unit's goal.
type Verb string

// The verbs, as applyctl spells them.
const (
	Start   Verb = "start"
	Stop    Verb = "stop"
	Restart Verb = "restart"
)

// ParseVerb returns the Verb spelled s, or false.
func ParseVerb(s string) (Verb, bool) {
	switch v := Verb(s); v {
	case Start, Stop, Restart:
		return v, true
	}
	return "", false
}

// Change is one Unit a start, stop or restart changes.
type Change struct {
	Name string
	// Via is the Unit it was reached from ("" for a Unit named): for stop,
	// the Unit it requires; for start, the Unit that requires it.
	Via string
}

// MissingDep is a Unit that requires one that does not exist.
type MissingDep struct{ Unit, Missing string }

// NotFoundError is the error of a named object that does not exist.
type NotFoundError struct{ Kind, Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found", strings.ToLower(e.Kind), e.Name)
}

// StopSet returns the Units named and every Unit that requires one of them,
// transitively, in breadth-first order, each once. It does no I/O.
func StopSet(units map[string]*v1.Unit, names []string) []Change {
	requiredBy := map[string][]string{}
	for _, u := range units {
		for _, r := range u.Spec.Requires {
			requiredBy[r] = append(requiredBy[r], u.Metadata.Name)
		}
	}
	for _, l := range requiredBy {
		slices.Sort(l)
	}
	return walk(names, func(n string) []string { return requiredBy[n] })
}

// StartSet returns the Units named and every Unit they require,
// transitively, in breadth-first order, each once; and the requirements
// on Units that do not exist. Wants are not followed. Every name must be
// in units. It does no I/O.
func StartSet(units map[string]*v1.Unit, names []string) ([]Change, []MissingDep) {
	var missing []MissingDep
	changes := walk(names, func(n string) []string {
		u := units[n]
		var next []string
		for _, r := range u.Spec.Requires {
			if _, ok := units[r]; !ok {
				missing = append(missing, MissingDep{n, r})
				continue
			}
			next = append(next, r)
		}
		return next
	})
	return changes, missing
}

// walk visits names and then, breadth first, what next returns of each
// visited name, once each.
func walk(names []string, next func(string) []string) []Change {
	seen := map[string]bool{}
	var out []Change
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, Change{Name: n})
		}
	}
	for i := 0; i < len(out); i++ {
		for _, m := range next(out[i].Name) {
			if !seen[m] {
				seen[m] = true
				out = append(out, Change{Name: m, Via: out[i].Name})
			}
		}
	}
	return out
}

// UnitsResult is what SetUnits did.
type UnitsResult struct {
	Verb Verb
	// Changes are the Units changed, in the order of Results.
	Changes []Change
	// Missing are the requirements on Units that do not exist (start and
	// restart).
	Missing []MissingDep
	// Results are the store's, one per Change: Unchanged for a Unit that
	// already had the goal.
	Results []store.ApplyResult
	// RestartedAt is the annotation's time under restart.
	RestartedAt time.Time
}

// SetUnits runs start, stop or restart on the named Units, at now (the
// time of restart's annotation), in one transaction (see the package
// documentation). A named Unit that does not exist is a *NotFoundError.
func SetUnits(ctx context.Context, st *store.Store, verb Verb, names []string, now time.Time) (*UnitsResult, error) {
	res := &UnitsResult{Verb: verb, RestartedAt: now.UTC()}
	results, err := store.UpdateObjects(ctx, st, v1.KindUnit, func(objs []v1.Object) ([]v1.Object, error) {
		units := make(map[string]*v1.Unit, len(objs))
		for _, o := range objs {
			u := o.(*v1.Unit)
			units[u.Metadata.Name] = u
		}
		for _, n := range names {
			if _, ok := units[n]; !ok {
				return nil, &NotFoundError{v1.KindUnit, n}
			}
		}
		goal := v1.GoalStart
		if verb == Stop {
			res.Changes, res.Missing = StopSet(units, names), nil
			goal = v1.GoalStop
		} else {
			res.Changes, res.Missing = StartSet(units, names)
		}
		out := make([]v1.Object, len(res.Changes))
		for i, c := range res.Changes {
			u := units[c.Name]
			u.Spec.Goal = goal
			if verb == Restart && c.Via == "" {
				if u.Metadata.Annotations == nil {
					u.Metadata.Annotations = map[string]string{}
				}
				u.Metadata.Annotations[v1.AnnotationRestartedAt] = res.RestartedAt.Format(time.RFC3339Nano)
			}
			out[i] = u
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	res.Results = results
	return res, nil
}

// Lines are what applyctl prints of r: a line per Unit changed (Line).
func (r *UnitsResult) Lines() []string {
	out := make([]string, len(r.Results))
	for i, ar := range r.Results {
		out[i] = Line(r.Verb, r.Changes[i], ar.Action == store.Unchanged)
	}
	return out
}

// MissingLines say which Units wait for a Unit that does not exist.
func (r *UnitsResult) MissingLines() []string {
	out := make([]string, len(r.Missing))
	for i, m := range r.Missing {
		out[i] = fmt.Sprintf("unit/%s requires unit/%s, which does not exist: %s will wait for it", m.Unit, m.Missing, m.Unit)
	}
	return out
}

// Line is what start, stop and restart say about one Unit: "unit/todo
// stopped (requires db)", "unit/db already started (required by todo)",
// "unit/todo restarted".
func Line(verb Verb, c Change, unchanged bool) string {
	s := "unit/" + c.Name + " "
	if verb == Restart && c.Via == "" {
		return s + "restarted"
	}
	if unchanged {
		s += "already "
	}
	if verb == Stop {
		s += "stopped"
		if c.Via != "" {
			s += " (requires " + c.Via + ")"
		}
		return s
	}
	s += "started"
	if c.Via != "" {
		s += " (required by " + c.Via + ")"
	}
	return s
}
