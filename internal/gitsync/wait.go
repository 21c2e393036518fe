package gitsync

import (
	"context"
	"fmt"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/unitready"
)

// Health is how far the Units a sync applied are from Ready, for a
// GitSource with spec.wait.
type Health struct {
	// NotReady has one line per Unit not Ready at its generation:
	// "unit/web: 0/1 ready at generation 2 (host-a: PULLING_IMAGE)".
	NotReady []string
	// Failed: an instance at the current generation FAILED.
	Failed bool
}

// Ready reports whether every Unit is Ready.
func (h *Health) Ready() bool { return h == nil || len(h.NotReady) == 0 }

// UnitsHealth is the Health of units from their instance statuses (by Unit
// name) and the host records, by the rules of unitready.Of. It does no I/O.
func UnitsHealth(units []*v1.Unit, statuses map[string][]v1.InstanceStatus, hosts []*v1.Host) *Health {
	h := &Health{}
	for _, u := range units {
		r := unitready.Of(u, statuses[u.Metadata.Name], hosts)
		if r.Ready() {
			continue
		}
		var parts []string
		for _, in := range r.Instances {
			s := in.Host + ": " + string(in.State)
			if in.ObservedGeneration != r.Generation {
				s += fmt.Sprintf(" at generation %d", in.ObservedGeneration)
			} else if in.Message != "" && in.State == v1.StateFailed {
				s += " " + in.Message
			}
			parts = append(parts, s)
		}
		if len(parts) == 0 {
			parts = []string{"no instance yet"}
		}
		h.Failed = h.Failed || r.Failed != nil
		h.NotReady = append(h.NotReady, fmt.Sprintf("unit/%s: %d/%d ready at generation %d (%s)",
			u.Metadata.Name, r.ReadyCount, r.Expected, r.Generation, strings.Join(parts, ", ")))
	}
	return h
}

// health reads the statuses of the Units an apply wrote, and the hosts,
// and returns their Health.
func health(ctx context.Context, st *store.Store, applied []store.ApplyResult) (*Health, error) {
	var units []*v1.Unit
	for _, a := range applied {
		if u, ok := a.Object.(*v1.Unit); ok {
			units = append(units, u)
		}
	}
	if len(units) == 0 {
		return &Health{}, nil
	}
	statuses, err := store.ListStatuses(ctx, st, v1.KindUnit)
	if err != nil {
		return nil, fmt.Errorf("wait: unit statuses: %w", err)
	}
	hosts, err := store.ListHosts(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("wait: hosts: %w", err)
	}
	return UnitsHealth(units, statuses, hosts), nil
}
