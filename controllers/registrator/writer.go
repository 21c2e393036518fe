package registrator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"berth.dev/berth/internal/store"
)

// writer owns the lease this host's endpoints live on, and knows what it
// wrote on it: catalog key → value. It is not safe for concurrent use: the
// Registrator's syncMu serialises it.
type writer struct {
	store *store.Store
	host  string
	ttl   time.Duration
	log   *slog.Logger
	// lost is called when the lease is lost, to register everything again
	// on a new one.
	lost func()

	lease   int64
	expired <-chan struct{} // closed when the lease is lost
	stopKA  context.CancelFunc
	written map[string]string // catalog key -> value written on the current lease
	lastRev int64             // revision of the last write
}

// ensureLease grants the lease the endpoints live on, and takes over the
// endpoints this host wrote before (on an older lease) so that they are
// rewritten or removed.
func (w *writer) ensureLease(ctx context.Context) error {
	if w.expired != nil {
		select {
		case <-w.expired:
			w.log.Warn("catalog lease lost; registering again")
			w.stopKA()
			w.lease, w.expired = 0, nil
		default:
		}
	}
	if w.lease != 0 {
		return nil
	}
	lease, err := w.store.Grant(ctx, w.ttl)
	if err != nil {
		return fmt.Errorf("grant catalog lease: %w", err)
	}
	// The lease is kept alive past ctx, until revoke: the endpoints stay
	// while this host runs.
	kctx, stop := context.WithCancel(context.Background())
	expired, err := w.store.KeepAlive(kctx, lease)
	if err != nil {
		stop()
		return fmt.Errorf("keep catalog lease alive: %w", err)
	}
	w.lease, w.expired, w.stopKA = lease, expired, stop
	go func() {
		select {
		case <-expired:
			w.lost()
		case <-kctx.Done():
		}
	}()
	// Everything this host registered before is ours to rewrite or remove.
	kvs, _, err := w.store.List(ctx, store.CatalogHostPrefix(w.host))
	if err != nil {
		return fmt.Errorf("list catalog: %w", err)
	}
	w.written = map[string]string{}
	for _, kv := range kvs {
		w.written[kv.Key] = "" // differs from anything: rewritten on the new lease
	}
	return nil
}

// put writes an endpoint on the lease.
func (w *writer) put(ctx context.Context, p put) error {
	rev, err := w.store.Put(ctx, p.key, []byte(p.value), w.lease)
	if err != nil {
		return fmt.Errorf("register %s/%s: %w", p.endpoint.Service, p.endpoint.ID, err)
	}
	w.lastRev = max(w.lastRev, rev)
	w.written[p.key] = p.value
	return nil
}

// delete removes an endpoint.
func (w *writer) delete(ctx context.Context, d deletion) error {
	rev, err := w.store.Txn(ctx, []store.Op{{Key: d.key, Delete: true, Force: true}})
	if err != nil {
		return fmt.Errorf("deregister %s: %w", d.key, err)
	}
	w.lastRev = max(w.lastRev, rev)
	delete(w.written, d.key)
	return nil
}

// revoke gives the lease up, and the endpoints on it with it.
func (w *writer) revoke() {
	if w.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	w.stopKA()
	if err := w.store.Revoke(ctx, w.lease); err != nil {
		w.log.Warn("revoke catalog lease", "err", err)
	}
	w.lease, w.expired = 0, nil
}
