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
	p := &u.Spec.Placement
	if !p.NeedsScheduler() {
		return Decision{}
	}
	want := max(p.Replicas, 1)
	req := RequestOf(&u.Spec.Container)

	candidates := make(map[string]HostInfo, len(hosts))
	for _, h := range hosts {
		if p.Candidate(h.Name, h.Labels) {
			candidates[h.Name] = h
		}
	}

	var kept []HostInfo
	chosen := map[string]bool{}
	if current != nil {
		for _, name := range current.Hosts {
			if h, ok := candidates[name]; ok && !chosen[name] && !h.Lost {
				chosen[name] = true
				kept = append(kept, h)
			}
		}
	}
	if len(kept) > want {
		// Best first: Up, least loaded, by name; the tail is dropped.
		slices.SortFunc(kept, func(a, b HostInfo) int {
			if a.Up != b.Up {
				if a.Up {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(load[a.Name].Instances, load[b.Name].Instances), cmp.Compare(a.Name, b.Name))
		})
		kept = kept[:want]
		clear(chosen)
		for _, h := range kept {
			chosen[h.Name] = true
		}
	}

	var d Decision
	var free []HostInfo
	selector := v1.FormatLabels(p.HostSelector)
	for _, h := range hosts {
		if chosen[h.Name] {
			continue
		}
		if rej, ok := reject(p, selector, h, candidates); !ok {
			d.Rejected = append(d.Rejected, rej)
		} else if rej, ok := Fit(h, load[h.Name], req); !ok {
			d.Rejected = append(d.Rejected, rej)
		} else {
			free = append(free, h)
		}
	}
	if len(kept) < want {
		slices.SortFunc(free, func(a, b HostInfo) int {
			return cmp.Or(cmp.Compare(load[a.Name].Instances, load[b.Name].Instances), cmp.Compare(a.Name, b.Name))
		})
		kept = append(kept, free[:min(want-len(kept), len(free))]...)
	}
	d.Pending = want - len(kept)
	byHost := func(a, b Rejection) int { return cmp.Compare(a.Host, b.Host) }
	if !slices.IsSortedFunc(d.Rejected, byHost) { // the hosts come sorted from the caches
		slices.SortFunc(d.Rejected, byHost)
	}

	d.Hosts = make([]string, 0, len(kept))
	for _, h := range kept {
		d.Hosts = append(d.Hosts, h.Name)
	}
	slices.Sort(d.Hosts)
	return d
}

// reject says why h cannot take a new instance whatever it runs: it is
// no candidate, or not Up. ok is true when it could.
func reject(p *v1.Placement, selector string, h HostInfo, candidates map[string]HostInfo) (Rejection, bool) {
	_, candidate := candidates[h.Name]
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
