package cli

import (
	"fmt"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/unitready"
)

// readiness is how far a Unit is from Ready (unitready.Readiness), with the
// lines applyctl prints about it.
type readiness struct{ unitready.Readiness }

// unitReadiness is unitready.Of.
func unitReadiness(u *v1.Unit, insts []v1.InstanceStatus, hosts []*v1.Host) readiness {
	return readiness{unitready.Of(u, insts, hosts)}
}

// progress is one line saying how far a Unit is:
// "waiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)", with the
// message of an instance that is not progressing: "(host-a: CREATING:
// volumes[0].hostPath ...: permission denied; ...)".
func (r readiness) progress(name string) string {
	parts := make([]string, 0, len(r.Instances))
	for _, in := range r.Instances {
		s := in.Host + ": " + string(in.State)
		if in.ObservedGeneration != r.Generation {
			s += fmt.Sprintf(" at generation %d", in.ObservedGeneration)
		}
		if why := stuck(in); why != "" {
			s += ": " + why
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		parts = []string{"no instance yet"}
	}
	return fmt.Sprintf("waiting for %s: %d/%d ready (%s)", ref(v1.KindUnit, name), r.ReadyCount, r.Expected, strings.Join(parts, ", "))
}

// stuck reports whether an instance of the Unit is not progressing (see
// stuck).
func (r readiness) stuck() bool {
	for _, in := range r.Instances {
		if stuck(in) != "" {
			return true
		}
	}
	return false
}

// report says, one line per instance, why a Unit is not Ready.
func (r readiness) report(name string) []string {
	lines := []string{fmt.Sprintf("%s: %d/%d ready at generation %d", ref(v1.KindUnit, name), r.ReadyCount, r.Expected, r.Generation)}
	if len(r.Instances) == 0 {
		return append(lines, "  no instance yet")
	}
	for _, in := range r.Instances {
		lines = append(lines, "  "+instanceLine(in, r.Generation))
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

// stuck returns the message of an instance that is neither Ready nor
// getting there by itself, its Progressing condition False (refused by its
// host, an error being retried, a volume its host cannot make, exited for
// good, unhealthy), or "" for one that is Ready or progressing: what a
// user waiting for it wants to see at once, not only when the wait ends.
func stuck(in v1.InstanceStatus) string {
	if ready := v1.FindCondition(in.Conditions, v1.ConditionReady); ready != nil && ready.Status == v1.ConditionTrue {
		return ""
	}
	if p := v1.FindCondition(in.Conditions, v1.ConditionProgressing); p == nil || p.Status != v1.ConditionFalse {
		return ""
	}
	return in.Message
}
