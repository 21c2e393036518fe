package units

import (
	"context"
	"sync"
	"time"

	"berth.dev/berth/internal/store"
)

// everyStatusWait is how soon a Unit with dependencies is looked at again
// while the cache of every host's statuses fills for the first time.
const everyStatusWait = 50 * time.Millisecond

// lazyCache is a cache that runs only once something asked for it: a
// watch that most hosts never need is not opened on them.
type lazyCache struct {
	cache *store.Cache
	want  chan struct{}
	once  sync.Once
}

func newLazyCache(c *store.Cache) *lazyCache {
	return &lazyCache{cache: c, want: make(chan struct{})}
}

// start has run fill the cache, if it does not already; it does not wait.
func (l *lazyCache) start() { l.once.Do(func() { close(l.want) }) }

// synced reports whether the cache has listed once.
func (l *lazyCache) synced() bool { return l.cache.HasSynced() }

// run runs the cache from the first start until ctx ends.
func (l *lazyCache) run(ctx context.Context) {
	select {
	case <-l.want:
		_ = l.cache.Run(ctx)
	case <-ctx.Done():
	}
}
