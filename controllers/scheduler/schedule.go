package scheduler

import (
	"cmp"
	"slices"

	v1 "berth.dev/berth/api/v1"
)

// HostInfo is what Schedule needs to know of a host: its name, its labels
// (matched by placement.hostSelector) and whether its controller is alive.
type HostInfo struct {
	Name   string
	Labels map[string]string
	Up     bool
	// Lost: Down for longer than Options.RescheduleAfter; its instances
	// move to other hosts.
	Lost bool
}

// Schedule returns the hosts that should run u, sorted by name, given every
// known host, the binding u has now (nil when none) and the load of each host:
// how many instances of other units are bound or pinned to it. It does no
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
//   - When fewer are bound than wanted, the Up candidates with the smallest
//     load are added, ties broken by name.
//
// With no candidate the result is empty (not nil). For a Unit whose
// placement does not need the scheduler (global, or pinned to hosts) it
// returns nil: such a Unit has no binding.
func Schedule(u *v1.Unit, hosts []HostInfo, current *v1.Binding, load map[string]int) []string {
	p := &u.Spec.Placement
	if !p.NeedsScheduler() {
		return nil
	}
	want := max(p.Replicas, 1)

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
			return cmp.Or(cmp.Compare(load[a.Name], load[b.Name]), cmp.Compare(a.Name, b.Name))
		})
		kept = kept[:want]
	}

	if len(kept) < want {
		var free []HostInfo
		for name, h := range candidates {
			if h.Up && !chosen[name] {
				free = append(free, h)
			}
		}
		slices.SortFunc(free, func(a, b HostInfo) int {
			return cmp.Or(cmp.Compare(load[a.Name], load[b.Name]), cmp.Compare(a.Name, b.Name))
		})
		kept = append(kept, free[:min(want-len(kept), len(free))]...)
	}

	out := make([]string, 0, len(kept))
	for _, h := range kept {
		out = append(out, h.Name)
	}
	slices.Sort(out)
	return out
}
