package reconcile

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Source is what a loop watches: a cache of keys that tells its handlers
// which key changed (store.Typed and store.Cache are sources).
type Source interface {
	// Run fills the source and keeps it current until ctx ends.
	Run(ctx context.Context) error
	// HasSynced reports whether the source has listed once.
	HasSynced() bool
	// Keys returns every key the source holds.
	Keys() []string
	// OnChange adds a handler, called with every key that changes.
	OnChange(func(key string))
}

// Map turns a key of a source into the keys to reconcile: none, one or
// several.
type Map func(key string) []string

// TrimPrefix maps a key under prefix to what follows it (objects/job/web
// to web), and any other key to none.
func TrimPrefix(prefix string) Map {
	return func(key string) []string {
		if name, ok := strings.CutPrefix(key, prefix); ok && name != "" {
			return []string{name}
		}
		return nil
	}
}

type watch struct {
	src Source
	m   Map
}

// Watch makes the loop run src and, for every key of it that changes,
// enqueue the keys m maps it to; once src has listed and every
// Options.Resync, every key it holds is mapped and enqueued again. A nil m
// enqueues nothing: the loop only runs src and waits for it to list, for a
// cache the reconciler reads. Call Watch before Start.
//
// A source given to Watch and to WatchAll too is run once, and does both:
// the engine's events name a container's object, and a resubscription to
// them, which does not replay what was missed, concerns every key.
func (c *Controller) Watch(src Source, m Map) {
	c.addSource(src)
	if m == nil {
		return
	}
	c.watches = append(c.watches, watch{src: src, m: m})
	src.OnChange(func(key string) {
		for _, k := range m(key) {
			c.queue.Add(k)
		}
	})
}

// WatchAll makes the loop run src and, whenever a key of it changes for
// which changed reports true (nil: any change), enqueue every key of the
// sources given to Watch, as a resync does: a change that may concern
// every key, such as a host joining. Changes that come faster than the
// loop enqueues are merged into one. Call WatchAll before Start.
func (c *Controller) WatchAll(src Source, changed func(key string) bool) {
	c.addSource(src)
	src.OnChange(func(key string) {
		if changed != nil && !changed(key) {
			return
		}
		select {
		case c.all <- true:
		default: // one pending signal covers any number of changes
		}
	})
}

// addSource adds src to the sources the loop runs, once.
func (c *Controller) addSource(src Source) {
	if !slices.Contains(c.sources, src) {
		c.sources = append(c.sources, src)
	}
}

// EnqueueAll enqueues every key of every source given to Watch, mapped.
func (c *Controller) EnqueueAll() {
	for _, w := range c.watches {
		for _, key := range w.src.Keys() {
			for _, k := range w.m(key) {
				c.queue.Add(k)
			}
		}
	}
}

// Synced reports whether every source has listed once.
func (c *Controller) Synced() bool { return synced(c.sources) }

func synced(srcs []Source) bool {
	for _, src := range srcs {
		if !src.HasSynced() {
			return false
		}
	}
	return true
}

// waitSynced waits until every source has listed once, and reports false
// when ctx ended first.
func (c *Controller) waitSynced(ctx context.Context) bool { return WaitSynced(ctx, c.sources...) }

// WaitSynced waits until every source has listed once, and reports false
// when ctx ended first: for sources run by something else than a loop, as
// the dashboard's, which run while someone looks. Sources give no signal
// on their first list, so it looks every 10 ms (of real time).
func WaitSynced(ctx context.Context, srcs ...Source) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !synced(srcs) {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// resyncLoop enqueues every key on each tick of Options.Resync and on each
// change of a WatchAll source, until ctx ends.
func (c *Controller) resyncLoop(ctx context.Context) {
	var tick <-chan time.Time
	if c.resync > 0 {
		t := c.clock.NewTicker(c.resync)
		defer t.Stop()
		tick = t.C()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.all:
		case <-tick:
		}
		c.EnqueueAll()
	}
}
