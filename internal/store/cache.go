package store

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Cache is a list-then-watch mirror of one prefix (an informer). Run lists the prefix,
// then watches from the listed revision+1 and applies every event; after a compaction
// or a broken watch it relists, with exponential backoff between attempts (never a
// tight loop). onChange is called with every key that changed: for each event, for
// every key after a relist (including keys that vanished across it). onChange runs on
// Run's goroutine after the cache was updated, so it may read the Cache; it should only
// enqueue the key. Get, List, HasSynced and Revision are safe for concurrent use.
type Cache struct {
	store    *Store
	prefix   string
	onChange func(key string)

	mu     sync.RWMutex
	items  map[string]KV
	rev    int64
	synced bool

	lists     atomic.Int64        // number of successful lists, for tests
	watchHook func(fromRev int64) // called before each watch starts, for tests
}

// Backoff bounds of the Cache's relists.
const (
	cacheMinBackoff = 100 * time.Millisecond
	cacheMaxBackoff = 10 * time.Second
)

// NewCache returns a Cache of every key under prefix; call Run to fill it.
// onChange may be nil.
func NewCache(s *Store, prefix string, onChange func(key string)) *Cache {
	if onChange == nil {
		onChange = func(string) {}
	}
	return &Cache{store: s, prefix: prefix, onChange: onChange, items: map[string]KV{}}
}

// Run fills and maintains the cache until ctx ends, then returns nil. List and watch
// errors are retried with backoff; while etcd is unreachable the cache keeps its last
// content.
func (c *Cache) Run(ctx context.Context) error {
	backoff := cacheMinBackoff
	wait := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(backoff*2, cacheMaxBackoff)
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		rev, err := c.relist(ctx)
		if err != nil {
			if !wait() {
				break
			}
			continue
		}
		start := time.Now()
		c.watch(ctx, rev+1)
		if ctx.Err() != nil {
			break
		}
		if time.Since(start) > cacheMaxBackoff {
			backoff = cacheMinBackoff // the watch was healthy for a while: start over
		}
		if !wait() {
			break
		}
	}
	return nil
}

// relist replaces the content with a fresh list and reports every key that is new,
// changed, unchanged or vanished.
func (c *Cache) relist(ctx context.Context) (int64, error) {
	kvs, rev, err := c.store.List(ctx, c.prefix)
	if err != nil {
		return 0, err
	}
	items := make(map[string]KV, len(kvs))
	for _, kv := range kvs {
		items[kv.Key] = kv
	}
	c.mu.Lock()
	var changed []string
	for k := range c.items {
		if _, ok := items[k]; !ok {
			changed = append(changed, k)
		}
	}
	for _, kv := range kvs {
		changed = append(changed, kv.Key)
	}
	c.items, c.rev, c.synced = items, rev, true
	c.mu.Unlock()
	c.lists.Add(1)
	sort.Strings(changed)
	for _, k := range changed {
		c.onChange(k)
	}
	return rev, nil
}

// watch applies events from fromRev until the watch ends.
func (c *Cache) watch(ctx context.Context, fromRev int64) {
	if c.watchHook != nil {
		c.watchHook(fromRev)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for b := range c.store.Watch(ctx, c.prefix, fromRev) {
		if b.Compacted || b.Err != nil {
			return
		}
		c.mu.Lock()
		for _, ev := range b.Events {
			if ev.Type == EventDelete {
				delete(c.items, ev.KV.Key)
			} else {
				c.items[ev.KV.Key] = ev.KV
			}
		}
		if b.Revision > c.rev {
			c.rev = b.Revision
		}
		c.mu.Unlock()
		for _, ev := range b.Events {
			c.onChange(ev.KV.Key)
		}
	}
}

// HasSynced reports whether the first list has completed.
func (c *Cache) HasSynced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// Get returns a copy of the cached key.
func (c *Cache) Get(key string) (KV, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	kv, ok := c.items[key]
	kv.Value = append([]byte(nil), kv.Value...)
	return kv, ok
}

// List returns copies of every cached key, sorted by key.
func (c *Cache) List() []KV {
	c.mu.RLock()
	out := make([]KV, 0, len(c.items))
	for _, kv := range c.items {
		kv.Value = append([]byte(nil), kv.Value...)
		out = append(out, kv)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Revision returns the etcd revision the cache reflects.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// WaitSynced waits until every cache has listed once, and reports false
// when ctx ended first. Caches give no signal on their first list, so it
// looks every 10 ms.
func WaitSynced(ctx context.Context, caches ...*Cache) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		synced := true
		for _, c := range caches {
			synced = synced && c.HasSynced()
		}
		if synced {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
