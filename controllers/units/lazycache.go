package units

import (
	"context"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// everyStatusWait is how soon a Unit with dependencies is looked at again
// while the cache of every host's statuses fills for the first time.
const everyStatusWait = 50 * time.Millisecond

// lazyCache is a cache that runs only once something asked for it: a
// watch that most hosts never need is not opened on them. It is a source
// of the loop that the loop does not wait for: a reconcile that needs it
// starts it and looks again until it has listed (synced).
type lazyCache struct {
	cache *store.Typed[v1.InstanceStatus]
	want  chan struct{}
	once  sync.Once
}

// start has Run fill the cache, if it does not already; it does not wait.
func (l *lazyCache) start() { l.once.Do(func() { close(l.want) }) }

// synced reports whether the cache has listed once.
func (l *lazyCache) synced() bool { return l.cache.HasSynced() }

// Run runs the cache from the first start until ctx ends.
func (l *lazyCache) Run(ctx context.Context) error {
	select {
	case <-l.want:
		return l.cache.Run(ctx)
	case <-ctx.Done():
		return nil
	}
}

// HasSynced is true: the loop starts without the cache, which may never
// be wanted.
func (l *lazyCache) HasSynced() bool { return true }

// Keys returns none: a change of another host's status only makes the
// units related to it look again, and a resync looks at every unit.
func (l *lazyCache) Keys() []string { return nil }

// OnChange adds a handler, called with every key of the cache that
// changes.
func (l *lazyCache) OnChange(f func(key string)) { l.cache.OnChange(f) }
