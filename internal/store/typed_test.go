package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// runTyped runs c until the test ends and waits for its first list.
func runTyped[T any](t *testing.T, c *store.Typed[T]) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 10*time.Second, "the cache's first list", func() (bool, string) { return c.HasSynced(), "" })
}

// An object cache holds each object decoded, defaulted and with its
// resourceVersion, decoded once per change: a relist decodes again only
// what moved.
func TestObjectCacheDecodesOnceAndDefaults(t *testing.T) {
	t.Parallel()
	s, ctx := testenv.EtcdStore(t), context.Background()
	// A Unit stored without defaults, as an earlier berth may have.
	rev, err := s.Put(ctx, store.ObjectKey(v1.KindUnit, "web"), []byte(`{"kind":"Unit","metadata":{"name":"web"},"spec":{"container":{"image":"web:1"}}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	c := store.NewObjectCache[*v1.Unit](s, store.CacheOptions{})
	runTyped(t, c)
	e, ok := c.Get(store.ObjectKey(v1.KindUnit, "web"))
	if !ok || e.Err != nil {
		t.Fatalf("Get(web) = %+v, %v", e, ok)
	}
	u := e.Value
	if u.Spec.Goal != v1.GoalStart || u.Spec.Placement.Replicas != 1 || u.Metadata.ResourceVersion != fmt.Sprint(rev) || e.ModRevision != rev {
		t.Fatalf("cached unit not defaulted or without its revision: goal %q replicas %d resourceVersion %q modRevision %d (want %d)",
			u.Spec.Goal, u.Spec.Placement.Replicas, u.Metadata.ResourceVersion, e.ModRevision, rev)
	}
	if again, _ := c.Get(store.ObjectKey(v1.KindUnit, "web")); again.Value != u {
		t.Fatal("a second Get decoded the unit again")
	}
}

func TestTypedRelistDecodesOnlyWhatMoved(t *testing.T) {
	t.Parallel()
	s, ctx := testenv.EtcdStore(t), context.Background()
	p := store.Prefix + "test/"
	for _, k := range []string{"a", "b"} {
		if _, err := s.Put(ctx, p+k, []byte(`"1"`), 0); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	decoded := map[string]int{}
	c := store.NewTyped(s, p, func(kv store.KV) (string, error) {
		mu.Lock()
		decoded[strings.TrimPrefix(kv.Key, p)]++
		mu.Unlock()
		return store.DecodeJSON[string](kv)
	}, store.CacheOptions{})
	count := func() string { mu.Lock(); defer mu.Unlock(); return fmt.Sprint(decoded) }
	// Hold the first watch until b changed and the history is compacted,
	// so that the cache must list again.
	release := make(chan struct{})
	first := true
	store.SetTypedWatchHook(c, func(int64) {
		if first {
			first = false
			<-release
		}
	})
	runTyped(t, c)
	if got := count(); got != "map[a:1 b:1]" {
		t.Fatalf("decoded after the first list: %s", got)
	}
	rev, err := s.Put(ctx, p+"b", []byte(`"2"`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Compact(ctx, s, rev); err != nil {
		t.Fatal(err)
	}
	close(release)
	testenv.Eventually(t, 10*time.Second, "b's new value after the relist", func() (bool, string) {
		e, _ := c.Get(p + "b")
		return e.Value == "2", e.Value
	})
	if got := count(); got != "map[a:1 b:2]" {
		t.Fatalf("decoded after the relist: %s, want a once and b twice", got)
	}
}

// A value that does not decode is reported once per change (a warning,
// and an event on the object), is held with its error, and is left out of
// List; once fixed it reads again.
func TestTypedInvalidValue(t *testing.T) {
	t.Parallel()
	s, ctx := testenv.EtcdStore(t), context.Background()
	key := store.ObjectKey(v1.KindJob, "bad")
	if _, err := s.Put(ctx, key, []byte(`{"spec":{"version":7}}`), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, store.ObjectKey(v1.KindJob, "good"), []byte(`{"metadata":{"name":"good"}}`), 0); err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	rec := &testenv.Events{}
	c := store.NewObjectCache[*v1.Job](s, store.CacheOptions{Log: slog.New(slog.NewTextHandler(&logs, nil)), Events: rec})
	runTyped(t, c)

	e, ok := c.Get(key)
	if !ok || e.Err == nil || e.Value != nil {
		t.Fatalf("Get(bad) = %+v, %v; want the key held with its decode error", e, ok)
	}
	if l := c.List(); len(l) != 1 || l[0].Value.Metadata.Name != "good" {
		t.Fatalf("List = %+v, want only good", l)
	}
	if k := c.Keys(); len(k) != 2 {
		t.Fatalf("Keys = %v, want both", k)
	}
	if n := strings.Count(logs.String(), "does not decode"); n != 1 || !strings.Contains(logs.String(), key) {
		t.Fatalf("log (%d warnings): %s", n, logs.String())
	}
	if got := rec.Said(); len(got) != 1 || !strings.HasPrefix(got[0], "Job/bad Warning InvalidObject: the stored job does not decode") {
		t.Fatalf("events: %q", got)
	}

	if _, err := s.Put(ctx, key, []byte(`{"metadata":{"name":"bad"},"spec":{"version":"7"}}`), 0); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the fixed job", func() (bool, string) {
		e, _ := c.Get(key)
		return e.Err == nil && e.Value != nil && e.Value.Spec.Version == "7", fmt.Sprint(e.Err)
	})
	if n := strings.Count(logs.String(), "does not decode"); n != 1 {
		t.Fatalf("%d warnings after the fix, want still 1", n)
	}
}

// DecodeStatusOf holds the statuses of one kind, with the key's host, and
// none of the others.
func TestDecodeStatusOf(t *testing.T) {
	t.Parallel()
	s, ctx := testenv.EtcdStore(t), context.Background()
	for key, v := range map[string]string{
		store.StatusKey(v1.KindJob, "web", "h1"):  `{"state":"RUNNING"}`,
		store.StatusKey(v1.KindJob, "web", "h2"):  `{"host":"h1","state":"RUNNING"}`,
		store.StatusKey(v1.KindUnit, "web", "h1"): `{"state":"RUNNING"}`,
	} {
		if _, err := s.Put(ctx, key, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	c := store.NewTyped(s, store.StatusesPrefix, store.DecodeStatusOf(v1.KindJob), store.CacheOptions{Log: slog.New(slog.DiscardHandler)})
	runTyped(t, c)
	if e, ok := c.Get(store.StatusKey(v1.KindJob, "web", "h1")); !ok || e.Err != nil || e.Value.Host != "h1" || e.Value.State != v1.StateRunning {
		t.Errorf("job status on h1: %+v, %v", e, ok)
	}
	if e, ok := c.Get(store.StatusKey(v1.KindJob, "web", "h2")); !ok || e.Err == nil {
		t.Errorf("job status on h2 naming h1: %+v, %v; want held with an error", e, ok)
	}
	if e, ok := c.Get(store.StatusKey(v1.KindUnit, "web", "h1")); ok {
		t.Errorf("a unit's status is held: %+v", e)
	}
}

// Two loops that watch one cache each call its Run: the cache watches
// once, follows etcd while either runs, and each Run returns when its own
// context ends.
func TestTypedRunsOnceForSeveralRuns(t *testing.T) {
	t.Parallel()
	s, ctx := testenv.EtcdStore(t), context.Background()
	p := store.Prefix + "test/"
	c := store.NewTyped(s, p, store.DecodeJSON[string], store.CacheOptions{})
	var mu sync.Mutex
	watches := 0
	store.SetTypedWatchHook(c, func(int64) {
		mu.Lock()
		defer mu.Unlock()
		watches++
	})
	run := func() (context.CancelFunc, chan error) {
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(rctx) }()
		return cancel, done
	}
	cancel1, done1 := run()
	cancel2, done2 := run()
	t.Cleanup(func() { cancel1(); cancel2() })
	seen := func(key, want string) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, "the cache to show "+key+" = "+want, func() (bool, string) {
			e, ok := c.Get(p + key)
			return ok && e.Value == want, fmt.Sprintf("%+v, %v", e, ok)
		})
	}
	if _, err := s.Put(ctx, p+"a", []byte(`"1"`), 0); err != nil {
		t.Fatal(err)
	}
	seen("a", "1")

	cancel1()
	select {
	case <-done1:
	case <-time.After(10 * time.Second):
		t.Fatal("the first Run did not return when its context ended")
	}
	if _, err := s.Put(ctx, p+"a", []byte(`"2"`), 0); err != nil {
		t.Fatal(err)
	}
	seen("a", "2") // the other Run still runs it
	mu.Lock()
	if watches != 1 {
		t.Errorf("two Runs opened %d watches; want 1", watches)
	}
	mu.Unlock()

	cancel2()
	select {
	case <-done2:
	case <-time.After(10 * time.Second):
		t.Fatal("the last Run did not return when its context ended")
	}

	// Run again, it lists and watches anew.
	if _, err := s.Put(ctx, p+"a", []byte(`"3"`), 0); err != nil {
		t.Fatal(err)
	}
	cancel3, done3 := run()
	seen("a", "3")
	cancel3()
	<-done3
	mu.Lock()
	if watches != 2 {
		t.Errorf("a Run after the others ended opened %d watches in all; want 2", watches)
	}
	mu.Unlock()
}
