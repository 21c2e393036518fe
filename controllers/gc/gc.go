// Package gc is the leading controller's garbage collector: it removes the
// status, history, bindings and events of objects that no longer exist,
// the version records of Jobs that no longer exist (where etcd's roles
// let it), and the records, statuses and history of hosts Down for longer
// than HostGCAfter. A host Down for less stays, shown DOWN.
//
// The collector decides from a read of the objects and hosts, then reads
// the keys they own; an object created, or a host back up, in between
// owns keys the first read did not see. So no key is deleted on that
// decision alone: each is deleted in one etcd transaction with the check
// that its owner (the object's key, the host's heartbeat) is still absent
// (store.DeleteIfAbsent). A key whose owner came back is kept.
package gc

import (
	"context"
	"encoding/json"
	"errors"
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
	// deniedSaid: the log said once that etcd refused a removal.
	deniedSaid bool
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
	for _, kind := range v1.AppliableKinds {
		keys, err := c.s.ListKeys(ctx, store.ObjectPrefix(kind))
		if err != nil {
			return err
		}
		for _, k := range keys {
			objects[strings.ToLower(kind)+"/"+k[strings.LastIndexByte(k, '/')+1:]] = true
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
	removed, denied := 0, 0
	// del deletes key while owner (an object's or a heartbeat's key) is
	// absent.
	del := func(key, owner, why string) {
		ok, err := c.s.DeleteIfAbsent(ctx, key, owner)
		switch {
		case err == nil && ok:
			removed++
			c.o.Log.Debug("collected", "key", key, "why", why)
		case errors.Is(err, store.ErrConflict):
			c.o.Log.Debug("kept: its owner exists again", "key", key, "owner", owner)
		case errors.Is(err, store.ErrPermissionDenied):
			denied++
		}
	}
	// bindings/<kind>/<name>, events/<kind>/<name>/<id>.
	for _, area := range []string{"bindings/", "events/"} {
		keys, err := c.s.ListKeys(ctx, store.Prefix+area)
		if err != nil {
			return err
		}
		for _, k := range keys {
			parts := strings.Split(strings.TrimPrefix(k, store.Prefix+area), "/")
			if len(parts) < 2 {
				continue
			}
			if obj := parts[0] + "/" + parts[1]; !objects[obj] {
				del(k, store.ObjectKey(parts[0], parts[1]), "object "+obj+" deleted")
			}
		}
	}
	// status/<host>/<kind>/<name> and history/<host>/<kind>/<name>/<seq>:
	// every host removes its own (CollectHost), and this collector those
	// of every host where etcd's roles let it (berth-gc): a host down when
	// its object was deleted, or gone for longer than HostGCAfter.
	for _, prefix := range []string{store.StatusesPrefix, store.HistoriesPrefix} {
		keys, err := c.s.ListKeys(ctx, prefix)
		if err != nil {
			return err
		}
		parse := store.ParseStatusKey
		if prefix == store.HistoriesPrefix {
			parse = store.ParseHistoryKey
		}
		for _, k := range keys {
			kind, name, host, ok := parse(k)
			switch {
			case !ok:
			case gone[host]:
				del(k, store.AliveKey(host), "host "+host+" gone")
			case !objects[kind+"/"+ownerName(name)]:
				del(k, store.ObjectKey(kind, ownerName(name)), "object "+kind+"/"+ownerName(name)+" deleted")
			}
		}
	}
	n, err := c.collectJobVersions(ctx)
	removed += n
	if err != nil {
		return err
	}
	for name := range gone {
		before := removed
		del(store.HostKey(name), store.AliveKey(name), "host down for longer than --host-gc-after")
		if removed > before {
			delete(c.downSince, name)
			c.o.Log.Info("host forgotten", "host", name, "after", c.o.HostGCAfter)
		}
	}
	if removed > 0 {
		c.o.Log.Info("garbage collected", "keys", removed)
	}
	if denied > 0 && !c.deniedSaid {
		c.deniedSaid = true
		c.o.Log.Info("etcd's roles do not let this controller remove other hosts' keys; they stay until a controller with the berth-gc role leads", "keys", denied)
	}
	return nil
}

// ownerName is the object a status or history belongs to: a Timer's run
// reports under <timer>/<run>, owned by the Timer.
func ownerName(name string) string {
	owner, _, _ := strings.Cut(name, "/")
	return owner
}

// CollectHost removes host's own statuses and history of objects that no
// longer exist: each controller runs it for its own keys, which etcd's
// roles let it write. Like Collect, it deletes a key only while its object
// is still absent.
func CollectHost(ctx context.Context, s *store.Store, host string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	removed := 0
	objects, err := s.ListKeys(ctx, store.Prefix+"objects/")
	if err != nil {
		return 0, err
	}
	exists := make(map[string]bool, len(objects)) // "unit/name"
	for _, k := range objects {
		exists[strings.TrimPrefix(k, store.Prefix+"objects/")] = true
	}
	for _, prefix := range []string{store.HostStatusPrefix(host), store.HistoriesPrefix + host + "/"} {
		keys, err := s.ListKeys(ctx, prefix)
		if err != nil {
			return removed, err
		}
		for _, k := range keys {
			parts := strings.SplitN(strings.TrimPrefix(k, prefix), "/", 3)
			if len(parts) < 2 || exists[parts[0]+"/"+parts[1]] {
				continue
			}
			if ok, err := s.DeleteIfAbsent(ctx, k, store.ObjectKey(parts[0], parts[1])); err == nil && ok {
				removed++
			}
		}
	}
	return removed, nil
}
