package registrator

import (
	"context"
	"fmt"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
)

// reconcile rebuilds this host's endpoints and writes the difference:
// what is wanted (desired, from the world as it is now, with the checks'
// verdicts), against what was written (diff), written on this host's
// lease (writer).
func (r *Registrator) reconcile(ctx context.Context, _ string) (reconcile.Result, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if err := r.w.ensureLease(ctx); err != nil {
		return reconcile.Result{}, err
	}
	in, err := r.input(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	want, floors := r.withResults(desired(in))
	for _, f := range floors {
		r.o.Log.Warn("check below the minimum interval or timeout", "service", f.endpoint.Service, "id", f.endpoint.ID,
			"check", f.check, "raised", strings.Join(f.raised, ", "))
		r.warnEvent(ctx, f.endpoint, ReasonCheckBelowMinimum, "%s", f.message())
	}
	puts, dels, err := diff(r.o.Host, r.w.written, want)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.write(ctx, puts, dels); err != nil {
		return reconcile.Result{}, err
	}
	r.local = want
	r.built.Store(true)
	r.countEndpoints(want)
	return reconcile.Result{}, nil
}

// input reads everything the host's endpoints are built from: the
// containers that run here (but those draining), the Units, Jobs and
// Services in the caches, and the agent's registrations.
func (r *Registrator) input(ctx context.Context) (input, error) {
	ctrs, err := r.o.Runtime.List(ctx, runtime.ListOptions{})
	if err != nil {
		return input{}, fmt.Errorf("list containers: %w", err)
	}
	in := input{Host: r.o.Host, Address: r.o.Address, Leader: r.o.IsLeader(),
		Units: map[string]*v1.Unit{}, Jobs: map[string]*v1.Job{}}
	r.mu.Lock()
	in.Containers = r.notDraining(ctrs)
	for _, e := range r.agent {
		in.Agent = append(in.Agent, e)
	}
	r.mu.Unlock()
	for _, e := range r.jobs.List() {
		in.Jobs[e.Value.Metadata.Name] = e.Value
	}
	for _, e := range r.units.List() {
		in.Units[e.Value.Metadata.Name] = e.Value
	}
	for _, e := range r.services.List() {
		in.Services = append(in.Services, e.Value)
	}
	return in, nil
}

// notDraining leaves out of ctrs the containers Drain took out of
// discovery, and forgets those that no longer exist: a container that
// stopped may be registered again when it runs. Call with r.mu held.
func (r *Registrator) notDraining(ctrs []runtime.Container) []runtime.Container {
	running := ctrs[:0]
	alive := map[string]bool{}
	for _, c := range ctrs {
		alive[c.ID] = true
		if !r.draining[c.ID] {
			running = append(running, c)
		}
	}
	for id := range r.draining {
		if !alive[id] {
			delete(r.draining, id)
		}
	}
	return running
}

// write makes the catalog what diff said, and reports each endpoint that
// comes or goes.
func (r *Registrator) write(ctx context.Context, puts []put, dels []deletion) error {
	for _, p := range puts {
		if err := r.w.put(ctx, p); err != nil {
			return err
		}
		if p.registered {
			e := p.endpoint
			r.o.Log.Info("registered", "service", e.Service, "id", e.ID, "address", fmt.Sprintf("%s:%d", e.Address, e.Port))
			r.ownerEvent(ctx, e, "Registered", "endpoint %s of service %s registered at %s:%d", e.ID, e.Service, e.Address, e.Port)
		}
	}
	for _, d := range dels {
		if err := r.w.delete(ctx, d); err != nil {
			return err
		}
		r.o.Log.Info("deregistered", "service", d.service, "id", d.id)
		if d.gone != nil {
			r.ownerEvent(ctx, *d.gone, "Deregistered", "endpoint %s of service %s deregistered", d.id, d.service)
		}
	}
	return nil
}

// revoke gives up the lease on the way out: this host's endpoints go at
// once.
func (r *Registrator) revoke() {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.w.revoke()
}

// countEndpoints sets berth_endpoints from what this host registers.
func (r *Registrator) countEndpoints(eps []catalog.Endpoint) {
	if r.o.BerthMetrics == nil {
		return
	}
	n := map[v1.CheckStatus]int{}
	for i := range eps {
		n[eps[i].Status()]++
	}
	r.o.BerthMetrics.SetEndpoints(n)
}
