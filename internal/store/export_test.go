package store

import "context"

// Test hooks, compiled only into this package's tests.

// Compact discards history before rev.
func Compact(ctx context.Context, s *Store, rev int64) error { return s.compact(ctx, rev) }

// SetCacheWatchHook makes c call f(fromRev) before each watch it opens.
func SetCacheWatchHook(c *Cache, f func(fromRev int64)) { c.t.watchHook = f }

// SetTypedWatchHook makes c call f(fromRev) before each watch it opens.
func SetTypedWatchHook[T any](c *Typed[T], f func(fromRev int64)) { c.watchHook = f }

// CacheLists returns how many times c listed its prefix.
func CacheLists(c *Cache) int64 { return c.t.lists.Load() }
