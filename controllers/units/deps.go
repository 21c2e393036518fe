package units

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// depInfo is what is known of a Unit that another one depends on: whether
// it exists, its goal, and the status of its instances on every host.
type depInfo struct {
	Exists    bool
	Goal      v1.Goal
	Instances []v1.InstanceStatus
	// Down says why a required unit is down through what it requires in
	// turn ("" when it is not): see chainDown.
	Down string
}

// depVerdict says what a Unit's dependencies allow.
type depVerdict struct {
	// Wait is why the Unit may not start now ("" when it may).
	Wait string
	// Stop is why a running Unit must stop now: a unit it requires went
	// down ("" when none did).
	Stop string
}

func conditionOf(u *v1.Unit, dep string) v1.StartCondition {
	if c, ok := u.Spec.StartCondition[dep]; ok && c != "" {
		return c
	}
	return v1.StartConditionStarted
}

// starting reports whether a state is on the way up.
func starting(s v1.InstanceState) bool {
	switch s {
	case v1.StatePullingImage, v1.StateCreating, v1.StateStarting, v1.StateHealthchecking:
		return true
	}
	return false
}

// satisfied reports whether some instance of a dependency meets the condition.
func satisfied(cond v1.StartCondition, insts []v1.InstanceStatus) bool {
	for _, in := range insts {
		switch cond {
		case v1.StartConditionStarted:
			if in.State == v1.StateRunning || in.State == v1.StateHealthchecking {
				return true
			}
		case v1.StartConditionHealthy:
			if in.State == v1.StateRunning {
				if c := v1.FindCondition(in.Conditions, v1.ConditionReady); c != nil && c.Status == v1.ConditionTrue {
					return true
				}
			}
		case v1.StartConditionCompleted:
			if (in.State == v1.StateExited || in.State == v1.StateStopped) && in.LastExitCode != nil && *in.LastExitCode == 0 {
				return true
			}
		}
	}
	return false
}

// down says why a required unit counts as down for the units running on
// it ("" while it is up, or only restarting): systemd stops the units that
// require a unit when it is stopped, fails or goes away, not while it is
// restarted after a crash.
func down(cond v1.StartCondition, insts []v1.InstanceStatus) string {
	if len(insts) == 0 || satisfied(cond, insts) {
		return ""
	}
	for _, in := range insts {
		switch in.State {
		case v1.StateFailed:
		case v1.StateExited:
			if p := v1.FindCondition(in.Conditions, v1.ConditionProgressing); p != nil && p.Status == v1.ConditionTrue {
				return "" // restarting
			}
		default:
			return ""
		}
	}
	in := insts[0]
	if in.State == v1.StateFailed {
		return "failed: " + in.Message
	}
	return "exited"
}

func describeInstances(insts []v1.InstanceStatus) string {
	if len(insts) == 0 {
		return "no instance yet"
	}
	var parts []string
	for _, in := range insts {
		parts = append(parts, fmt.Sprintf("%s on %s", in.State, in.Host))
	}
	return strings.Join(parts, ", ")
}

