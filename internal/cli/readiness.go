package cli

import (
	"fmt"
	"slices"
	"strings"

	v1 "berth.dev/berth/api/v1"
)

// readiness is how far a Unit is from Ready at its current generation.
type readiness struct {
	generation int64
	// expected is the number of instances the Unit should have: the hosts
	// it names, the Up hosts that match its selector when global, else its
	// replicas.
	expected int
	// ready counts the instances at the current generation whose Ready
	// condition is True.
	ready int
	// instances are the instances that count, by host: for a Unit pinned to
	// hosts, those on its hosts; for a global Unit, those on Up hosts that
	// match its selector; else all.
	instances []v1.InstanceStatus
	// failed is the first instance at the current generation that FAILED.
	failed *v1.InstanceStatus
}

// Ready reports whether the Unit is Ready: nothing failed and at least the
// expected number of instances are Ready at the current generation. (At
// least: an instance a scheduler moves away may still report Ready for a
// moment on its old host.)
func (r readiness) Ready() bool { return r.failed == nil && r.ready >= r.expected }

// unitReadiness computes the readiness of u from the statuses of its
// instances and the host records (with their Up/Down state). It does no
// I/O; apply --wait and wait share it.
func unitReadiness(u *v1.Unit, insts []v1.InstanceStatus, hosts []*v1.Host) readiness {
	p := u.Spec.Placement
	r := readiness{generation: u.Metadata.Generation}
	var eligible func(host string) bool
	switch {
	case p.Global:
		up := map[string]bool{}
		for _, h := range hosts {
			if h.Status.State == v1.HostUp && v1.MatchesSelector(h.Metadata.Labels, p.HostSelector) {
				up[h.Metadata.Name] = true
			}
		}
		r.expected = len(up)
		eligible = func(host string) bool { return up[host] }
	case !p.NeedsScheduler():
		r.expected = len(p.Hosts)
		eligible = func(host string) bool { return slices.Contains(p.Hosts, host) }
	default:
		r.expected = max(p.Replicas, 1)
		eligible = func(string) bool { return true }
	}
	for _, in := range insts {
		if !eligible(in.Host) {
			continue
		}
		r.instances = append(r.instances, in)
		if in.ObservedGeneration != r.generation {
			continue
		}
		if in.State == v1.StateFailed && r.failed == nil {
			f := in
			r.failed = &f
		}
		if c := v1.FindCondition(in.Conditions, v1.ConditionReady); c != nil && c.Status == v1.ConditionTrue {
			r.ready++
		}
	}
	return r
}

// progress is one line saying how far a Unit is:
// "waiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)".
func (r readiness) progress(name string) string {
	parts := make([]string, 0, len(r.instances))
	for _, in := range r.instances {
		s := in.Host + ": " + string(in.State)
		if in.ObservedGeneration != r.generation {
			s += fmt.Sprintf(" at generation %d", in.ObservedGeneration)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		parts = []string{"no instance yet"}
	}
	return fmt.Sprintf("waiting for %s: %d/%d ready (%s)", ref(v1.KindUnit, name), r.ready, r.expected, strings.Join(parts, ", "))
}

// report says, one line per instance, why a Unit is not Ready.
func (r readiness) report(name string) []string {
	lines := []string{fmt.Sprintf("%s: %d/%d ready at generation %d", ref(v1.KindUnit, name), r.ready, r.expected, r.generation)}
	if len(r.instances) == 0 {
		return append(lines, "  no instance yet")
	}
	for _, in := range r.instances {
		lines = append(lines, "  "+instanceLine(in, r.generation))
	}
	return lines
}

// instanceLine describes an instance: "host-a: RUNNING, observed generation
// 1: message"; the message is the Ready condition's when the instance has
// none.
func instanceLine(in v1.InstanceStatus, generation int64) string {
	s := in.Host + ": " + dash(string(in.State))
	if in.ObservedGeneration != generation {
		s += fmt.Sprintf(", observed generation %d", in.ObservedGeneration)
	}
	msg := in.Message
	if c := v1.FindCondition(in.Conditions, v1.ConditionReady); msg == "" && c != nil && c.Status != v1.ConditionTrue {
		msg = strings.TrimSpace(c.Reason + " " + c.Message)
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}
