package gc

import (
	"context"
	"errors"
	"log/slog"

	"berth.dev/berth/internal/store"
)

// deleter deletes keys while their owners are absent, and counts what
// happened.
type deleter struct {
	s   *store.Store
	log *slog.Logger

	removed int
	// denied counts the deletes etcd's roles refused.
	denied int
	// err is the first error other than a lost compare or a refusal.
	err error
}

// delete deletes del.key while del.owner is absent, and reports whether it
// removed it.
func (d *deleter) delete(ctx context.Context, del deletion) bool {
	ok, err := d.s.DeleteIfAbsent(ctx, del.key, del.owner)
	switch {
	case err == nil && ok:
		d.removed++
		d.log.Debug("collected", "key", del.key, "why", del.why)
		return true
	case err == nil: // gone already
	case errors.Is(err, store.ErrConflict):
		d.log.Debug("kept: its owner exists again", "key", del.key, "owner", del.owner)
	case errors.Is(err, store.ErrPermissionDenied):
		d.denied++
	case d.err == nil:
		d.err = err
	}
	return false
}

// HostCollector removes one host's own statuses and history of objects
// that no longer exist, every Options.Every: each controller runs one for
// its host, whose keys etcd's roles let it write, so that they go even
// when no leader may remove other hosts' keys.
type HostCollector struct {
	s    *store.Store
	host string
	o    Options
}

// NewHostCollector returns the HostCollector of host; Options.HostGCAfter
// does not apply to it.
func NewHostCollector(s *store.Store, host string, o Options) *HostCollector {
	o.defaults()
	return &HostCollector{s: s, host: host, o: o}
}

// Run collects every Options.Every until ctx ends, then returns nil.
func (h *HostCollector) Run(ctx context.Context) error {
	every(ctx, h.o.Clock, h.o.Every, func() {
		n, err := CollectHost(ctx, h.s, h.host)
		switch {
		case err != nil && ctx.Err() == nil:
			h.o.Log.Debug("collect own keys", "err", err)
		case n > 0:
			h.o.Log.Info("garbage collected own keys", "keys", n)
		}
	})
	return nil
}

// CollectHost removes host's own statuses and history of objects that no
// longer exist, and returns how many keys it removed. Like Collect, it
// deletes a key only while its object is still absent, and returns the
// first error other than a lost compare.
func CollectHost(ctx context.Context, s *store.Store, host string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, passTimeout)
	defer cancel()
	keys, err := listKeys(ctx, s, store.ObjectsPrefix, store.HostStatusPrefix(host), store.HistoriesPrefix+host+"/")
	if err != nil {
		return 0, err
	}
	d := &deleter{s: s, log: slog.New(slog.DiscardHandler)}
	for _, del := range garbage(keys, nil) {
		d.delete(ctx, del)
	}
	return d.removed, d.err
}
