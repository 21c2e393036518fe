package units

import (
	"context"
	"errors"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// The sources of the loop: etcd's watches (through the caches), the
// engine's events and a periodic resync. Each only enqueues keys: a
// Unit's name, or jobKey of a Job's.

// newCaches makes the caches, each telling the loop what its changes
// are about.
func (c *Controller) newCaches() *caches {
	cs := &caches{}
	unitPrefix := store.ObjectPrefix(v1.KindUnit)
	cs.units = store.NewCache(c.o.Store, unitPrefix, func(key string) {
		c.unitChanged(strings.TrimPrefix(key, unitPrefix))
	})
	bindingPrefix := strings.TrimSuffix(store.BindingKey(v1.KindUnit, "x"), "x")
	cs.bindings = store.NewCache(c.o.Store, bindingPrefix, func(key string) {
		c.loop.Enqueue(strings.TrimPrefix(key, bindingPrefix))
	})
	jobPrefix := store.ObjectPrefix(v1.KindJob)
	cs.jobs = store.NewCache(c.o.Store, jobPrefix, func(key string) {
		c.loop.Enqueue(jobKey(strings.TrimPrefix(key, jobPrefix)))
	})
	jobBindingPrefix := strings.TrimSuffix(store.BindingKey(v1.KindJob, "x"), "x")
	cs.jobBindings = store.NewCache(c.o.Store, jobBindingPrefix, func(key string) {
		c.loop.Enqueue(jobKey(strings.TrimPrefix(key, jobBindingPrefix)))
	})
	cs.jobVersions = store.NewCache(c.o.Store, store.JobVersionsPrefix, func(key string) {
		if name, _, ok := store.ParseJobVersionKey(key); ok {
			c.loop.Enqueue(jobKey(name))
		}
	})
	c.timerRunCaches(cs)
	cs.hosts = store.NewCache(c.o.Store, store.HostsPrefix, nil)
	cs.statuses = store.NewCache(c.o.Store, store.HostStatusPrefix(c.o.Host), c.statusChanged)
	cs.everyStatus = newLazyCache(store.NewCache(c.o.Store, store.StatusesPrefix, func(key string) {
		if _, _, host, ok := store.ParseStatusKey(key); ok && host != c.o.Host { // this host's: statusChanged
			c.statusChanged(key)
		}
	}))
	return cs
}

// unitChanged: the Unit, and the units that depend on it or that it
// depends on, look again.
func (c *Controller) unitChanged(name string) {
	u, _ := c.caches.unit(name)
	c.deps.set(name, u)
	c.loop.Enqueue(name)
	for _, r := range c.deps.related(name) {
		c.loop.Enqueue(r)
	}
}

// statusChanged: a status of this host's that vanished is written again
// by the reconcile of its instance (report); a Unit's status changing
// makes the units that depend on it, and those it depends on (a stop
// waits for its dependents), look again.
func (c *Controller) statusChanged(key string) {
	kind, name, host, ok := store.ParseStatusKey(key)
	if !ok {
		return
	}
	if _, present := c.caches.statuses.Get(key); host == c.o.Host && !present {
		switch kind {
		case "unit":
			c.loop.Enqueue(name)
		case "job":
			c.loop.Enqueue(jobKey(name))
		case "timer":
			c.loop.Enqueue(timerRunKey(name))
		}
	}
	if kind != "unit" {
		return
	}
	for _, r := range c.deps.related(name) {
		c.loop.Enqueue(r)
	}
}

// resync enqueues everything every Options.Resync until ctx ends.
func (c *Controller) resync(ctx context.Context) {
	t := time.NewTicker(c.o.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.enqueueAll(ctx)
		}
	}
}

// enqueueAll enqueues every Unit and Job in etcd and every object this
// host has a container of (orphans included).
func (c *Controller) enqueueAll(ctx context.Context) {
	prefix := store.ObjectPrefix(v1.KindUnit)
	for _, kv := range c.caches.units.List() {
		c.loop.Enqueue(strings.TrimPrefix(kv.Key, prefix))
	}
	jprefix := store.ObjectPrefix(v1.KindJob)
	for _, kv := range c.caches.jobs.List() {
		c.loop.Enqueue(jobKey(strings.TrimPrefix(kv.Key, jprefix)))
	}
	c.enqueueTimerRuns("")
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ctrs, err := c.o.Runtime.List(lctx, runtime.ListOptions{All: true, Labels: map[string]string{v1.LabelHost: c.o.Host}})
	c.engine(err)
	for _, ctr := range ctrs {
		if k := keyOf(ctr.Labels); k != "" {
			c.loop.Enqueue(k)
		}
	}
}

// engine tells Options.OnEngine whether the engine answers.
func (c *Controller) engine(err error) {
	if c.o.OnEngine != nil && (err == nil || errors.Is(err, runtime.ErrUnavailable)) {
		c.o.OnEngine(err)
	}
}

// watchEngine turns the engine's container events into reconciles of the
// objects they belong to, re-subscribing (and resyncing) when the stream
// breaks.
func (c *Controller) watchEngine(ctx context.Context) {
	runtime.Watch(ctx, c.o.Runtime,
		func() { c.enqueueAll(ctx) }, // events are not replayed: look at everything once
		func(ev runtime.Event) {
			if k := keyOf(ev.Labels); k != "" && ev.Labels[v1.LabelHost] == c.o.Host {
				switch ev.Action {
				case runtime.ActionStart, runtime.ActionDie, runtime.ActionDestroy, runtime.ActionOOM, runtime.ActionStop, runtime.ActionHealthStatus, runtime.ActionCreate:
					c.loop.Enqueue(k)
				}
			}
		},
		func(err error, retryIn time.Duration) {
			c.o.Log.Warn("engine event stream broken; re-subscribing", "err", err, "in", retryIn)
			c.engine(err)
		})
}
