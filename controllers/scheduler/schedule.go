package scheduler

import (
	"cmp"
	"slices"

	v1 "berth.dev/berth/api/v1"
)

// HostInfo is what Schedule needs to know of a host: its name, its labels
// (matched by placement.hostSelector), whether its controller is alive,
// and its capacity.
type HostInfo struct {
	Name   string
	Labels map[string]string
	Up     bool
	// Lost: Down for longer than Options.RescheduleAfter; its instances
	// move to other hosts.
	Lost bool
	// MilliCPUs and Memory (bytes) are what the host has, as its
	// controller reports them (0: not reported, not limited);
	// ReservedMilliCPUs and ReservedMemory what its --reserved-cpus and
	// --reserved-memory keep for the system.
	MilliCPUs, Memory                 int64
	ReservedMilliCPUs, ReservedMemory int64
}

// Decision is what Schedule decided for a Unit.
type Decision struct {
	// Hosts run the Unit, sorted by name; nil when its placement does not
	// need the scheduler (it has no binding).
	Hosts []string
	// Pending is how many replicas no host could take.
	Pending int
	// Rejected says, for every known host that could not take a new
	// instance of the Unit, why: not a candidate, Down, or short of CPU,
	// memory or a host port. Hosts that run one, or could but were not
	// needed, are not listed. Sorted by host name.
	Rejected []Rejection
}

// Schedule decides the hosts that should run u, given every known host,
// the binding u has now (nil when none) and what the instances of every
// other Unit and Job take of each host (load, by host name). It does no
// I/O and does not change its arguments.
//
// The rules, in order:
//
//   - u runs Replicas instances (at least 1), at most one per host, on
//     hosts that are candidates (v1.Placement.Candidate).
//   - Hosts of current that are still candidates stay, Up or Down: an
//     instance is never moved to balance load, nor away from a host that
//     is Down for a while; a host Down for longer than RescheduleAfter
//     (Lost) loses its instances to other hosts.
//   - When more are bound than wanted, Down hosts are dropped first, then
//     the most loaded, then the last by name.
//   - When fewer are bound than wanted, new instances go to Up candidates
//     where one more fits (see below), those with the fewest instances
//     first, ties broken by name.
//   - An instance fits on a host when the CPUs and memory its resources
//     ask, added to what the instances already there ask, stay within
//     the host's CPUs and memory less what its controller reserves, and
//     no instance there holds a host port it publishes. A host that
//     reports no CPUs (or no memory) is not limited in it.
//   - Replicas that no host can take are Pending, and every host that
//     could not take one says why in Rejected.
//
// With no host that can take one the result has no host (not nil). For a
// Unit whose placement does not need the scheduler (global, or pinned to
// hosts) Hosts is nil: such a Unit has no binding.
func Schedule(u *v1.Unit, hosts []HostInfo, current *v1.Binding, load map[string]Usage) Decision {
	return schedule(u, hosts, current, func(host string) Usage { return load[host] })
}

