// Package gc is the leading controller's garbage collector: it removes the
// status, history, bindings and events of objects that no longer exist,
// and the records, statuses and history of hosts Down for longer than
// HostGCAfter. A host Down for less stays, shown DOWN.
package gc

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// Options configure the collector.
type Options struct {
	// Every is the period of a collection (default 1m).
	Every time.Duration
	// HostGCAfter is how long a host must be Down before it is forgotten
	// (0: never).
	HostGCAfter time.Duration
	Log         *slog.Logger
}

// Collector removes what has no owner. Run it on the leader only.
type Collector struct {
	s *store.Store
	o Options
	// downSince is when this collector first saw each host Down.
	downSince map[string]time.Time
}

// New returns a Collector.
func New(s *store.Store, o Options) *Collector {
	if o.Every <= 0 {
		o.Every = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Collector{s: s, o: o, downSince: map[string]time.Time{}}
}

// Run collects every Options.Every until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.o.Every)
	defer t.Stop()
	for {
		if err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("garbage collection", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Collect makes one pass and returns the number of keys removed.
func (c *Collector) Collect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	objects := map[string]bool{} // "unit/name"
	for _, kind := range []string{v1.KindUnit, v1.KindJob, v1.KindService, v1.KindGitSource} {
		kvs, _, err := c.s.List(ctx, store.ObjectPrefix(kind))
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			objects[strings.ToLower(kind)+"/"+kv.Key[strings.LastIndexByte(kv.Key, '/')+1:]] = true
		}
	}
	alive := map[string]bool{}
	kvs, _, err := c.s.List(ctx, store.AlivePrefix)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		alive[strings.TrimPrefix(kv.Key, store.AlivePrefix)] = true
	}
	gone := map[string]bool{} // hosts to forget
	hosts, _, err := c.s.List(ctx, store.HostsPrefix)
	if err != nil {
		return err
	}
	for _, kv := range hosts {
		name := strings.TrimPrefix(kv.Key, store.HostsPrefix)
		if alive[name] {
			delete(c.downSince, name)
			continue
		}
		since, ok := c.downSince[name]
		if !ok {
			since = time.Now()
			var h v1.Host
			if json.Unmarshal(kv.Value, &h) == nil && !h.Status.Heartbeat.IsZero() && h.Status.Heartbeat.Before(since) {
				since = h.Status.Heartbeat
			}
			c.downSince[name] = since
		}
		if c.o.HostGCAfter > 0 && time.Since(since) > c.o.HostGCAfter {
			gone[name] = true
		}
	}
	removed := 0
	del := func(key, why string) {
		if ok, err := c.s.Delete(ctx, key); err == nil && ok {
			removed++
			c.o.Log.Debug("collected", "key", key, "why", why)
		}
	}
	// status/<kind>/<name>/<host>, history/<kind>/<name>/<host>/<seq>,
	// bindings/<kind>/<name>, events/<kind>/<name>/<id>.
	for _, area := range []string{"status/", "history/", "bindings/", "events/"} {
		kvs, _, err := c.s.List(ctx, store.Prefix+area)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			parts := strings.Split(strings.TrimPrefix(kv.Key, store.Prefix+area), "/")
			if len(parts) < 2 {
				continue
			}
			obj := parts[0] + "/" + parts[1]
			if !objects[obj] {
				del(kv.Key, "object "+obj+" deleted")
				continue
			}
			if (area == "status/" || area == "history/") && len(parts) >= 3 && gone[parts[2]] {
				del(kv.Key, "host "+parts[2]+" gone")
			}
		}
	}
	for name := range gone {
		del(store.HostKey(name), "host down for longer than --host-gc-after")
		delete(c.downSince, name)
		c.o.Log.Info("host forgotten", "host", name, "after", c.o.HostGCAfter)
	}
	if removed > 0 {
		c.o.Log.Info("garbage collected", "keys", removed)
	}
	return nil
}
