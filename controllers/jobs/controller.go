package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"k8s.io/utils/clock"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// Options configure the Jobs loop.
type Options struct {
	Log     *slog.Logger
	Metrics *reconcile.Metrics
	// Resync is the period of a reconcile of every Job (default 30s).
	Resync time.Duration
	// Events, when set, records an InvalidObject event on a stored Job
	// that does not decode, and the steps of every rollout (RolloutEvents).
	Events store.EventRecorder
	// Clock is the time rollouts are timed by, and the loop's (default
	// the real clock).
	Clock clock.WithTicker
}

// Controller writes the Jobs' bindings. Run it on the leading controller
// only.
type Controller struct {
	s *store.Store
	o Options
}

// New returns a Controller; call Run (again after leadership returns).
func New(s *store.Store, o Options) *Controller {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return &Controller{s: s, o: o}
}

// Run decides bindings until ctx ends. Each Run starts from fresh caches:
// of Jobs, their bindings, statuses and version records, host records and
// alive keys. A change of a Job, of its binding, of one of its statuses or
// version records reconciles that Job; a host that changes, joins or
// leaves reconciles every Job, as does every Options.Resync.
func (c *Controller) Run(ctx context.Context) error {
	r := newRunner(c.s, c.o)
	loop := reconcile.New("job", r, reconcile.Options{
		Workers: 2, Metrics: c.o.Metrics, Log: c.o.Log, Resync: c.o.Resync, Clock: c.o.Clock,
	})
	loop.Watch(r.jobs, reconcile.TrimPrefix(r.jobs.Prefix()))
	loop.Watch(r.bindings, reconcile.TrimPrefix(r.bindings.Prefix())) // of Jobs deleted too
	loop.Watch(r.statuses, func(key string) []string {
		if kind, name, _, ok := store.ParseStatusKey(key); ok && kind == "job" {
			return []string{name}
		}
		return nil
	})
	loop.Watch(r.versions, func(key string) []string {
		if name, _, ok := store.ParseJobVersionKey(key); ok {
			return []string{name}
		}
		return nil
	})
	loop.WatchAll(r.hosts, nil)
	loop.WatchAll(r.alive, nil)
	return loop.Start(ctx)
}

// runner is one Run: its caches and the reconcile of one Job.
type runner struct {
	s      *store.Store
	log    *slog.Logger
	clock  clock.Clock
	events store.EventRecorder

	jobs     *store.Typed[*v1.Job]
	bindings *store.Typed[v1.JobBinding]
	statuses *store.Typed[v1.InstanceStatus] // of Jobs
	versions *store.Typed[*v1.JobVersion]
	hosts    *store.Typed[v1.Host]
	alive    *store.Cache
}

func newRunner(s *store.Store, o Options) *runner {
	co := store.CacheOptions{Log: o.Log}
	return &runner{
		s: s, log: o.Log, clock: o.Clock, events: o.Events,
		jobs:     store.NewObjectCache[*v1.Job](s, store.CacheOptions{Log: o.Log, Events: o.Events}),
		bindings: store.NewTyped(s, store.BindingKey(v1.KindJob, ""), store.DecodeJSON[v1.JobBinding], co),
		statuses: store.NewTyped(s, store.StatusesPrefix, store.DecodeStatusOf(v1.KindJob), co),
		versions: store.NewTyped(s, store.JobVersionsPrefix, store.DecodeJobVersion, co),
		hosts:    store.NewTyped(s, store.HostsPrefix, store.DecodeJSON[v1.Host], co),
		alive:    store.NewCache(s, store.AlivePrefix, nil),
	}
}

// Reconcile brings the binding of Job name in line with plan: it removes
// the binding of a Job that is gone, leaves alone a Job that does not
// decode (its cache reported it), and writes the planned binding when it
// differs from the stored one, comparing the binding's mod revision.
func (r *runner) Reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	bkey := store.BindingKey(v1.KindJob, name)
	b, hasBinding := r.bindings.Get(bkey)
	e, ok := r.jobs.Get(store.ObjectKey(v1.KindJob, name))
	if !ok {
		return reconcile.Result{}, r.unbind(ctx, name, b, hasBinding)
	}
	if e.Err != nil {
		return reconcile.Result{}, nil
	}
	in, err := r.input(ctx, e.Value, b.Value)
	if err != nil {
		return reconcile.Result{}, err
	}
	next, requeue := plan(in)
	if hasBinding && b.Err == nil && sameBinding(in.Current, next) {
		return reconcile.Result{RequeueAfter: requeue}, nil
	}
	if err := r.write(ctx, name, next, b.ModRevision); err != nil {
		return reconcile.Result{}, err
	}
	if next.Rollout != nil && (in.Current.Rollout == nil || in.Current.Rollout.State != next.Rollout.State || in.Current.Rollout.Message != next.Rollout.Message) {
		r.log.Info("rollout", "job", name, "version", next.Rollout.Version, "state", next.Rollout.State, "message", next.Rollout.Message)
	}
	if r.events != nil {
		for _, ev := range RolloutEvents(in.Current, next) {
			r.events.Event(ctx, v1.KindJob, name, ev.Type, ev.Reason, "%s", ev.Message)
		}
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// unbind removes the binding of a Job that no longer exists, if it is
// still the one read.
func (r *runner) unbind(ctx context.Context, name string, b store.Entry[v1.JobBinding], has bool) error {
	if !has {
		return nil
	}
	_, err := r.s.Txn(ctx, []store.Op{{Key: b.Key, Delete: true, ExpectRev: b.ModRevision}})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	r.log.Info("job binding removed", "job", name)
	return nil
}

// write stores b as Job name's binding if the key is still at modRev (0:
// must not exist).
func (r *runner) write(ctx context.Context, name string, b v1.JobBinding, modRev int64) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if _, err := r.s.Txn(ctx, []store.Op{{Key: store.BindingKey(v1.KindJob, name), Value: v, ExpectRev: modRev}}); err != nil {
		return fmt.Errorf("write binding of job %s: %w", name, err)
	}
	return nil
}

