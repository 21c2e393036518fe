package units

import (
	"context"
	"errors"
	"log/slog"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// caches are the controller's mirrors of etcd, each decoded and defaulted
// once when its key changes (sources.go says what a change of each
// enqueues). They are read, never written: a value read from them is
// shared, and copied before it is changed. A value that does not decode is
// held with its error and logged by its cache; the loop of the leading
// controller (the scheduler, Jobs, Timers) records its InvalidObject
// event, so that one event is recorded, not one per host.
type caches struct {
	units    *store.Typed[*v1.Unit]
	bindings *store.Typed[v1.Binding]        // of Units
	statuses *store.Typed[v1.InstanceStatus] // this host's own (status/<host>/): written again when they vanish
	// everyStatus holds every host's statuses, which only dependencies
	// need: it runs from the first reconcile of a Unit placed here that
	// has dependencies or dependents, so that a host whose Units have
	// none is not sent every status write of the cluster.
	everyStatus *lazyCache
	jobs        *store.Typed[*v1.Job]
	jobBindings *store.Typed[v1.JobBinding]
	jobVersions *store.Typed[*v1.JobVersion]
	timers      *store.Typed[*v1.Timer]
	timerRuns   *store.Typed[v1.TimerRunBinding] // bindings of Timers' runs
	// hosts holds the names of the hosts that have a record, not the
	// records: a status under another name is no host's.
	hosts *store.Typed[struct{}]
}

// newCaches returns the caches of host, with units and jobs (nil: new
// ones) as its caches of Units and Jobs.
func newCaches(s *store.Store, host string, log *slog.Logger, units *store.Typed[*v1.Unit], jobs *store.Typed[*v1.Job]) *caches {
	co := store.CacheOptions{Log: log}
	if units == nil {
		units = store.NewObjectCache[*v1.Unit](s, co)
	}
	if jobs == nil {
		jobs = store.NewObjectCache[*v1.Job](s, co)
	}
	return &caches{
		units:       units,
		bindings:    store.NewTyped(s, store.BindingKey(v1.KindUnit, ""), store.DecodeJSON[v1.Binding], co),
		statuses:    store.NewTyped(s, store.HostStatusPrefix(host), decodeInstanceStatus, co),
		everyStatus: &lazyCache{cache: store.NewTyped(s, store.StatusesPrefix, decodeInstanceStatus, co), want: make(chan struct{})},
		jobs:        jobs,
		jobBindings: store.NewTyped(s, store.BindingKey(v1.KindJob, ""), store.DecodeJSON[v1.JobBinding], co),
		jobVersions: store.NewTyped(s, store.JobVersionsPrefix, store.DecodeJobVersion, co),
		timers:      store.NewObjectCache[*v1.Timer](s, co),
		timerRuns:   store.NewTyped(s, store.BindingKey(v1.KindTimer, ""), store.DecodeJSON[v1.TimerRunBinding], co),
		hosts:       store.NewTyped(s, store.HostsPrefix, func(store.KV) (struct{}, error) { return struct{}{}, nil }, co),
	}
}

// decodeInstanceStatus decodes what a host reports of an instance of a
// Unit, a Job or a Timer's run, and ignores the other statuses (the
// leader's records of Timers and GitSources).
func decodeInstanceStatus(kv store.KV) (v1.InstanceStatus, error) {
	kind, _, host, ok := store.ParseStatusKey(kv.Key)
	if ok && (host == v1.ReservedHostName || kind != "unit" && kind != "job" && kind != "timer") {
		return v1.InstanceStatus{}, store.ErrIgnored
	}
	return store.DecodeStatus(kv)
}

// unit returns the stored Unit, defaulted and shared, or nil when it does
// not exist; err says why one that is stored does not decode.
func (c *caches) unit(name string) (*v1.Unit, error) {
	e, ok := c.units.Get(store.ObjectKey(v1.KindUnit, name))
	if !ok {
		return nil, nil
	}
	return e.Value, e.Err
}

// binding returns the scheduler's binding of a Unit, nil when there is
// none or it does not decode.
func (c *caches) binding(name string) *v1.Binding {
	e, ok := c.bindings.Get(store.BindingKey(v1.KindUnit, name))
	if !ok || e.Err != nil {
		return nil
	}
	b := e.Value
	return &b
}

// isHost reports whether a host of that name has a record.
func (c *caches) isHost(name string) bool {
	_, ok := c.hosts.Get(store.HostKey(name))
	return ok
}

// lookup returns the entry of key: from cache, or, when fresh, read from
// etcd and decoded as the cache decodes it (a cache follows a watch of its
// own, and may lag another's). ok is false when there is no such key.
func lookup[T any](ctx context.Context, s *store.Store, cache *store.Typed[T], decode func(store.KV) (T, error), fresh bool, key string) (e store.Entry[T], ok bool, err error) {
	if !fresh {
		e, ok = cache.Get(key)
		return e, ok, nil
	}
	kv, err := s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return e, false, nil
	}
	if err != nil {
		return e, false, err
	}
	e = store.Entry[T]{Key: key, ModRevision: kv.ModRevision}
	e.Value, e.Err = decode(kv)
	return e, true, nil
}
