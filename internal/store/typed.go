package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// Entry is one key of a Typed cache.
type Entry[T any] struct {
	Key         string
	ModRevision int64
	// Value is the decoded value. Every reader of the cache shares it:
	// copy it before changing it. It is the zero T when Err is set.
	Value T
	// Err says why the stored value does not decode; the cache logged it
	// when the key changed.
	Err error
}

// ErrIgnored is what a decode function returns, wrapped or not, for a key
// its cache does not hold (a status of another kind under status/): the
// key is neither kept nor reported, and the cache's handlers are still
// told it changed.
var ErrIgnored = errors.New("not held by this cache")

// EventRecorder records events about objects, as internal/events'
// Recorder does.
type EventRecorder interface {
	Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any)
}

// CacheOptions configure a Typed cache.
type CacheOptions struct {
	// Log receives a warning for every value that does not decode, once
	// each time its key changes. Nil: slog.Default().
	Log *slog.Logger
	// Events, when set, also records an InvalidObject warning event on an
	// object that does not decode (caches of objects only).
	Events EventRecorder
}

// Typed is a list-then-watch mirror of one prefix (an informer) whose
// values are decoded once, when their key changes: sample-controller's
// lister and synced function in one, for one type of value.
//
// Run lists the prefix, then watches from the listed revision+1 and applies
// every event; after a compaction or a broken watch it relists, with
// exponential backoff between attempts (never a tight loop). A relist
// decodes again only the keys whose mod revision moved.
//
// A value that does not decode is kept as an Entry whose Err says why,
// logged once per change (and recorded as an event on the object when the
// cache holds objects and CacheOptions.Events is set): Get returns it, so a
// reader can tell "absent" from "unreadable" and leave an unreadable
// object alone; List leaves it out. A decode error is never returned by the
// cache's readers.
//
// Every handler added with OnChange is called with every key that changed:
// for each event, and for every key after a relist (including keys that
// vanished across it). Handlers run on Run's goroutine after the cache was
// updated, so they may read the cache; they should only enqueue keys. Get,
// List, Keys, HasSynced, Revision and OnChange are safe for concurrent use.
type Typed[T any] struct {
	store  *Store
	prefix string
	decode func(KV) (T, error)
	log    *slog.Logger
	events EventRecorder
	// object is the kind of the objects held, "" when they are not objects.
	object string

	hmu      sync.Mutex
	handlers []func(key string)

	// runMu guards the list and watch that the Runs under way share.
	runMu     sync.Mutex
	runners   int
	runCancel context.CancelFunc
	runDone   chan struct{}

	mu     sync.RWMutex
	items  map[string]Entry[T]
	rev    int64
	synced bool

	lists     atomic.Int64        // number of successful lists, for tests
	watchHook func(fromRev int64) // called before each watch starts, for tests
}

// Backoff bounds of a cache's relists.
const (
	cacheMinBackoff = 100 * time.Millisecond
	cacheMaxBackoff = 10 * time.Second
)

// NewTyped returns a cache of every key under prefix, each value decoded by
// decode; call Run to fill it.
func NewTyped[T any](s *Store, prefix string, decode func(KV) (T, error), o CacheOptions) *Typed[T] {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Typed[T]{store: s, prefix: prefix, decode: decode, log: o.Log, events: o.Events, items: map[string]Entry[T]{}}
}

// NewObjectCache returns a cache of every stored object of T's kind
// (objects/<kind>/), each decoded with its resourceVersion and defaulted
// (v1.Default) once. T is a pointer to a v1 kind: *v1.Job, *v1.Unit.
func NewObjectCache[T v1.Object](s *Store, o CacheOptions) *Typed[T] {
	var zero T
	kind := v1.KindOf(zero)
	if kind == "" {
		panic(fmt.Sprintf("store: NewObjectCache of %T, which is no v1 kind", zero))
	}
	c := NewTyped(s, ObjectPrefix(kind), DecodeObjectOf[T], o)
	c.object = kind
	return c
}

// DecodeObjectOf decodes a stored object of T's kind as an object cache
// does: with its resourceVersion, defaulted (v1.Default). It is for an
// object read from etcd when a cache may lag.
func DecodeObjectOf[T v1.Object](kv KV) (T, error) {
	var zero T
	o, err := decodeObject(v1.KindOf(zero), kv)
	if err != nil {
		return zero, err
	}
	v1.Default(o)
	t, ok := o.(T)
	if !ok {
		return zero, fmt.Errorf("decode %s: a %T, not a %T", kv.Key, o, zero)
	}
	return t, nil
}

// DecodeJSON decodes a value stored as JSON, as bindings and host records
// are.
func DecodeJSON[T any](kv KV) (T, error) {
	var v T
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return v, nil
}

// DecodeStatusOf returns a decode function for a cache of statuses
// (StatusesPrefix) that holds those of objects of kind, decoded by
// DecodeStatus, and ignores the others.
func DecodeStatusOf(kind string) func(KV) (v1.InstanceStatus, error) {
	return func(kv KV) (v1.InstanceStatus, error) {
		if k, _, _, ok := ParseStatusKey(kv.Key); ok && k != lower(kind) {
			return v1.InstanceStatus{}, ErrIgnored
		}
		return DecodeStatus(kv)
	}
}

// OnChange adds a handler, called with every key that changes (see
// Typed). Add handlers before Run: one added later misses what changed
// before.
func (c *Typed[T]) OnChange(f func(key string)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.handlers = append(c.handlers, f)
}

// Prefix returns the prefix the cache mirrors.
func (c *Typed[T]) Prefix() string { return c.prefix }

