package units

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// historyWriter keeps a bounded history of a Job's instances on this host
// under history/<host>/job/<name>/<seq>.
type historyWriter struct {
	s    *store.Store
	host string

	mu     sync.Mutex
	counts map[string]int // job -> entries known on this host (-1: unknown)
}

func newHistoryWriter(s *store.Store, host string) *historyWriter {
	return &historyWriter{s: s, host: host, counts: map[string]int{}}
}

// MaxHistory is how many entries a Job keeps per host.
const MaxHistory = 100

func (h *historyWriter) record(ctx context.Context, job string, e v1.HistoryEntry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	prefix := store.HistoryPrefix(v1.KindJob, job, h.host)
	key := fmt.Sprintf("%s%020d", prefix, e.Timestamp.UnixNano())
	if _, err := h.s.Put(ctx, key, b, 0); err != nil {
		return // history is best effort; status is the source of truth
	}
	h.mu.Lock()
	n, known := h.counts[job]
	h.counts[job] = n + 1
	h.mu.Unlock()
	if known && n+1 <= MaxHistory {
		return
	}
	kvs, _, err := h.s.List(ctx, prefix)
	if err != nil {
		return
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	for len(kvs) > MaxHistory {
		_, _ = h.s.Delete(ctx, kvs[0].Key)
		kvs = kvs[1:]
	}
	h.mu.Lock()
	h.counts[job] = len(kvs)
	h.mu.Unlock()
}
