package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// writeTimeout bounds one write of a binding.
const writeTimeout = 10 * time.Second

// runner is one Run of a Scheduler: its caches, its state and the reconcile
// of one unit.
type runner struct {
	store  *store.Store
	log    *slog.Logger
	events EventRecorder

	sources
	statuses *store.Typed[v1.InstanceStatus] // of every kind
	// enqueue puts a unit on the loop's queue.
	enqueue func(name string)

	mu sync.Mutex
	st *state
}

var _ reconcile.Reconciler = (*runner)(nil)

func newRunner(s *store.Store, o Options) *runner {
	co := store.CacheOptions{Log: o.Log}
	r := &runner{
		store: s, log: o.Log, events: o.Events, st: newState(o.Clock),
		sources:  newSources(s, o.Log, o.Events),
		statuses: store.NewTyped(s, store.StatusesPrefix, store.DecodeStatus, co),
	}
	r.st.track(&r.sources) // before the loop watches the caches: see state.track
	r.statuses.OnChange(r.observe)
	r.st.rescheduleAfter = o.RescheduleAfter
	return r
}

// newSources returns the caches the state is built from, logging to log
// the values that do not decode (and recording an event on a Unit that
// does not, when events is set).
func newSources(s *store.Store, log *slog.Logger, events EventRecorder) sources {
	co := store.CacheOptions{Log: log}
	return sources{
		units:    store.NewObjectCache[*v1.Unit](s, store.CacheOptions{Log: log, Events: events}),
		bindings: store.NewTyped(s, bindingPrefix, store.DecodeJSON[*v1.Binding], co),
		hosts:    store.NewTyped(s, store.HostsPrefix, store.DecodeJSON[v1.Host], co),
		alive:    store.NewCache(s, store.AlivePrefix, nil),
		// Jobs take CPUs, memory and host ports where their bindings place
		// them. Their loop reports the ones that do not decode.
		jobs:        store.NewObjectCache[*v1.Job](s, store.CacheOptions{Log: slog.New(slog.DiscardHandler)}),
		jobBindings: store.NewTyped(s, store.BindingKey(v1.KindJob, ""), store.DecodeJSON[v1.JobBinding], co),
	}
}

// Reconcile brings the binding of unit name in line with its placement: it
// computes the hosts with Schedule and writes bindings/unit/<name> when they
// or the unit's generation differ from what is stored, or deletes the
// binding of a unit that is gone or whose placement does not need the
// scheduler. The write compares the binding's mod revision; a lost compare
// is returned (wrapping store.ErrConflict) and the loop retries. Decisions
// are taken one at a time, each seeing the load the previous ones left,
// while the writes themselves may overlap.
func (r *runner) Reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	r.mu.Lock()
	r.st.refresh(&r.sources)
	e, exists := r.st.units[name]
	if e.Err != nil {
		// Left alone, binding and all, until it decodes: its cache said why.
		r.mu.Unlock()
		return reconcile.Result{}, nil
	}
	cur := r.st.bindings[name]
	var want *v1.Binding
	if exists && e.Value.Spec.Placement.NeedsScheduler() {
		d := schedule(e.Value, r.hostsFor(name, cur.b), cur.b, r.st.loadWithout(name))
		want = &v1.Binding{Hosts: d.Hosts, Generation: e.Value.Metadata.Generation,
			Pending: d.Pending, PendingReason: d.PendingReason()}
	}
	if want != nil && want.Pending > 0 {
		r.st.pending[name] = true
	} else {
		delete(r.st.pending, name)
	}
	var requeue time.Duration
	if want != nil {
		requeue = r.st.nextLoss(want.Hosts) // look again when a Down host it runs on is lost
	}
	if !cur.invalid && sameBinding(cur.b, want) {
		r.mu.Unlock()
		return reconcile.Result{RequeueAfter: requeue}, nil
	}
	r.st.assume(name, want)
	r.mu.Unlock()

	rev, err := r.write(ctx, name, want, cur.modRev)

	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.st.forget(name)
		return reconcile.Result{}, err
	}
	r.st.confirm(name, want, rev)
	r.freed(name, cur.b, want)
	r.logDecision(name, want, exists)
	if want != nil && cur.b != nil && r.events != nil {
		r.reportLost(ctx, name, cur.b, want)
	}
	if want != nil && r.events != nil {
		r.reportPending(ctx, name, cur.b, want)
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// logDecision says what was written for unit name.
func (r *runner) logDecision(name string, want *v1.Binding, exists bool) {
	switch {
	case want == nil && !exists:
		r.log.Info("binding removed: unit deleted", "unit", name)
	case want == nil:
		r.log.Info("binding removed: placement does not need the scheduler", "unit", name)
	case want.Pending > 0:
		r.log.Info("unit has replicas pending", "unit", name, "hosts", want.Hosts, "pending", want.Pending,
			"reason", want.PendingReason, "generation", want.Generation)
	default:
		r.log.Info("unit bound", "unit", name, "hosts", want.Hosts, "generation", want.Generation)
	}
}

// reportLost records a Rescheduled event when unit name moved off hosts
// that were lost. Called with r.mu held.
func (r *runner) reportLost(ctx context.Context, name string, was, now *v1.Binding) {
	var lost []string
	for _, h := range r.st.hosts {
		if h.Lost && slices.Contains(was.Hosts, h.Name) && !slices.Contains(now.Hosts, h.Name) {
			lost = append(lost, h.Name)
		}
	}
	if len(lost) > 0 {
		r.events.Event(ctx, v1.KindUnit, name, v1.EventWarning, "Rescheduled",
			"moved off %s (Down for longer than %s): now on %s", strings.Join(lost, ", "), r.st.rescheduleAfter, strings.Join(now.Hosts, ", "))
	}
}

// reportPending records a Pending event when unit name gets replicas no
// host can take (or another number of them), and a Placed event when the
// last of them gets a host. Called with r.mu held.
func (r *runner) reportPending(ctx context.Context, name string, was, now *v1.Binding) {
	wasPending := was != nil && was.Pending > 0
	switch {
	case now.Pending > 0 && (!wasPending || was.Pending != now.Pending):
		r.events.Event(ctx, v1.KindUnit, name, v1.EventWarning, "Pending", "%s", now.PendingReason)
	case now.Pending == 0 && wasPending:
		r.events.Event(ctx, v1.KindUnit, name, v1.EventNormal, "Placed",
			"every replica has a host now: %s", strings.Join(now.Hosts, ", "))
	}
}

// observe records the host ports the instance whose status is under key
// reports (none when the status is gone or unreadable).
func (r *runner) observe(key string) {
	kind, name, host, ok := store.ParseStatusKey(key)
	if !ok {
		return
	}
	var ports []HostPort
	if e, ok := r.statuses.Get(key); ok && e.Err == nil {
		ports = StatusPorts(&e.Value)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.load.Observe(kind+"/"+name, host, ports) // UnitOwner, JobOwner
}

// pendingUnits returns every unit with replicas pending.
func (r *runner) pendingUnits(string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.st.pending))
}