// judgeDeps decides, from what is known of its dependencies, whether a
// Unit may start and whether it must stop.
//
//   - requires: start only once each required unit meets its start
//     condition (started, healthy, completed); stop, and wait, when one is
//     deleted, stopped, or failed or exited for good, or when one is down
//     through what it requires in turn (depInfo.Down), as systemd stops
//     the units that require a stopped unit and those that require them.
//   - wants and after: ordering only: wait while the unit is on its way up
//     (or, for completed, still running), never for one that is missing,
//     stopped or failed.
func judgeDeps(u *v1.Unit, info map[string]depInfo) depVerdict {
	var wait, stop []string
	required := map[string]bool{}
	for _, d := range u.Spec.Requires {
		required[d] = true
		di := info[d]
		cond := conditionOf(u, d)
		switch {
		case !di.Exists:
			wait = append(wait, fmt.Sprintf("waiting for unit %s, which does not exist", d))
			stop = append(stop, fmt.Sprintf("required unit %s does not exist", d))
		case di.Goal == v1.GoalStop:
			wait = append(wait, fmt.Sprintf("waiting for unit %s, which is stopped", d))
			stop = append(stop, fmt.Sprintf("required unit %s was stopped", d))
		case di.Down != "":
			wait = append(wait, fmt.Sprintf("waiting for unit %s, which %s", d, di.Down))
			stop = append(stop, fmt.Sprintf("required unit %s, which %s", d, di.Down))
		case !satisfied(cond, di.Instances):
			wait = append(wait, fmt.Sprintf("waiting for %s to be %s (%s)", d, cond, describeInstances(di.Instances)))
			if why := down(cond, di.Instances); why != "" {
				stop = append(stop, fmt.Sprintf("required unit %s %s", d, why))
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range append(append([]string{}, u.Spec.Wants...), u.Spec.After...) {
		if required[d] || seen[d] {
			continue
		}
		seen[d] = true
		di := info[d]
		if !di.Exists || di.Goal == v1.GoalStop {
			continue
		}
		cond := conditionOf(u, d)
		for _, in := range di.Instances {
			if starting(in.State) || (cond == v1.StartConditionCompleted && in.State == v1.StateRunning) {
				wait = append(wait, fmt.Sprintf("waiting for %s to finish starting (%s)", d, describeInstances(di.Instances)))
				break
			}
		}
	}
	return depVerdict{Wait: strings.Join(wait, "; "), Stop: strings.Join(stop, "; ")}
}

// requirementDown says why a required unit counts as down for the units
// that require it with cond: it does not exist, it was stopped, or it
// failed or exited for good ("" when none).
func requirementDown(cond v1.StartCondition, di depInfo) string {
	switch {
	case !di.Exists:
		return "does not exist"
	case di.Goal == v1.GoalStop:
		return "was stopped"
	case satisfied(cond, di.Instances):
		return ""
	}
	return down(cond, di.Instances)
}

// chainDown says why the unit called name is down through the units it
// requires, directly or through others ("" when it is not): one of them
// does not exist, was stopped, or failed or exited for good. systemd
// stops every unit that requires a stopped unit, transitively, in one
// transaction: a unit whose requirement is down through its own
// requirements goes down too, even before the host of that requirement
// has stopped it (that host may be down itself). look returns a Unit
// (nil when it does not exist) and what is known of it; seen holds the
// units already looked at, so that a cycle ends.
func chainDown(name string, look func(string) (*v1.Unit, depInfo), seen map[string]bool) string {
	u, _ := look(name)
	if u == nil {
		return ""
	}
	for _, r := range u.Spec.Requires {
		if seen[r] {
			continue
		}
		seen[r] = true
		_, ri := look(r)
		why := requirementDown(conditionOf(u, r), ri)
		if why == "" {
			why = chainDown(r, look, seen)
		}
		if why != "" {
			return fmt.Sprintf("requires %s, which %s", r, why)
		}
	}
	return ""
}

// depIndex maps every Unit to the Units it depends on, and back.
type depIndex struct {
	mu         sync.Mutex
	deps       map[string][]string        // unit -> what it requires, wants, or is after
	dependents map[string]map[string]bool // unit -> units that depend on it
}

func newDepIndex() *depIndex {
	return &depIndex{deps: map[string][]string{}, dependents: map[string]map[string]bool{}}
}

// set records the dependencies of a unit (nil when it is gone).
func (x *depIndex) set(name string, u *v1.Unit) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, d := range x.deps[name] {
		delete(x.dependents[d], name)
	}
	delete(x.deps, name)
	if u == nil {
		return
	}
	var ds []string
	ds = append(ds, u.Spec.Requires...)
	ds = append(ds, u.Spec.Wants...)
	ds = append(ds, u.Spec.After...)
	x.deps[name] = ds
	for _, d := range ds {
		if x.dependents[d] == nil {
			x.dependents[d] = map[string]bool{}
		}
		x.dependents[d][name] = true
	}
}

// related returns the units that depend on name, directly or through
// others (a stop goes down chains of requires), and those name depends
// on: what to look at again when name changes.
func (x *depIndex) related(name string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for d := range x.dependents[cur] {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
				queue = append(queue, d)
			}
		}
	}
	out = append(out, x.deps[name]...)
	sort.Strings(out)
	return out
}

// hasAny reports whether name depends on a unit or a unit depends on it.
func (x *depIndex) hasAny(name string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.deps[name]) > 0 || len(x.dependents[name]) > 0
}

func (x *depIndex) dependentsOf(name string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for d := range x.dependents[name] {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// depInfos gathers what is known of the units u depends on, and of the
// units those it requires require in turn (depInfo.Down).
func (c *Controller) depInfos(u *v1.Unit) map[string]depInfo {
	out := map[string]depInfo{}
	for _, list := range [][]string{u.Spec.Requires, u.Spec.Wants, u.Spec.After} {
		for _, d := range list {
			if _, done := out[d]; done {
				continue
			}
			out[d] = c.depInfo(d)
		}
	}
	look := func(name string) (*v1.Unit, depInfo) {
		d, err := c.caches.unit(name)
		if err != nil {
			return nil, depInfo{}
		}
		return d, c.depInfo(name)
	}
	for _, d := range u.Spec.Requires {
		di := out[d]
		di.Down = chainDown(d, look, map[string]bool{u.Metadata.Name: true, d: true})
		out[d] = di
	}
	return out
}

func (c *Controller) depInfo(name string) depInfo {
	var di depInfo
	if d, err := c.caches.unit(name); err == nil && d != nil {
		di.Exists, di.Goal = true, d.Spec.Goal
	}
	for _, e := range c.caches.everyStatus.cache.List() {
		// The host is the key's; a value naming another host (held with
		// its error, so not listed), or a key under a name no host has, is
		// no instance of the dependency.
		if store.IsStatusOf(e.Key, v1.KindUnit, name) && c.caches.isHost(e.Value.Host) {
			di.Instances = append(di.Instances, e.Value)
		}
	}
	return di
}

// dependentsUp lists the units that depend on name, go down with it, and
// still have an instance up: a stop of name waits for them.
func (c *Controller) dependentsUp(name string) []string {
	var out []string
	for _, d := range c.deps.dependentsOf(name) {
		du, err := c.caches.unit(d)
		if err != nil || du == nil {
			continue
		}
		requires := false
		for _, r := range du.Spec.Requires {
			requires = requires || r == name
		}
		if !requires && du.Spec.Goal != v1.GoalStop {
			continue // it does not go down with name
		}
		for _, in := range c.depInfo(d).Instances {
			if in.State == v1.StateRunning || starting(in.State) || in.State == v1.StateStopping {
				out = append(out, d)
				break
			}
		}
	}
	return out
}
