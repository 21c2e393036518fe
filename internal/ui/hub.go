package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// hub keeps the model while browsers watch and sends them its changes.
//
// Its caches (its feeds' store.Typed, one list-then-watch per prefix,
// each value decoded once when its key changes) run only while
// someone looks: the first subscriber (a browser's stream, or a request
// for an object's detail) starts them, and they stop when the last one
// has been gone for linger. Every changed key marks the rows it changes;
// flush, at most every coalesce, builds those rows, encodes each once,
// and sends those whose encoding changed to every subscriber as one
// message. A subscriber that cannot keep up (its queue is full) is
// dropped: its browser reconnects and starts again from a snapshot.
type hub struct {
	st       *store.Store
	cat      catalog.Reader
	self     string
	linger   time.Duration
	coalesce time.Duration
	log      *slog.Logger

	wake chan struct{} // a flush is due

	mu      sync.Mutex
	base    context.Context // Run's
	closing bool            // the server shuts down: no new subscribers
	m       *model
	gen     int                // of the running caches; notes of earlier ones are ignored
	sources []source           // the running feeds' caches
	primed  bool               // the model holds what the caches first listed
	cancel  context.CancelFunc // of the caches, nil when they do not run
	wg      sync.WaitGroup     // the caches' goroutines
	users   int                // subscribers and detail requests
	timer   *time.Timer        // stops the caches after linger
	subs    map[*subscriber]struct{}
	dirty   map[rowID]bool
	svcs    bool                 // the catalog changed: rebuild every service row
	sent    map[rowID][]byte     // each row as last sent
	eventAt map[string]time.Time // event key → last timestamp, for the snapshot's newest events
}

// subscriber is one browser's stream.
type subscriber struct {
	ch chan []byte // messages; closed when the hub drops it
}

// subscriberQueue is how many messages a subscriber may be behind before
// it is dropped.
const subscriberQueue = 64

// snapshotEvents bounds the events a snapshot carries: the newest.
const snapshotEvents = 300

func newHub(st *store.Store, cat catalog.Reader, self string, log *slog.Logger) *hub {
	return &hub{
		st: st, cat: cat, self: self, log: log,
		linger: 30 * time.Second, coalesce: 100 * time.Millisecond,
		wake: make(chan struct{}, 1), subs: map[*subscriber]struct{}{},
	}
}

// run flushes changes until ctx ends, then stops the caches.
func (h *hub) run(ctx context.Context) {
	h.mu.Lock()
	h.base = ctx
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.stopLocked()
		for s := range h.subs {
			close(s.ch)
			delete(h.subs, s)
		}
		h.mu.Unlock()
		h.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.coalesce):
		}
		h.mu.Lock()
		h.flushLocked()
		h.mu.Unlock()
	}
}

// acquire starts the caches unless they run, and counts a user until
// release. It reports false when the hub is not running (no run, or run
// has ended).
func (h *hub) acquire() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.base == nil || h.base.Err() != nil || h.closing {
		return false
	}
	h.users++
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	if h.cancel == nil {
		h.startLocked()
	}
	return true
}

// release ends a use; the caches stop after linger without users.
func (h *hub) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users--
	if h.users > 0 || h.cancel == nil {
		return
	}
	gen := h.gen
	h.timer = time.AfterFunc(h.linger, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.users == 0 && h.gen == gen {
			h.stopLocked()
		}
	})
}

func (h *hub) startLocked() {
	ctx, cancel := context.WithCancel(h.base)
	h.cancel = cancel
	h.gen++
	gen := h.gen
	h.m = newModel(h.self)
	h.dirty, h.sent, h.eventAt, h.svcs = map[rowID]bool{}, map[rowID][]byte{}, map[string]time.Time{}, true
	h.sources, h.primed = nil, false
	for _, f := range feeds {
		src := f.newSource(h.st, quiet)
		src.OnChange(func(key string) {
			h.note(gen, func(m *model) []rowID { return src.note(m, key) })
		})
		h.sources = append(h.sources, src)
		h.wg.Go(func() { _ = src.Run(ctx) })
	}
	if h.cat != nil {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			var idx int64
			for ctx.Err() == nil {
				idx = h.cat.Wait(ctx, "", idx)
				h.mu.Lock()
				if h.gen == gen {
					h.svcs = true
				}
				h.mu.Unlock()
				h.signal()
			}
		}()
	}
	h.log.Debug("dashboard caches started")
}

func (h *hub) stopLocked() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	h.gen++
	h.m, h.sent, h.dirty, h.eventAt = nil, nil, nil, nil
	h.log.Debug("dashboard caches stopped")
}

