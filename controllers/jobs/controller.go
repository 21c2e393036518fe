package jobs

import (
	"context"
	"encoding/json"
	"errors"
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

// Options configure the Jobs loop.
type Options struct {
	Log     *slog.Logger
	Metrics *reconcile.Metrics
	Resync  time.Duration
}

// Controller writes the Jobs' bindings. Run it on the leading controller
// only.
type Controller struct {
	s    *store.Store
	o    Options
	loop *reconcile.Controller

	jobs, bindings, hosts, alive, statuses, versions *store.Cache
}

// New returns a Controller; call Run (again after leadership returns).
func New(s *store.Store, o Options) *Controller {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	return &Controller{s: s, o: o}
}

// Run decides bindings until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = reconcile.New("job", reconcile.Func(c.reconcile), reconcile.Options{Workers: 2, Metrics: c.o.Metrics, Log: c.o.Log})
	jobPrefix := store.ObjectPrefix(v1.KindJob)
	bindingPrefix := store.BindingKey(v1.KindJob, "")
	c.jobs = store.NewCache(c.s, jobPrefix, func(k string) { c.loop.Enqueue(strings.TrimPrefix(k, jobPrefix)) })
	c.bindings = store.NewCache(c.s, bindingPrefix, func(k string) { c.loop.Enqueue(strings.TrimPrefix(k, bindingPrefix)) })
	c.statuses = store.NewCache(c.s, store.StatusesPrefix, func(k string) {
		if kind, name, _, ok := store.ParseStatusKey(k); ok && kind == "job" {
			c.loop.Enqueue(name)
		}
	})
	c.versions = store.NewCache(c.s, store.JobVersionsPrefix, func(k string) {
		if name, _, ok := store.ParseJobVersionKey(k); ok {
			c.loop.Enqueue(name)
		}
	})
	all := func(string) { c.enqueueAll() }
	c.hosts = store.NewCache(c.s, store.HostsPrefix, all)
	c.alive = store.NewCache(c.s, store.AlivePrefix, all)
	caches := []*store.Cache{c.jobs, c.bindings, c.statuses, c.hosts, c.alive, c.versions}
	var wg sync.WaitGroup
	for _, cache := range caches {
		wg.Add(1)
		go func() { defer wg.Done(); _ = cache.Run(ctx) }()
	}
	if !store.WaitSynced(ctx, caches...) {
		wg.Wait()
		return nil
	}
	c.enqueueAll()
	// Bindings of jobs that no longer exist.
	for _, kv := range c.bindings.List() {
		c.loop.Enqueue(strings.TrimPrefix(kv.Key, bindingPrefix))
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = c.loop.Start(ctx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(c.o.Resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.enqueueAll()
			}
		}
	}()
	wg.Wait()
	return nil
}

func (c *Controller) enqueueAll() {
	if c.loop == nil || c.jobs == nil {
		return
	}
	prefix := store.ObjectPrefix(v1.KindJob)
	for _, kv := range c.jobs.List() {
		c.loop.Enqueue(strings.TrimPrefix(kv.Key, prefix))
	}
}

func (c *Controller) reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	bkey := store.BindingKey(v1.KindJob, name)
	bkv, hasBinding := c.bindings.Get(bkey)
	kv, ok := c.jobs.Get(store.ObjectKey(v1.KindJob, name))
	if !ok {
		if hasBinding {
			if _, err := c.s.Txn(ctx, []store.Op{{Key: bkey, Delete: true, ExpectRev: bkv.ModRevision}}); err != nil && !errors.Is(err, store.ErrConflict) {
				return reconcile.Result{}, err
			}
			c.o.Log.Info("job binding removed", "job", name)
		}
		return reconcile.Result{}, nil
	}
	j := &v1.Job{}
	if err := json.Unmarshal(kv.Value, j); err != nil {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("decode job %s: %w", name, err))
	}
	v1.Default(j)
	in := planInput{Job: j, Now: time.Now().UTC(), Statuses: map[string]v1.InstanceStatus{}}
	if hasBinding {
		_ = json.Unmarshal(bkv.Value, &in.Current)
	}
	for _, hkv := range c.hosts.List() {
		var h v1.Host
		if json.Unmarshal(hkv.Value, &h) != nil {
			continue
		}
		_, up := c.alive.Get(store.AliveKey(h.Metadata.Name))
		in.Hosts = append(in.Hosts, HostInfo{Name: h.Metadata.Name, Labels: h.Metadata.Labels, Up: up})
	}
	for _, skv := range c.statuses.List() {
		if !store.IsStatusOf(skv.Key, v1.KindJob, name) {
			continue
		}
		// The host is the key's: a status whose value names another host,
		// or under a name no host has, is no host's, and moves no rollout.
		if st, err := store.DecodeHostStatus(skv, c.isHost); err == nil {
			in.Statuses[st.Host] = st
		}
	}
	var err error
	if in.Versions, err = c.versionHashes(ctx, j, in.Current); err != nil {
		return reconcile.Result{}, err
	}
	next, requeue := plan(in)
	if hasBinding && sameBinding(in.Current, next) {
		return reconcile.Result{RequeueAfter: requeue}, nil
	}
	b, err := json.Marshal(next)
	if err != nil {
		return reconcile.Result{}, err
	}
	op := store.Op{Key: bkey, Value: b}
	if hasBinding {
		op.ExpectRev = bkv.ModRevision
	}
	if _, err := c.s.Txn(ctx, []store.Op{op}); err != nil {
		return reconcile.Result{}, fmt.Errorf("write binding of job %s: %w", name, err)
	}
	if next.Rollout != nil && (in.Current.Rollout == nil || in.Current.Rollout.State != next.Rollout.State || in.Current.Rollout.Message != next.Rollout.Message) {
		c.o.Log.Info("rollout", "job", name, "version", next.Rollout.Version, "state", next.Rollout.State, "message", next.Rollout.Message)
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// isHost reports whether a host of that name has a record.
func (c *Controller) isHost(name string) bool {
	_, ok := c.hosts.Get(store.HostKey(name))
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
func (c *Controller) versionHashes(ctx context.Context, j *v1.Job, b v1.JobBinding) (map[string]string, error) {
	out := map[string]string{}
	name := j.Metadata.Name
	for _, ver := range append(slices.Collect(maps.Values(b.Hosts)), j.Spec.Version) {
		if _, done := out[ver]; done {
			continue
		}
		key := store.JobVersionKey(name, ver)
		kv, ok := c.versions.Get(key)
		if !ok && ver != j.Spec.Version {
			var err error
			kv, err = c.s.Get(ctx, key)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("read %s: %w", key, err)
			}
			ok = err == nil
		}
		if !ok {
			continue
		}
		if jv, err := store.DecodeJobVersion(kv); err == nil {
			out[ver] = jv.Hash()
		}
	}
	if _, ok := out[j.Spec.Version]; !ok {
		out[j.Spec.Version] = v1.FullTemplateHash(&j.Spec.Container)
	}
	return out, nil
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
