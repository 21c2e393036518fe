package registrator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// ErrUnknownCheck is returned for a check id this host does not have.
var ErrUnknownCheck = errors.New("unknown check")

// NodeName implements catalog.Agent.
func (r *Registrator) NodeName() string { return r.o.Host }

// Datacenter implements catalog.Agent.
func (r *Registrator) Datacenter() string { return r.o.Datacenter }

// Register implements catalog.Agent.
func (r *Registrator) Register(ctx context.Context, e catalog.Endpoint) error {
	if e.Service == "" {
		return errors.New("a service needs a name")
	}
	if e.ID == "" {
		e.ID = e.Service
	}
	if strings.ContainsAny(e.ID, "/") {
		return fmt.Errorf("service id %q may not contain '/'", e.ID)
	}
	e.Source, e.Host = catalog.SourceAgent, r.o.Host
	if err := r.checkScripts(ctx, e.Container, e.Checks...); err != nil {
		return err
	}
	if e.Weights.Passing == 0 {
		e.Weights.Passing = 1
	}
	if e.Weights.Warning == 0 {
		e.Weights.Warning = 1
	}
	r.mu.Lock()
	r.agent[e.ID] = e
	r.saved.save(r.agent)
	r.mu.Unlock()
	return r.syncNow(ctx)
}

// Deregister implements catalog.Agent.
func (r *Registrator) Deregister(ctx context.Context, id string) error {
	r.mu.Lock()
	_, ok := r.agent[id]
	delete(r.agent, id)
	r.saved.save(r.agent)
	r.mu.Unlock()
	if !ok {
		return nil
	}
	return r.syncNow(ctx)
}

// RegisterCheck implements catalog.Agent: the check is added to the
// endpoint registered through the agent with that id. A script check is
// refused unless it may run in the endpoint's container.
func (r *Registrator) RegisterCheck(ctx context.Context, serviceID string, c catalog.Check) error {
	r.mu.Lock()
	e, ok := r.agent[serviceID]
	r.mu.Unlock()
	if !ok {
		if serviceID == "" {
			return errors.New("checks must belong to a service registered on this agent (ServiceID)")
		}
		return fmt.Errorf("no service %q registered on this agent", serviceID)
	}
	if err := r.checkScripts(ctx, e.Container, c); err != nil {
		return err
	}
	r.mu.Lock()
	if e, ok = r.agent[serviceID]; !ok {
		r.mu.Unlock()
		return fmt.Errorf("no service %q registered on this agent", serviceID)
	}
	kept := e.Checks[:0]
	for _, old := range e.Checks {
		if old.ID != c.ID {
			kept = append(kept, old)
		}
	}
	e.Checks = append(kept, c)
	r.agent[serviceID] = e
	r.saved.save(r.agent)
	r.mu.Unlock()
	return r.syncNow(ctx)
}

// DeregisterCheck implements catalog.Agent.
func (r *Registrator) DeregisterCheck(ctx context.Context, checkID string) error {
	r.mu.Lock()
	changed := false
	for id, e := range r.agent {
		kept := e.Checks[:0]
		for _, c := range e.Checks {
			if c.ID == checkID {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		e.Checks = kept
		r.agent[id] = e
	}
	if changed {
		r.saved.save(r.agent)
	}
	r.mu.Unlock()
	if !changed {
		return nil
	}
	return r.syncNow(ctx)
}

// UpdateTTL implements catalog.Agent.
func (r *Registrator) UpdateTTL(ctx context.Context, checkID string, status v1.CheckStatus, output string) error {
	r.mu.Lock()
	var found *runner
	for key, rn := range r.runners {
		if strings.HasSuffix(key, "\x00"+checkID) && rn.def.Type == catalog.CheckTTL {
			found = rn
		}
	}
	r.mu.Unlock()
	if found == nil {
		return fmt.Errorf("%w %q: no TTL check of that id on this host", ErrUnknownCheck, checkID)
	}
	if found.update(status, output) {
		return r.syncNow(ctx)
	}
	return nil
}

// Local implements catalog.Agent.
func (r *Registrator) Local() []catalog.Endpoint {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	out := append([]catalog.Endpoint(nil), r.local...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Drain takes a container's endpoints out of the catalog until it stops,
// and returns once they are gone: a gracePeriod starts now.
func (r *Registrator) Drain(ctx context.Context, containerID string) error {
	r.mu.Lock()
	r.draining[containerID] = true
	r.mu.Unlock()
	return r.syncNow(ctx)
}

// syncNow rebuilds at once, for the agent API: a registration is in the
// catalog when the call returns.
func (r *Registrator) syncNow(ctx context.Context) error {
	if _, err := r.reconcile(ctx, syncKey); err != nil {
		return err
	}
	if r.o.Visible == nil {
		return nil
	}
	r.syncMu.Lock()
	rev := r.w.lastRev
	r.syncMu.Unlock()
	// Read your writes: the catalog this host serves shows the change
	// when the call returns.
	return r.o.Visible(ctx, rev)
}
