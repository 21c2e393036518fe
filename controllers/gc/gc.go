// Package gc is the leading controller's garbage collector: it removes the
// status, history, bindings and events of objects that no longer exist,
// the version records of Jobs that no longer exist (where etcd's roles
// let it), and the records, statuses and history of hosts Down for longer
// than HostGCAfter. A host Down for less stays, shown DOWN. Each host
// removes its own statuses and history of objects that no longer exist
// (HostCollector), which etcd's roles always let it.
//
// A pass reads the keys, decides with a pure function what is garbage
// (garbage, table-tested) and deletes it. An object created, or a host
// back up, between the read and the delete owns keys the decision took
// for garbage. So no key is deleted on that decision alone: each is
// deleted in one etcd transaction with the check that its owner (the
// object's key, the host's heartbeat) is still absent
// (store.DeleteIfAbsent). A key whose owner came back is kept.
package gc

import (
	"context"
	"log/slog"
	"time"

	"k8s.io/utils/clock"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// Options configure the collectors.
type Options struct {
	// Every is the period of a collection (default 1m).
	Every time.Duration
	// HostGCAfter is how long a host must be Down before it is forgotten
	// (0: never).
	HostGCAfter time.Duration
	Log         *slog.Logger
	// Clock times the passes and how long hosts have been Down (default
	// the real clock).
	Clock clock.WithTicker
}

func (o *Options) defaults() {
	if o.Every <= 0 {
		o.Every = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
}

// passTimeout bounds one pass of a collector.
const passTimeout = 30 * time.Second

// Collector removes what has no owner. Run it on the leader only.
type Collector struct {
	s *store.Store
	o Options
	// downSince is when this collector first saw each host Down.
	downSince map[string]time.Time
	// deniedSaid: the log said once that etcd refused a removal.
	deniedSaid bool
}

// New returns a Collector.
func New(s *store.Store, o Options) *Collector {
	o.defaults()
	return &Collector{s: s, o: o, downSince: map[string]time.Time{}}
}

// Run collects every Options.Every until ctx ends, then returns nil. A
// pass that fails is logged; the next one tries again.
func (c *Collector) Run(ctx context.Context) error {
	every(ctx, c.o.Clock, c.o.Every, func() {
		if err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("garbage collection", "err", err)
		}
	})
	return nil
}

// Collect makes one pass. It returns an error when it could not read the
// keys, or the first error of a delete other than a lost compare (the
// owner came back) or a refusal of etcd's roles (said once in the log);
// every other delete of the pass was tried.
func (c *Collector) Collect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, passTimeout)
	defer cancel()
	// Objects first: an object created after this read owns keys read
	// next, which DeleteIfAbsent keeps.
	keys, err := listKeys(ctx, c.s, store.ObjectsPrefix, store.BindingsPrefix, store.AllEventsPrefix, store.StatusesPrefix, store.HistoriesPrefix)
	if err != nil {
		return err
	}
	gone, err := c.hostsGone(ctx)
	if err != nil {
		return err
	}
	d := &deleter{s: c.s, log: c.o.Log}
	for _, del := range garbage(keys, gone) {
		if d.delete(ctx, del) && del.forgets != "" {
			delete(c.downSince, del.forgets)
			c.o.Log.Info("host forgotten", "host", del.forgets, "after", c.o.HostGCAfter)
		}
	}
	if d.removed > 0 {
		c.o.Log.Info("garbage collected", "keys", d.removed)
	}
	if d.denied > 0 && !c.deniedSaid {
		c.deniedSaid = true
		c.o.Log.Info("etcd's roles do not let this controller remove some keys it collects (other hosts' statuses and history need berth-gc, Jobs' version records berth-gitops); they stay until a controller with those roles leads", "keys", d.denied)
	}
	return d.err
}

// hostsGone returns the hosts Down for longer than HostGCAfter, counted
// from when this collector first saw each Down, or from its last
// heartbeat when that is earlier.
func (c *Collector) hostsGone(ctx context.Context) (map[string]bool, error) {
	alive, err := c.s.ListKeys(ctx, store.AlivePrefix)
	if err != nil {
		return nil, err
	}
	up := map[string]bool{}
	for _, k := range alive {
		if h, ok := store.ParseAliveKey(k); ok {
			up[h] = true
		}
	}
	hosts, _, err := c.s.List(ctx, store.HostsPrefix)
	if err != nil {
		return nil, err
	}
	now := c.o.Clock.Now()
	gone := map[string]bool{}
	for _, kv := range hosts {
		name, ok := store.ParseHostKey(kv.Key)
		if !ok {
			continue
		}
		if up[name] {
			delete(c.downSince, name)
			continue
		}
		since, ok := c.downSince[name]
		if !ok {
			since = now
			// A record that does not decode counts from now.
			if h, err := store.DecodeJSON[v1.Host](kv); err == nil && !h.Status.Heartbeat.IsZero() && h.Status.Heartbeat.Before(since) {
				since = h.Status.Heartbeat
			}
			c.downSince[name] = since
		}
		if c.o.HostGCAfter > 0 && now.Sub(since) > c.o.HostGCAfter {
			gone[name] = true
		}
	}
	return gone, nil
}

// listKeys lists the keys under each prefix, in order.
func listKeys(ctx context.Context, s *store.Store, prefixes ...string) ([]string, error) {
	var keys []string
	for _, p := range prefixes {
		ks, err := s.ListKeys(ctx, p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	return keys, nil
}

// every calls f at once and then every period of c until ctx ends.
func every(ctx context.Context, c clock.WithTicker, period time.Duration, f func()) {
	t := c.NewTicker(period)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}