// freed enqueues the units with pending replicas when unit name's
// binding changed from old to b in a way that may leave room for them:
// it left a host, or was deleted, or its unit changed (a new generation
// may ask less). Called with r.mu held.
func (r *runner) freed(name string, old, b *v1.Binding) {
	if old == nil || len(old.Hosts) == 0 || r.enqueue == nil {
		return
	}
	if b != nil && b.Generation == old.Generation && !slices.ContainsFunc(old.Hosts, func(h string) bool {
		return !slices.Contains(b.Hosts, h)
	}) {
		return
	}
	for p := range r.st.pending {
		if p != name {
			r.enqueue(p)
		}
	}
}

// write puts b (nil: deletes) as unit name's binding if the key is still at
// modRev (0: must not exist), and returns the revision of the write.
func (r *runner) write(ctx context.Context, name string, b *v1.Binding, modRev int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	op := store.Op{Key: store.BindingKey(v1.KindUnit, name), ExpectRev: modRev}
	if b == nil {
		op.Delete = true
	} else {
		v, err := json.Marshal(b)
		if err != nil {
			return 0, fmt.Errorf("scheduler: encode binding of %s: %w", name, err)
		}
		op.Value = v
	}
	rev, err := r.store.Txn(ctx, []store.Op{op})
	if err != nil {
		return 0, fmt.Errorf("scheduler: write binding of %s: %w", name, err)
	}
	return rev, nil
}

// sameBinding reports whether two bindings (nil: none) say the same.
func sameBinding(a, b *v1.Binding) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Generation == b.Generation && slices.Equal(sorted(a.Hosts), sorted(b.Hosts)) &&
		a.Pending == b.Pending && a.PendingReason == b.PendingReason
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// hostsFor returns the hosts as Schedule should see them for unit name: a
// Down host bound to it that never reported an instance of it (it went
// down before starting it) counts as lost at once, since there is nothing
// there to wait for.
func (r *runner) hostsFor(name string, b *v1.Binding) []HostInfo {
	if b == nil || r.statuses == nil {
		return r.st.hosts
	}
	out := r.st.hosts
	copied := false
	for i, h := range out {
		if h.Up || h.Lost || !slices.Contains(b.Hosts, h.Name) {
			continue
		}
		if _, ran := r.statuses.Get(store.StatusKey(v1.KindUnit, name, h.Name)); ran {
			continue
		}
		if !copied {
			out = slices.Clone(out)
			copied = true
		}
		out[i].Lost = true
	}
	return out
}