// schedule is Schedule with the load of each host given by a function, so
// that the scheduler's loop need not copy the load of every host for each
// decision (Load.without).
func schedule(u *v1.Unit, hosts []HostInfo, current *v1.Binding, load func(host string) Usage) Decision {
	p := &u.Spec.Placement
	if !p.NeedsScheduler() {
		return Decision{}
	}
	want := max(p.Replicas, 1)
	req := RequestOf(&u.Spec.Container)

	// A host is looked at once: whether it is a candidate, what it has
	// taken, and whether it is bound now.
	var bound map[string]bool
	if current != nil {
		bound = make(map[string]bool, len(current.Hosts))
		for _, name := range current.Hosts {
			bound[name] = true
		}
	}
	var kept []ranked
	var d Decision
	selector := ""
	// take says why h cannot take a new instance, or that it can.
	take := func(h HostInfo, candidate bool) (Rejection, bool) {
		if !candidate && selector == "" {
			selector = v1.FormatLabels(p.HostSelector)
		}
		if rej, ok := reject(p, selector, h, candidate); !ok {
			return rej, false
		}
		return Fit(h, load(h.Name), req)
	}
	isCandidate := candidates(p)
	// free holds the best hosts that can take one, at most as many as
	// are wanted: only they can be chosen.
	free := make([]ranked, 0, want)
	for _, h := range hosts {
		candidate := isCandidate(h.Name, h.Labels)
		if candidate && !h.Lost && bound[h.Name] {
			delete(bound, h.Name) // once, should hosts name it twice
			kept = append(kept, ranked{host: h, instances: load(h.Name).Instances})
			continue
		}
		if rej, ok := take(h, candidate); !ok {
			d.Rejected = append(d.Rejected, rej)
		} else {
			free = keepBest(free, want, ranked{host: h, instances: load(h.Name).Instances})
		}
	}
	if len(kept) > want {
		// Best first: Up, least loaded, by name; the tail is dropped, and
		// says why it could not take one, as the other hosts do.
		slices.SortFunc(kept, func(a, b ranked) int {
			if a.host.Up != b.host.Up {
				if a.host.Up {
					return -1
				}
				return 1
			}
			return a.compare(b)
		})
		for _, h := range kept[want:] {
			if rej, ok := take(h.host, true); !ok {
				d.Rejected = append(d.Rejected, rej)
			}
		}
		kept = kept[:want]
	}
	if len(kept) < want {
		kept = append(kept, free[:min(want-len(kept), len(free))]...)
	}
	d.Pending = want - len(kept)
	byHost := func(a, b Rejection) int { return cmp.Compare(a.Host, b.Host) }
	if !slices.IsSortedFunc(d.Rejected, byHost) { // the hosts come sorted from the caches
		slices.SortFunc(d.Rejected, byHost)
	}

	d.Hosts = make([]string, 0, len(kept))
	for _, h := range kept {
		d.Hosts = append(d.Hosts, h.host.Name)
	}
	slices.Sort(d.Hosts)
	return d
}

// ranked is a host with the number of instances it has taken, by which
// Schedule ranks hosts.
type ranked struct {
	host      HostInfo
	instances int
}

// compare ranks the least loaded first, then by name.
func (a ranked) compare(b ranked) int {
	return cmp.Or(cmp.Compare(a.instances, b.instances), cmp.Compare(a.host.Name, b.host.Name))
}

// keepBest adds h to best, which holds at most n hosts ranked first and
// stays in that order: what sorting every host and keeping the first n
// gives, without sorting the hosts that rank after them.
func keepBest(best []ranked, n int, h ranked) []ranked {
	if len(best) == n && (n == 0 || h.compare(best[n-1]) >= 0) {
		return best
	}
	i, _ := slices.BinarySearchFunc(best, h, ranked.compare)
	if len(best) == n {
		best = best[:n-1]
	}
	return slices.Insert(best, i, h)
}

// candidates returns p.Candidate with the hostSelector read once, for
// asking it of every host.
func candidates(p *v1.Placement) func(host string, labels map[string]string) bool {
	type label struct{ k, v string }
	sel := make([]label, 0, len(p.HostSelector))
	for k, v := range p.HostSelector {
		sel = append(sel, label{k, v})
	}
	return func(host string, labels map[string]string) bool {
		if len(p.Hosts) > 0 && !slices.Contains(p.Hosts, host) {
			return false
		}
		for _, l := range sel {
			if got, ok := labels[l.k]; !ok || got != l.v {
				return false
			}
		}
		return true
	}
}

// reject says why h cannot take a new instance whatever it runs: it is
// no candidate, or not Up. ok is true when it could.
func reject(p *v1.Placement, selector string, h HostInfo, candidate bool) (Rejection, bool) {
	switch {
	case !candidate && len(p.Hosts) > 0 && !slices.Contains(p.Hosts, h.Name):
		return Rejection{Host: h.Name, Reason: ReasonNotListed}, false
	case !candidate:
		return Rejection{Host: h.Name, Reason: ReasonLabelMismatch, Selector: selector}, false
	case h.Lost:
		return Rejection{Host: h.Name, Reason: ReasonHostLost}, false
	case !h.Up:
		return Rejection{Host: h.Name, Reason: ReasonHostDown}, false
	}
	return Rejection{}, true
}