// input gathers what plan decides Job j's binding from: the hosts, the
// statuses of j on hosts that have a record, and its versions' hashes.
func (r *runner) input(ctx context.Context, j *v1.Job, current v1.JobBinding) (planInput, error) {
	in := planInput{Job: j, Current: current, Now: r.clock.Now().UTC(), Statuses: map[string]v1.InstanceStatus{}}
	for _, e := range r.hosts.List() {
		h := e.Value
		_, up := r.alive.Get(store.AliveKey(h.Metadata.Name))
		in.Hosts = append(in.Hosts, HostInfo{Name: h.Metadata.Name, Labels: h.Metadata.Labels, Up: up})
	}
	for _, e := range r.statuses.List() {
		// The host is the key's: a status whose value names another host
		// (held with its error, so not listed), or under a name no host
		// has, is no host's, and moves no rollout.
		if store.IsStatusOf(e.Key, v1.KindJob, j.Metadata.Name) && r.isHost(e.Value.Host) {
			in.Statuses[e.Value.Host] = e.Value
		}
	}
	var err error
	in.Versions, err = r.versionHashes(ctx, j, current)
	return in, err
}

// isHost reports whether a host of that name has a record.
func (r *runner) isHost(name string) bool {
	_, ok := r.hosts.Get(store.HostKey(name))
	return ok
}

// versionHashes returns the template hash of the Job's current version
// and of every version its binding names that has a stored template, by
// version: from the version records, and for the current version without
// one (a Job stored before records were kept), from the Job itself.
//
// A record missing from the cache is read from etcd before the version is
// taken for gone: the cache of records follows its own watch, which may
// lag the Jobs'.
func (r *runner) versionHashes(ctx context.Context, j *v1.Job, b v1.JobBinding) (map[string]string, error) {
	out := map[string]string{}
	name := j.Metadata.Name
	vers := append(slices.Collect(maps.Values(b.Hosts)), j.Spec.Version)
	if b.Stable != "" {
		vers = append(vers, b.Stable) // what a failed rollout reverts to
	}
	if b.Rollout != nil && b.Rollout.RevertedTo != "" {
		vers = append(vers, b.Rollout.RevertedTo)
	}
	for _, ver := range vers {
		if _, done := out[ver]; done {
			continue
		}
		key := store.JobVersionKey(name, ver)
		e, ok := r.versions.Get(key)
		if !ok && ver != j.Spec.Version {
			var err error
			if e, ok, err = r.readVersion(ctx, key); err != nil {
				return nil, err
			}
		}
		if ok && e.Err == nil {
			out[ver] = e.Value.Hash()
		}
	}
	if _, ok := out[j.Spec.Version]; !ok {
		out[j.Spec.Version] = v1.FullTemplateHash(&j.Spec.Container)
	}
	return out, nil
}

// readVersion reads a version record from etcd; ok is false when there is
// none.
func (r *runner) readVersion(ctx context.Context, key string) (e store.Entry[*v1.JobVersion], ok bool, err error) {
	kv, err := r.s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("read %s: %w", key, err)
	}
	e = store.Entry[*v1.JobVersion]{Key: key, ModRevision: kv.ModRevision}
	e.Value, e.Err = store.DecodeJobVersion(kv)
	return e, true, nil
}

// sameBinding compares bindings but for the rollout's UpdatedAt.
func sameBinding(a, b v1.JobBinding) bool {
	norm := func(x v1.JobBinding) string {
		if x.Rollout != nil {
			r := *x.Rollout
			r.UpdatedAt = time.Time{}
			x.Rollout = &r
		}
		if x.Hosts == nil {
			x.Hosts = map[string]string{}
		}
		if x.Hashes == nil {
			x.Hashes = map[string]string{}
		}
		j, _ := json.Marshal(x)
		return string(j)
	}
	return norm(a) == norm(b)
}