func (h *hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// note applies a change of a key of the caches of generation gen to the
// model, and marks the rows it changes.
func (h *hub) note(gen int, apply func(m *model) []rowID) {
	h.mu.Lock()
	if h.gen != gen || h.m == nil {
		h.mu.Unlock()
		return
	}
	for _, id := range apply(h.m) {
		h.dirty[id] = true
	}
	h.mu.Unlock()
	h.signal()
}

// synced waits until every cache has listed once, or ctx ends; then the
// model holds at least what they listed. (A cache reports each key of its
// first list after it says it has synced: the model reads the lists
// itself rather than wait for them.)
func (h *hub) synced(ctx context.Context) bool {
	h.mu.Lock()
	sources, gen := h.sources, h.gen
	h.mu.Unlock()
	srcs := make([]reconcile.Source, len(sources))
	for i, src := range sources {
		srcs[i] = src
	}
	if !reconcile.WaitSynced(ctx, srcs...) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == gen && !h.primed {
		for _, src := range sources {
			for _, id := range src.prime(h.m) {
				h.dirty[id] = true
			}
		}
		h.primed = true
	}
	return true
}

// flushLocked builds the dirty rows and sends those that changed.
func (h *hub) flushLocked() {
	if h.m == nil || (len(h.dirty) == 0 && !h.svcs) {
		return
	}
	var changed []rowID
	var deleted []rowID
	update := func(id rowID, row any) {
		if row == nil {
			if _, ok := h.sent[id]; ok {
				delete(h.sent, id)
				delete(h.eventAt, id.name)
				deleted = append(deleted, id)
			}
			return
		}
		b, err := json.Marshal(row)
		if err != nil {
			h.log.Warn("dashboard: encode row", "kind", id.kind, "name", id.name, "err", err)
			return
		}
		if old, ok := h.sent[id]; ok && bytes.Equal(old, b) {
			return
		}
		h.sent[id] = b
		if ev, ok := row.(eventRow); ok {
			h.eventAt[id.name] = ev.Last
		}
		changed = append(changed, id)
	}
	for id := range h.dirty {
		update(id, h.m.row(id))
	}
	clear(h.dirty)
	if h.svcs {
		h.svcs = false
		names := map[string]bool{}
		for _, n := range h.m.serviceNames(h.cat) {
			names[n] = true
		}
		for id := range h.sent {
			if id.kind == rowService {
				names[id.name] = true
			}
		}
		for n := range names {
			update(rowID{rowService, n}, h.m.serviceRow(n, h.cat))
		}
	}
	if len(changed) == 0 && len(deleted) == 0 {
		return
	}
	msg := h.message("update", changed, deleted)
	for s := range h.subs {
		select {
		case s.ch <- msg:
		default:
			close(s.ch) // too far behind: it starts again from a snapshot
			delete(h.subs, s)
		}
	}
}

// message encodes rows (as last sent) and deletions as one message of the
// stream: {"type":..,"rows":[{"kind","name","row"}],"deleted":[{"kind","name"}]}.
func (h *hub) message(typ string, rows, deleted []rowID) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":`)
	writeJSONString(&b, typ)
	b.WriteString(`,"host":`)
	writeJSONString(&b, h.self)
	b.WriteString(`,"rows":[`)
	for i, id := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		writeID(&b, id)
		b.WriteString(`,"row":`)
		b.Write(h.sent[id])
		b.WriteByte('}')
	}
	b.WriteString(`],"deleted":[`)
	for i, id := range deleted {
		if i > 0 {
			b.WriteByte(',')
		}
		writeID(&b, id)
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.Bytes()
}

func writeID(b *bytes.Buffer, id rowID) {
	b.WriteString(`{"kind":`)
	writeJSONString(b, id.kind)
	b.WriteString(`,"name":`)
	writeJSONString(b, id.name)
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}

// subscribe flushes what is pending, registers a subscriber and returns
// it with the snapshot it starts from: every row, and the newest events.
// It returns nil when the caches do not run.
func (h *hub) subscribe() (*subscriber, []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		return nil, nil
	}
	h.flushLocked()
	var rows, events []rowID
	for id := range h.sent {
		if id.kind == rowEvent {
			events = append(events, id)
		} else {
			rows = append(rows, id)
		}
	}
	sort.Slice(events, func(i, j int) bool { return h.eventAt[events[i].name].After(h.eventAt[events[j].name]) })
	rows = append(rows, events[:min(len(events), snapshotEvents)]...)
	s := &subscriber{ch: make(chan []byte, subscriberQueue)}
	h.subs[s] = struct{}{}
	return s, h.message("snapshot", rows, nil)
}

// closeStreams ends every stream and refuses new ones: an HTTP server
// that shuts down waits for its connections, and a stream never ends by
// itself.
func (h *hub) closeStreams() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closing = true
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
}

// unsubscribe forgets s (unless the hub dropped it already).
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// read calls f with the model under the hub's lock; false when the
// caches do not run.
func (h *hub) read(f func(m *model)) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		return false
	}
	f(h.m)
	return true
}
