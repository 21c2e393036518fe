package reconcile

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"berth.dev/berth/internal/testenv"
)

// memSource is a Source held in memory, which the test fills and syncs.
type memSource struct {
	mu       sync.Mutex
	keys     map[string]bool
	synced   bool
	running  bool
	runs     int
	handlers []func(string)
}

func newSource(keys ...string) *memSource {
	s := &memSource{keys: map[string]bool{}}
	for _, k := range keys {
		s.keys[k] = true
	}
	return s
}

func (s *memSource) Run(ctx context.Context) error {
	s.mu.Lock()
	s.running = true
	s.runs++
	s.mu.Unlock()
	<-ctx.Done()
	return nil
}

func (s *memSource) HasSynced() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.synced }
func (s *memSource) sync()           { s.mu.Lock(); defer s.mu.Unlock(); s.synced = true }
func (s *memSource) isRunning() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.running }

func (s *memSource) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *memSource) OnChange(f func(string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers = append(s.handlers, f)
}

// put adds key and tells the handlers, as a cache does after a change.
func (s *memSource) put(key string) {
	s.mu.Lock()
	s.keys[key] = true
	handlers := slices.Clone(s.handlers)
	s.mu.Unlock()
	for _, h := range handlers {
		h(key)
	}
}

// recorder is a Reconciler that remembers the keys it was called with.
type recorder struct {
	mu     sync.Mutex
	keys   []string
	result func(key string) Result
	check  func(key string) // called in each reconcile
}

func (r *recorder) Reconcile(_ context.Context, key string) (Result, error) {
	if r.check != nil {
		r.check(key)
	}
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	if r.result != nil {
		return r.result(key), nil
	}
	return Result{}, nil
}

// count returns how often each key was reconciled.
func (r *recorder) count() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, k := range r.keys {
		out[k]++
	}
	return out
}

func start(t *testing.T, c *Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// reconciled waits until every key was reconciled at least n times.
func reconciled(t *testing.T, r *recorder, n int, keys ...string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, strings.Join(keys, ", ")+" reconciled", func() (bool, string) {
		got := r.count()
		for _, k := range keys {
			if got[k] < n {
				return false, k + " not yet"
			}
		}
		return true, ""
	})
}

// The loop runs its sources and reconciles nothing before every one has
// listed; then it reconciles every key of the watched ones, mapped, and
// each key that changes.
func TestStartRunsSourcesAndEnqueuesTheirKeys(t *testing.T) {
	t.Parallel()
	jobs := newSource("objects/job/a", "objects/job/b")
	statuses := newSource("status/h1/job/c", "status/h1/unit/x")
	read := newSource("hosts/h1")
	var early []string
	var mu sync.Mutex
	r := &recorder{check: func(key string) {
		if !jobs.HasSynced() || !statuses.HasSynced() || !read.HasSynced() {
			mu.Lock()
			early = append(early, key)
			mu.Unlock()
		}
	}}
	c := New("test", r, Options{})
	c.Watch(jobs, TrimPrefix("objects/job/"))
	c.Watch(statuses, func(key string) []string {
		if parts := strings.Split(key, "/"); len(parts) == 4 && parts[2] == "job" {
			return []string{parts[3]}
		}
		return nil
	})
	c.Watch(read, nil)
	start(t, c)
	testenv.Eventually(t, 10*time.Second, "every source running", func() bool {
		return jobs.isRunning() && statuses.isRunning() && read.isRunning()
	})
	jobs.sync()
	statuses.sync()
	if c.Synced() {
		t.Fatal("Synced before every source listed")
	}
	read.sync()
	reconciled(t, r, 1, "a", "b", "c")

	jobs.put("objects/job/d")
	statuses.put("status/h2/job/a")
	reconciled(t, r, 1, "d")
	reconciled(t, r, 2, "a")
	read.put("hosts/h2")
	jobs.put("objects/job/e") // reconciled after anything read's change could have enqueued
	reconciled(t, r, 1, "e")
	got := r.count()
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 || got["x"] > 0 || got["hosts/h1"] > 0 || got["h2"] > 0 || got["b"] != 1 {
		t.Fatalf("reconciled %v (before sync: %v); want a twice, b, c, d, e once, nothing of the unit's status or the hosts", got, early)
	}
}

// Every Options.Resync, and on a change of a WatchAll source that passes
// its filter, every key is reconciled again. Time is a fake clock, stepped
// by the test.
func TestResyncAndWatchAll(t *testing.T) {
	t.Parallel()
	fake := testingclock.NewFakeClock(time.Now())
	units, hosts := newSource("u/a", "u/b"), newSource()
	units.sync()
	hosts.sync()
	r := &recorder{}
	c := New("test", r, Options{Resync: time.Minute, Clock: fake})
	c.Watch(units, TrimPrefix("u/"))
	c.WatchAll(hosts, func(key string) bool { return key != "heartbeat" })
	start(t, c)
	reconciled(t, r, 1, "a", "b")

	hosts.put("heartbeat")
	hosts.put("h1")
	reconciled(t, r, 2, "a", "b")

	// The loop registers its ticker when it gets to it: step the fake
	// clock until the minute's resync has run.
	testenv.Eventually(t, 10*time.Second, "a resync", func() bool {
		fake.Step(time.Minute)
		return r.count()["a"] >= 3
	})
	reconciled(t, r, 3, "b")
}

// A source given to both Watch and WatchAll is run once; its changes
// enqueue the keys they map to, and those WatchAll's filter passes enqueue
// every key of the watched sources.
func TestWatchAndWatchAllOneSource(t *testing.T) {
	t.Parallel()
	units, engine := newSource("u/a", "u/b"), newSource("e/c")
	units.sync()
	engine.sync()
	r := &recorder{}
	c := New("test", r, Options{})
	c.Watch(units, TrimPrefix("u/"))
	c.Watch(engine, TrimPrefix("e/"))
	c.WatchAll(engine, func(key string) bool { return key == "resubscribed" })
	start(t, c)
	testenv.Eventually(t, 10*time.Second, "the source running", engine.isRunning)
	reconciled(t, r, 1, "a", "b", "c")

	engine.put("e/d")
	reconciled(t, r, 1, "d")
	engine.put("resubscribed")
	reconciled(t, r, 2, "a", "b", "c", "d")
	engine.mu.Lock()
	runs := engine.runs
	engine.mu.Unlock()
	if got := r.count(); runs != 1 || got["resubscribed"] != 0 {
		t.Fatalf("the source ran %d times, reconciled %v; want it run once, and no key of its own for the resubscription", runs, got)
	}
}

// A RequeueAfter comes back after its delay, with no resync to hide it.
func TestRequeueAfter(t *testing.T) {
	t.Parallel()
	fake := testingclock.NewFakeClock(time.Now())
	src := newSource("a", "b")
	src.sync()
	r := &recorder{result: func(key string) Result {
		if key == "b" {
			return Result{RequeueAfter: time.Hour}
		}
		return Result{}
	}}
	c := New("test", r, Options{Clock: fake})
	c.Watch(src, func(key string) []string { return []string{key} })
	start(t, c)
	reconciled(t, r, 1, "a", "b")
	// Step until the delay, registered once b's reconcile returned, passed.
	testenv.Eventually(t, 10*time.Second, "b again after its hour", func() bool {
		fake.Step(time.Hour)
		return r.count()["b"] >= 2
	})
	if n := r.count()["a"]; n != 1 {
		t.Fatalf("a reconciled %d times, want once", n)
	}
}
