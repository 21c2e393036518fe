package units

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// The sources of the loop: etcd's watches (through the caches), the
// engine's events and the loop's periodic resync (Options.Resync). Each
// only maps what changed to keys: a Unit's name, jobKey of a Job's,
// timerRunKey of a Timer's run. At start and at every resync the loop
// enqueues every key its sources hold: every Unit, Job and Timer's run in
// etcd, and every object this host has a container of (orphans included).

// watch gives the loop its sources.
func (c *Controller) watch() {
	cs := c.caches
	// The index of dependencies follows the Units before the loop maps a
	// change: the units related to a Unit are those it knows after it.
	cs.units.OnChange(func(key string) {
		name := strings.TrimPrefix(key, cs.units.Prefix())
		u, _ := cs.unit(name)
		c.deps.set(name, u)
	})
	c.loop.Watch(cs.units, c.unitChanged)
	c.loop.Watch(cs.bindings, reconcile.TrimPrefix(cs.bindings.Prefix()))
	c.loop.Watch(cs.jobs, jobKeys(reconcile.TrimPrefix(cs.jobs.Prefix())))
	c.loop.Watch(cs.jobBindings, jobKeys(reconcile.TrimPrefix(cs.jobBindings.Prefix())))
	c.loop.Watch(cs.jobVersions, jobKeys(func(key string) []string {
		if name, _, ok := store.ParseJobVersionKey(key); ok {
			return []string{name}
		}
		return nil
	}))
	c.loop.Watch(cs.timers, c.timerChanged)
	c.loop.Watch(cs.timerRuns, func(key string) []string {
		return []string{timerRunKey(strings.TrimPrefix(key, cs.timerRuns.Prefix()))}
	})
	c.loop.Watch(cs.hosts, nil)
	c.loop.Watch(cs.statuses, c.statusChanged)
	c.loop.Watch(cs.everyStatus, c.unitStatusChanged)
	engine := &engineSource{c: c}
	c.loop.Watch(engine, func(key string) []string {
		if key == engineResubscribed {
			return nil
		}
		return []string{key}
	})
	// Events are not replayed: after a (re)subscription, look at
	// everything once.
	c.loop.WatchAll(engine, func(key string) bool { return key == engineResubscribed })
}

// jobKeys maps the names m maps a key to to the work-queue keys of Jobs.
func jobKeys(m reconcile.Map) reconcile.Map {
	return func(key string) []string {
		names := m(key)
		for i, n := range names {
			names[i] = jobKey(n)
		}
		return names
	}
}

// unitChanged: the Unit, and the units that depend on it or that it
// depends on, look again.
func (c *Controller) unitChanged(key string) []string {
	name, ok := strings.CutPrefix(key, c.caches.units.Prefix())
	if !ok {
		return nil
	}
	return append([]string{name}, c.deps.related(name)...)
}

// timerChanged: the runs of the Timer look again.
func (c *Controller) timerChanged(key string) []string {
	timer := strings.TrimPrefix(key, c.caches.timers.Prefix())
	var out []string
	for _, k := range c.caches.timerRuns.Keys() {
		ref := strings.TrimPrefix(k, c.caches.timerRuns.Prefix())
		if strings.HasPrefix(ref, timer+"/") {
			out = append(out, timerRunKey(ref))
		}
	}
	return out
}

// statusChanged: a status of this host's that vanished is written again
// by the reconcile of its instance (report).
func (c *Controller) statusChanged(key string) []string {
	kind, name, host, ok := store.ParseStatusKey(key)
	if _, present := c.caches.statuses.Get(key); !ok || host != c.o.Host || present {
		return nil
	}
	switch kind {
	case "unit":
		return []string{name}
	case "job":
		return []string{jobKey(name)}
	case "timer":
		return []string{timerRunKey(name)}
	}
	return nil
}

// unitStatusChanged: a Unit's status changing, on any host, makes the
// units that depend on it, and those it depends on (a stop waits for its
// dependents), look again. It follows the cache of every host's statuses,
// which they read it from.
func (c *Controller) unitStatusChanged(key string) []string {
	if kind, name, _, ok := store.ParseStatusKey(key); ok && kind == "unit" {
		return c.deps.related(name)
	}
	return nil
}

// engineResubscribed is what the engine's source reports changed when it
// (re)subscribes to the engine's events.
const engineResubscribed = "engine:resubscribed"

// engineSource is the engine's container events as a source of the loop.
// Its keys are those of the objects this host has a container of, orphans
// included, listed from the engine each time the loop asks (at start and
// at every resync). An event of one of this host's containers reports its
// object's key changed; each (re)subscription to the events reports
// engineResubscribed.
type engineSource struct {
	c *Controller

	mu       sync.Mutex
	ctx      context.Context // Run's, for the engine's lists
	handlers []func(key string)
}

// Run follows the engine's events until ctx ends, re-subscribing when the
// stream breaks.
func (s *engineSource) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	c := s.c
	runtime.Watch(ctx, c.o.Runtime,
		func() { s.changed(engineResubscribed) },
		func(ev runtime.Event) {
			if k := keyOf(ev.Labels); k != "" && ev.Labels[v1.LabelHost] == c.o.Host {
				switch ev.Action {
				case runtime.ActionStart, runtime.ActionDie, runtime.ActionDestroy, runtime.ActionOOM, runtime.ActionStop, runtime.ActionHealthStatus, runtime.ActionCreate:
					s.changed(k)
				}
			}
		},
		func(err error, retryIn time.Duration) {
			c.o.Log.Warn("engine event stream broken; re-subscribing", "err", err, "in", retryIn)
			c.engine(err)
		})
	return nil
}

// HasSynced is always true: the loop does not wait for the engine, whose
// containers each reconcile lists.
func (s *engineSource) HasSynced() bool { return true }

// Keys lists the keys of the objects this host has a container of; none
// when the engine does not answer (Options.OnEngine is told).
func (s *engineSource) Keys() []string {
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	c := s.c
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ctrs, err := c.o.Runtime.List(ctx, runtime.ListOptions{All: true, Labels: map[string]string{v1.LabelHost: c.o.Host}})
	c.engine(err)
	var out []string
	for _, ctr := range ctrs {
		if k := keyOf(ctr.Labels); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// OnChange adds a handler; call it before Run.
func (s *engineSource) OnChange(f func(key string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers = append(s.handlers, f)
}

func (s *engineSource) changed(key string) {
	s.mu.Lock()
	handlers := slices.Clone(s.handlers)
	s.mu.Unlock()
	for _, h := range handlers {
		h(key)
	}
}

// engine tells Options.OnEngine whether the engine answers.
func (c *Controller) engine(err error) {
	if c.o.OnEngine != nil && (err == nil || errors.Is(err, runtime.ErrUnavailable)) {
		c.o.OnEngine(err)
	}
}
