package unitready

import (
	"slices"

	v1 "berth.dev/berth/api/v1"
)

// Readiness is how far a Unit is from Ready at its current generation.
type Readiness struct {
	Generation int64
	// Expected is the number of instances the Unit should have: the hosts
	// it names, the Up hosts that match its selector when global, else its
	// replicas.
	Expected int
	// ReadyCount counts the instances at the current generation whose Ready
	// condition is True.
	ReadyCount int
	// Instances are the instances that count, by host: for a Unit pinned to
	// hosts, those on its hosts; for a global Unit, those on Up hosts that
	// match its selector; else all.
	Instances []v1.InstanceStatus
	// Failed is the first instance at the current generation that FAILED.
	Failed *v1.InstanceStatus
}

// Ready reports whether the Unit is Ready: nothing failed and at least the
// expected number of instances are Ready at the current generation. (At
// least: an instance a scheduler moves away may still report Ready for a
// moment on its old host.)
func (r Readiness) Ready() bool { return r.Failed == nil && r.ReadyCount >= r.Expected }

// Of computes the readiness of u from the statuses of its instances and
// the host records (with their Up/Down state). It does no I/O; applyctl's
// apply --wait and wait and the GitSource loop's spec.wait share it.
func Of(u *v1.Unit, insts []v1.InstanceStatus, hosts []*v1.Host) Readiness {
	p := u.Spec.Placement
	r := Readiness{Generation: u.Metadata.Generation}
	var eligible func(host string) bool
	switch {
	case p.Global:
		up := map[string]bool{}
		for _, h := range hosts {
			if h.Status.State == v1.HostUp && v1.MatchesSelector(h.Metadata.Labels, p.HostSelector) {
				up[h.Metadata.Name] = true
			}
		}
		r.Expected = len(up)
		eligible = func(host string) bool { return up[host] }
	case !p.NeedsScheduler():
		r.Expected = len(p.Hosts)
		eligible = func(host string) bool { return slices.Contains(p.Hosts, host) }
	default:
		r.Expected = max(p.Replicas, 1)
		eligible = func(string) bool { return true }
	}
	for _, in := range insts {
		if !eligible(in.Host) {
			continue
		}
		r.Instances = append(r.Instances, in)
		if in.ObservedGeneration != r.Generation {
			continue
		}
		if in.State == v1.StateFailed && r.Failed == nil {
			f := in
			r.Failed = &f
		}
		if c := v1.FindCondition(in.Conditions, v1.ConditionReady); c != nil && c.Status == v1.ConditionTrue {
			r.ReadyCount++
		}
	}
	return r
}