func (c *Typed[T]) changed(keys ...string) {
	c.hmu.Lock()
	handlers := slices.Clone(c.handlers)
	c.hmu.Unlock()
	for _, k := range keys {
		for _, h := range handlers {
			h(k)
		}
	}
}

// Run fills and maintains the cache until ctx ends, then returns nil. List
// and watch errors are retried with backoff; while etcd is unreachable the
// cache keeps its last content.
//
// Several loops may watch one cache, each calling Run: the cache lists and
// watches once, while any of their contexts lasts, and each Run returns
// when its own context ends (the last one once the watch has stopped).
func (c *Typed[T]) Run(ctx context.Context) error {
	c.runMu.Lock()
	c.runners++
	if c.runners == 1 {
		if c.runDone != nil {
			<-c.runDone // the run the last Run ended is stopping
		}
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		c.runCancel, c.runDone = cancel, done
		go func() {
			defer close(done)
			c.run(rctx)
		}()
	}
	cancel, done := c.runCancel, c.runDone
	c.runMu.Unlock()

	<-ctx.Done()
	c.runMu.Lock()
	c.runners--
	last := c.runners == 0
	c.runMu.Unlock()
	if last {
		cancel()
		<-done
	}
	return nil
}

// run lists and watches until ctx ends.
func (c *Typed[T]) run(ctx context.Context) {
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
}

// entry decodes kv, reusing old when it is of the same mod revision; ok is
// false for a key the cache ignores.
func (c *Typed[T]) entry(ctx context.Context, kv KV, old Entry[T], had bool) (Entry[T], bool) {
	if had && old.ModRevision == kv.ModRevision {
		return old, true
	}
	v, err := c.decode(kv)
	if errors.Is(err, ErrIgnored) {
		return Entry[T]{}, false
	}
	e := Entry[T]{Key: kv.Key, ModRevision: kv.ModRevision, Value: v, Err: err}
	if err != nil {
		var zero T
		e.Value = zero
		c.invalid(ctx, e)
	}
	return e, true
}

// invalid reports a value that does not decode.
func (c *Typed[T]) invalid(ctx context.Context, e Entry[T]) {
	c.log.Warn("stored value does not decode; left alone until it changes", "key", e.Key, "modRevision", e.ModRevision, "err", e.Err)
	if c.object != "" && c.events != nil {
		c.events.Event(ctx, c.object, strings.TrimPrefix(e.Key, c.prefix), v1.EventWarning, "InvalidObject",
			"the stored %s does not decode and is left alone until it changes: %v", lower(c.object), e.Err)
	}
}

// relist replaces the content with a fresh list and reports every key that
// is new, changed, unchanged or vanished.
func (c *Typed[T]) relist(ctx context.Context) (int64, error) {
	kvs, rev, err := c.store.List(ctx, c.prefix)
	if err != nil {
		return 0, err
	}
	c.mu.RLock()
	old := c.items
	c.mu.RUnlock()
	items := make(map[string]Entry[T], len(kvs))
	for _, kv := range kvs {
		prev, had := old[kv.Key]
		if e, ok := c.entry(ctx, kv, prev, had); ok {
			items[kv.Key] = e
		}
	}
	var changed []string
	for k := range old {
		if _, ok := items[k]; !ok {
			changed = append(changed, k)
		}
	}
	for _, kv := range kvs {
		changed = append(changed, kv.Key)
	}
	c.mu.Lock()
	c.items, c.rev, c.synced = items, rev, true
	c.mu.Unlock()
	c.lists.Add(1)
	sort.Strings(changed)
	c.changed(changed...)
	return rev, nil
}

// watch applies events from fromRev until the watch ends.
func (c *Typed[T]) watch(ctx context.Context, fromRev int64) {
	if c.watchHook != nil {
		c.watchHook(fromRev)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for b := range c.store.Watch(ctx, c.prefix, fromRev) {
		if b.Compacted || b.Err != nil {
			return
		}
		// Decoded outside the lock: readers never wait for a decode.
		decoded := make([]Entry[T], len(b.Events))
		keep := make([]bool, len(b.Events))
		for i, ev := range b.Events {
			if ev.Type != EventDelete {
				decoded[i], keep[i] = c.entry(ctx, ev.KV, Entry[T]{}, false)
			}
		}
		keys := make([]string, len(b.Events))
		c.mu.Lock()
		for i, ev := range b.Events {
			keys[i] = ev.KV.Key
			if keep[i] {
				c.items[ev.KV.Key] = decoded[i]
			} else {
				delete(c.items, ev.KV.Key)
			}
		}
		if b.Revision > c.rev {
			c.rev = b.Revision
		}
		c.mu.Unlock()
		c.changed(keys...)
	}
}

// HasSynced reports whether the first list has completed.
func (c *Typed[T]) HasSynced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// Get returns the entry of key; ok is false when the cache holds no such
// key. An entry whose Err is set holds a value that does not decode.
func (c *Typed[T]) Get(key string) (e Entry[T], ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok = c.items[key]
	return e, ok
}

// List returns every entry whose value decodes, sorted by key.
func (c *Typed[T]) List() []Entry[T] {
	c.mu.RLock()
	out := make([]Entry[T], 0, len(c.items))
	for _, e := range c.items {
		if e.Err == nil {
			out = append(out, e)
		}
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Keys returns every key held, those whose value does not decode included,
// sorted.
func (c *Typed[T]) Keys() []string {
	c.mu.RLock()
	out := make([]string, 0, len(c.items))
	for k := range c.items {
		out = append(out, k)
	}
	c.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Revision returns the etcd revision the cache reflects.
func (c *Typed[T]) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}
