package catalog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"berth.dev/berth/internal/store"
)

// Watched is the Reader every controller serves from: a Memory kept in
// step with etcd's catalog/, hosts/ and alive/ prefixes by list-then-watch
// caches.
type Watched struct {
	*Memory
	endpoints, alive *store.Cache
	// hosts holds of each host record only what the catalog shows,
	// decoded once when the record changes.
	hosts *store.Typed[nodeRecord]
	mu    sync.Mutex
	// seen is the etcd revision of the last endpoint change applied.
	seen int64
}

// nodeRecord is what the catalog shows of a host record. Decoding only
// these fields leaves out the host's figures, which change with every
// refresh of the record, and keeps what every host holds of every other
// small.
type nodeRecord struct {
	createRev int64 // the key's, the node's CreateIndex
	Metadata  struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Status struct {
		Addresses   []string `json:"addresses"`
		HTTPAddress string   `json:"httpAddress"`
		HTTPScheme  string   `json:"httpScheme"`
	} `json:"status"`
}

func decodeNodeRecord(kv store.KV) (nodeRecord, error) {
	r, err := store.DecodeJSON[nodeRecord](kv)
	r.createRev = kv.CreateRevision
	return r, err
}

// NewWatched returns a Reader over the catalog in s; call Run.
func NewWatched(s *store.Store) *Watched {
	w := &Watched{Memory: NewMemory()}
	w.endpoints = store.NewCache(s, store.CatalogPrefix, w.endpointChanged)
	// A record that does not decode leaves its node as it was.
	w.hosts = store.NewTyped(s, store.HostsPrefix, decodeNodeRecord, store.CacheOptions{Log: slog.New(slog.DiscardHandler)})
	w.hosts.OnChange(func(key string) { w.nodeChanged(strings.TrimPrefix(key, store.HostsPrefix)) })
	w.alive = store.NewCache(s, store.AlivePrefix, func(key string) { w.nodeChanged(strings.TrimPrefix(key, store.AlivePrefix)) })
	return w
}

// Run keeps the view up to date until ctx ends.
func (w *Watched) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, c := range []interface{ Run(context.Context) error }{w.endpoints, w.hosts, w.alive} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Run(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Synced reports whether every cache has listed once.
func (w *Watched) Synced() bool {
	return w.endpoints.HasSynced() && w.hosts.HasSynced() && w.alive.HasSynced()
}

// endpointChanged applies the change of one catalog key. A value that
// DecodeEndpoint refuses (one naming another host, service or id than its
// key, or not an endpoint) is no endpoint: whatever the key held before is
// removed, and nothing takes its place.
func (w *Watched) endpointChanged(key string) {
	host, service, id, ok := store.ParseCatalogKey(key)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	kv, present := w.endpoints.Get(key)
	if !present {
		w.DeleteEndpoint(host, service, id, 0)
		w.seen = max(w.seen, w.endpoints.Revision())
		return
	}
	defer func() { w.seen = max(w.seen, kv.ModRevision) }()
	e, err := DecodeEndpoint(kv)
	if err != nil {
		w.DeleteEndpoint(host, service, id, kv.ModRevision)
		return
	}
	w.PutEndpoint(e, kv.ModRevision)
}

func (w *Watched) nodeChanged(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.hosts.Get(store.HostKey(name))
	if !ok {
		w.DeleteNode(name, 0)
		return
	}
	if e.Err != nil {
		return
	}
	h := e.Value
	_, up := w.alive.Get(store.AliveKey(name))
	n := Node{Name: name, Up: up, Meta: h.Metadata.Labels, HTTPAddress: h.Status.HTTPAddress, HTTPScheme: h.Status.HTTPScheme, CreateIndex: h.createRev}
	if len(h.Status.Addresses) > 0 {
		n.Address = h.Status.Addresses[0]
	}
	if old, ok := w.Node(name); ok && sameNode(old, n) {
		return // a heartbeat that changed nothing the catalog shows
	}
	w.PutNode(n, e.ModRevision)
}

func sameNode(a, b Node) bool {
	if a.Name != b.Name || a.Address != b.Address || a.Up != b.Up || a.HTTPAddress != b.HTTPAddress || a.HTTPScheme != b.HTTPScheme || len(a.Meta) != len(b.Meta) {
		return false
	}
	for k, v := range a.Meta {
		if b.Meta[k] != v {
			return false
		}
	}
	return true
}

// WaitRevision waits until the catalog's view has seen etcd revision rev
// (at most two seconds: a slow watch makes a call slow, never stuck).
func (w *Watched) WaitRevision(ctx context.Context, rev int64) error {
	deadline := time.Now().Add(2 * time.Second)
	for w.seenRevision() < rev {
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func (w *Watched) seenRevision() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}
