package store

import (
	"context"
)

// Cache is a Typed cache of raw values: a list-then-watch mirror of one
// prefix whose readers decode what they read. Prefer a Typed cache, which
// decodes each value once; Cache serves readers that only need keys or
// bytes.
//
// onChange is called with every key that changed: for each event, for
// every key after a relist (including keys that vanished across it). It
// runs on Run's goroutine after the cache was updated, so it may read the
// Cache; it should only enqueue the key. Get, List, HasSynced and Revision
// are safe for concurrent use.
type Cache struct {
	t *Typed[KV]
}

// NewCache returns a Cache of every key under prefix; call Run to fill it.
// onChange may be nil.
func NewCache(s *Store, prefix string, onChange func(key string)) *Cache {
	c := &Cache{t: NewTyped(s, prefix, func(kv KV) (KV, error) { return kv, nil }, CacheOptions{})}
	if onChange != nil {
		c.t.OnChange(onChange)
	}
	return c
}

// Run fills and maintains the cache until ctx ends, then returns nil; see
// Typed.Run.
func (c *Cache) Run(ctx context.Context) error { return c.t.Run(ctx) }

// OnChange adds a handler, called with every key that changes. Add
// handlers before Run.
func (c *Cache) OnChange(f func(key string)) { c.t.OnChange(f) }

// HasSynced reports whether the first list has completed.
func (c *Cache) HasSynced() bool { return c.t.HasSynced() }

// Get returns a copy of the cached key.
func (c *Cache) Get(key string) (KV, bool) {
	e, ok := c.t.Get(key)
	kv := e.Value
	kv.Value = append([]byte(nil), kv.Value...)
	return kv, ok
}

// List returns copies of every cached key, sorted by key.
func (c *Cache) List() []KV {
	entries := c.t.List()
	out := make([]KV, len(entries))
	for i, e := range entries {
		out[i] = e.Value
		out[i].Value = append([]byte(nil), e.Value.Value...)
	}
	return out
}

// Keys returns every cached key, sorted.
func (c *Cache) Keys() []string { return c.t.Keys() }

// Revision returns the etcd revision the cache reflects.
func (c *Cache) Revision() int64 { return c.t.Revision() }
