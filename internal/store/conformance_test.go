package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// backend is an etcd the conformance suite runs against.
type backend struct {
	// newStore returns a Store on the backend; each call may be a new etcd or a new
	// connection to a shared one.
	newStore func(t *testing.T) *store.Store
}

// testPrefix returns a key prefix of its own for t, so subtests can share an etcd.
func testPrefix(t *testing.T) string {
	return store.Prefix + "test/" + strings.ReplaceAll(t.Name(), "/", "_") + "/"
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runConformance runs every behaviour of the store against b.
func runConformance(t *testing.T, b backend) {
	t.Run("independent", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(*testing.T, backend)
		}{
			{"GetListNotFound", testGetListNotFound},
			{"CreateTwiceConflicts", testCreateTwiceConflicts},
			{"StaleUpdateConflicts", testStaleUpdateConflicts},
			{"DeleteCAS", testDeleteCAS},
			{"DeleteIfAbsent", testDeleteIfAbsent},
			{"ConcurrentIncrements", testConcurrentIncrements},
			{"Txn1000", testTxn1000},
			{"WatchOrder", testWatchOrder},
			{"LeaseRevoke", testLeaseRevoke},
			{"KeepAlive", testKeepAlive},
			{"Election", testElection},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, b)
			})
		}
	})
	// Compaction is global to an etcd: these run after the others, one at a time.
	t.Run("WatchCompacted", func(t *testing.T) { testWatchCompacted(t, b) })
	t.Run("CacheRelistsAfterCompaction", func(t *testing.T) { testCache(t, b) })
}

func testGetListNotFound(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	if _, err := s.Get(ctx, p+"missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	kvs, rev, err := s.List(ctx, p)
	if err != nil || len(kvs) != 0 || rev == 0 {
		t.Fatalf("List of an empty prefix = %v, %d, %v; want none, a revision, nil", kvs, rev, err)
	}
	for _, k := range []string{"c", "a", "b"} {
		if _, err := s.Put(ctx, p+k, []byte("v-"+k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, p[:len(p)-1]+"x/outside", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, p+"b")
	if err != nil || string(kv.Value) != "v-b" || kv.Version != 1 || kv.ModRevision == 0 || kv.CreateRevision != kv.ModRevision {
		t.Fatalf("Get = %+v, %v", kv, err)
	}
	kvs, rev, err = s.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, strings.TrimPrefix(kv.Key, p))
		if kv.ModRevision > rev {
			t.Errorf("%s: ModRevision %d > list revision %d", kv.Key, kv.ModRevision, rev)
		}
	}
	if !slices.Equal(keys, []string{"a", "b", "c"}) {
		t.Fatalf("List keys = %v, want [a b c]", keys)
	}
	if cur, err := s.Revision(ctx); err != nil || cur < rev {
		t.Fatalf("Revision = %d, %v; want >= %d", cur, err, rev)
	}
	if ok, err := s.Delete(ctx, p+"a"); !ok || err != nil {
		t.Fatalf("Delete existing = %v, %v", ok, err)
	}
	if ok, err := s.Delete(ctx, p+"a"); ok || err != nil {
		t.Fatalf("Delete absent = %v, %v; want false, nil", ok, err)
	}
	if n, err := s.DeletePrefix(ctx, p); n != 2 || err != nil {
		t.Fatalf("DeletePrefix = %d, %v; want 2", n, err)
	}
	if _, err := s.DeletePrefix(ctx, ""); err == nil {
		t.Fatal("DeletePrefix(\"\") succeeded; want refusal")
	}
}

func testCreateTwiceConflicts(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	ops := []store.Op{{Key: p + "a", Value: []byte("1")}, {Key: p + "b", Value: []byte("1")}}
	if _, err := s.Txn(ctx, ops); err != nil {
		t.Fatalf("first create: %v", err)
	}
	ops = []store.Op{{Key: p + "new", Value: []byte("2")}, {Key: p + "b", Value: []byte("2")}}
	_, err := s.Txn(ctx, ops)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), p+"b") {
		t.Fatalf("second create: err = %v, want ErrConflict naming %sb", err, p)
	}
	if _, err := s.Get(ctx, p+"new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed Txn wrote part of its ops: Get new: %v", err)
	}
}

func testStaleUpdateConflicts(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	rev1, err := s.Txn(ctx, []store.Op{{Key: p + "k", Value: []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := s.Txn(ctx, []store.Op{{Key: p + "k", Value: []byte("2"), ExpectRev: rev1}})
	if err != nil {
		t.Fatalf("update with the current ModRevision: %v", err)
	}
	_, err = s.Txn(ctx, []store.Op{
		{Key: p + "other", Value: []byte("x"), Force: true},
		{Key: p + "k", Value: []byte("3"), ExpectRev: rev1},
	})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), p+"k") {
		t.Fatalf("stale update: err = %v, want ErrConflict naming %sk", err, p)
	}
	if kv, _ := s.Get(ctx, p+"k"); string(kv.Value) != "2" || kv.ModRevision != rev2 {
		t.Fatalf("after a stale update k = %q@%d, want 2@%d", kv.Value, kv.ModRevision, rev2)
	}
	if _, err := s.Txn(ctx, []store.Op{{Key: p + "k", Value: []byte("4"), Force: true}}); err != nil {
		t.Fatalf("forced write: %v", err)
	}
}

func testDeleteCAS(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	rev, err := s.Put(ctx, p+"k", []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, []store.Op{{Key: p + "k", Delete: true}}); err == nil {
		t.Fatal("Delete without ExpectRev or Force was accepted")
	}
	if _, err := s.Txn(ctx, []store.Op{{Key: p + "k", Delete: true, ExpectRev: rev + 1000}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale delete: %v, want ErrConflict", err)
	}
	if _, err := s.Txn(ctx, []store.Op{{Key: p + "k", Delete: true, ExpectRev: rev}}); err != nil {
		t.Fatalf("delete at the current revision: %v", err)
	}
	if _, err := s.Get(ctx, p+"k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func testConcurrentIncrements(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	key := p + "counter"
	if _, err := s.Txn(ctx, []store.Op{{Key: key, Value: []byte("0")}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	errc := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			for i := 0; i < 50; {
				kv, err := s.Get(ctx, key)
				if err != nil {
					errc <- err
					return
				}
				n, _ := strconv.Atoi(string(kv.Value))
				_, err = s.Txn(ctx, []store.Op{{Key: key, Value: []byte(strconv.Itoa(n + 1)), ExpectRev: kv.ModRevision}})
				if errors.Is(err, store.ErrConflict) {
					conflicts.Add(1)
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				i++
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, key)
	if err != nil || string(kv.Value) != "100" {
		t.Fatalf("counter = %q, %v; want 100 (lost updates)", kv.Value, err)
	}
	t.Logf("100 increments, %d conflicts retried", conflicts.Load())
}

// testTxn1000: 1000 ops are one transaction, on every backend berth starts
// (the embedded etcd, and Debian's etcd with the limits SECURITY.md gives).
func testTxn1000(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	ops := make([]store.Op, 1000)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("%sobj-%04d", p, i), Value: []byte(strings.Repeat("x", 200))}
	}
	rev, err := s.Txn(ctx, ops)
	if err != nil {
		t.Fatalf("Txn of 1000 creates: %v", err)
	}
	kvs, _, err := s.List(ctx, p)
	if err != nil || len(kvs) != 1000 {
		t.Fatalf("List after Txn of 1000 = %d keys, %v", len(kvs), err)
	}
	for _, kv := range kvs {
		if kv.ModRevision != rev {
			t.Fatalf("%s written at revision %d, the Txn at %d: 1000 ops were not one transaction", kv.Key, kv.ModRevision, rev)
		}
	}
	// Update all 1000 with compare-and-swap, then once more with one stale
	// op: that one fails the whole transaction.
	for i, kv := range kvs {
		ops[i] = store.Op{Key: kv.Key, Value: []byte("v2"), ExpectRev: kv.ModRevision}
	}
	rev2, err := s.Txn(ctx, ops)
	if err != nil {
		t.Fatalf("CAS update of 1000: %v", err)
	}
	for i := range ops {
		ops[i].Value, ops[i].ExpectRev = []byte("v3"), rev2
	}
	ops[500].ExpectRev = rev
	_, err = s.Txn(ctx, ops)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), p+"obj-0500") {
		t.Fatalf("update of 1000 with obj-0500 stale: %v, want ErrConflict naming obj-0500", err)
	}
	if kv, err := s.Get(ctx, p+"obj-0000"); err != nil || string(kv.Value) != "v2" {
		t.Fatalf("obj-0000 = %q, %v after a failed transaction; want v2", kv.Value, err)
	}
}

func testWatchOrder(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	from, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := s.Put(ctx, p+"a", []byte("1"), 0)
	r2, _ := s.Put(ctx, p+"b", []byte("2"), 0)
	r3, _ := s.Put(ctx, p+"a", []byte("3"), 0)
	// The delete's own revision: other tests write to the same etcd at
	// the same time, so a revision read afterwards may be later.
	r4, err := s.Txn(ctx, []store.Op{{Key: p + "b", Delete: true, Force: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.Put(ctx, p[:len(p)-1]+"-sibling", []byte("not mine"), 0)

	type ev struct {
		typ store.EventType
		key string
		val string
		rev int64
	}
	want := []ev{{store.EventPut, "a", "1", r1}, {store.EventPut, "b", "2", r2}, {store.EventPut, "a", "3", r3}, {store.EventDelete, "b", "", r4}}
	var got []ev
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, p, from+1)
	for len(got) < len(want) {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %v", got)
			}
			if b.Err != nil {
				t.Fatalf("watch: %v", b.Err)
			}
			for _, e := range b.Events {
				got = append(got, ev{e.Type, strings.TrimPrefix(e.KV.Key, p), string(e.KV.Value), e.KV.ModRevision})
			}
		case <-ctx.Done():
			t.Fatalf("watch saw %v, want %v", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("watch saw %v, want %v", got, want)
	}
	cancel()
	for range ch { // closes when ctx ends
	}
}

func testLeaseRevoke(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	lease, err := s.Grant(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, p+"alive", []byte("x"), lease); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, []store.Op{{Key: p + "txn", Value: []byte("x"), Lease: lease}}); err != nil {
		t.Fatal(err)
	}
	if kv, err := s.Get(ctx, p+"txn"); err != nil || kv.Lease != lease {
		t.Fatalf("key on lease: %+v, %v", kv, err)
	}
	if err := s.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"alive", "txn"} {
		if _, err := s.Get(ctx, p+k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after revoke: %v, want ErrNotFound", k, err)
		}
	}
	if err := s.Revoke(ctx, lease); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second revoke: %v, want ErrNotFound", err)
	}
	if _, err := s.KeepAlive(ctx, lease); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KeepAlive of a revoked lease: %v, want ErrNotFound", err)
	}
}

func testKeepAlive(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	lease, err := s.Grant(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, p+"k", []byte("x"), lease); err != nil {
		t.Fatal(err)
	}
	lost, err := s.KeepAlive(ctx, lease)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
		t.Fatal("keep-alive channel closed while the lease was kept alive")
	case <-time.After(4500 * time.Millisecond): // the premise: twice the TTL and more
	}
	if _, err := s.Get(ctx, p+"k"); err != nil {
		t.Fatalf("key on a kept-alive 2s lease after 4.5s: %v", err)
	}
	if err := s.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("keep-alive channel still open 5s after the lease was revoked")
	}
}

func testElection(t *testing.T, b backend) {
	ctx, name := ctxT(t), strings.ReplaceAll(t.Name(), "/", "_")
	s1, s2 := b.newStore(t), b.newStore(t)
	e1 := s1.NewElection(name, "one", 2*time.Second)
	e2 := s2.NewElection(name, "two", 2*time.Second)

	var leading, maxLeading atomic.Int32
	lead := func(ctx context.Context) {
		n := leading.Add(1)
		for {
			m := maxLeading.Load()
			if n <= m || maxLeading.CompareAndSwap(m, n) {
				break
			}
		}
		<-ctx.Done()
		leading.Add(-1)
	}
	run := func(e *store.Election) (cancel func(), done chan error) {
		rctx, cancel := context.WithCancel(ctx)
		done = make(chan error, 1)
		go func() { done <- e.Run(rctx, lead) }()
		return cancel, done
	}
	cancel1, done1 := run(e1)
	cancel2, done2 := run(e2)
	defer cancel1()
	defer cancel2()

	testenv.Eventually(t, 10*time.Second, "a leader", func() bool { return e1.IsLeader() || e2.IsLeader() })
	first, second, cancelFirst, doneFirst, nameFirst, nameSecond := e1, e2, cancel1, done1, "one", "two"
	if e2.IsLeader() {
		first, second, cancelFirst, doneFirst, nameFirst, nameSecond = e2, e1, cancel2, done2, "two", "one"
	}
	if id, err := first.Leader(ctx); err != nil || id != nameFirst {
		t.Fatalf("Leader() = %q, %v; want %q", id, err, nameFirst)
	}
	if second.IsLeader() {
		t.Fatal("two leaders at once")
	}

	// The leader stops: the other takes over at once (the leader resigns).
	start := time.Now()
	cancelFirst()
	if err := <-doneFirst; err != nil {
		t.Fatalf("Run after its ctx ended: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, "the other to take over", second.IsLeader)
	t.Logf("takeover after the leader stopped: %v", time.Since(start))
	if id, err := second.Leader(ctx); err != nil || id != nameSecond {
		t.Fatalf("Leader() = %q, %v; want %q", id, err, nameSecond)
	}

	// The new leader's store is closed (a crash): the first campaigns again and wins
	// when the dead leader's lease expires.
	storeFirst, storeSecond, doneSecond := s1, s2, done2
	if first == e2 {
		storeFirst, storeSecond, doneSecond = s2, s1, done1
	}
	e3 := storeFirst.NewElection(name, "three", 2*time.Second)
	cancel3, done3 := run(e3)
	defer cancel3()
	start = time.Now()
	storeSecond.Close()
	testenv.Eventually(t, 10*time.Second, "a candidate to take over from a closed store", e3.IsLeader)
	t.Logf("takeover after the leader's store closed: %v", time.Since(start))
	if err := <-doneSecond; err == nil {
		t.Error("Run on a closed store returned nil, want an error")
	}
	if m := maxLeading.Load(); m != 1 {
		t.Fatalf("%d leaders at once", m)
	}
	cancel3()
	<-done3
	if _, err := storeFirst.NewElection(name, "x", time.Second).Leader(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Leader() with no candidates: %v, want ErrNotFound", err)
	}
}

func testWatchCompacted(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	old, _ := s.Put(ctx, p+"k", []byte("1"), 0)
	s.Put(ctx, p+"k", []byte("2"), 0)
	cur, _ := s.Put(ctx, p+"k", []byte("3"), 0)
	if err := store.Compact(ctx, s, cur); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, p, old)
	select {
	case b, ok := <-ch:
		if !ok || !b.Compacted {
			t.Fatalf("watch from a compacted revision: %+v, %v; want Compacted", b, ok)
		}
	case <-ctx.Done():
		t.Fatal("no batch from a watch on a compacted revision")
	}
	if _, ok := <-ch; ok {
		t.Fatal("watch channel still open after Compacted")
	}
}

func testCache(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	s.Put(ctx, p+"a", []byte("1"), 0)
	s.Put(ctx, p+"b", []byte("1"), 0)

	var mu sync.Mutex
	changed := map[string]int{}
	c := store.NewCache(s, p, func(key string) {
		mu.Lock()
		changed[strings.TrimPrefix(key, p)]++
		mu.Unlock()
	})
	count := func(k string) int { mu.Lock(); defer mu.Unlock(); return changed[k] }
	// Hold the first watch until the test has changed keys and compacted past the list.
	release := make(chan struct{})
	var watches atomic.Int32
	store.SetCacheWatchHook(c, func(int64) {
		if watches.Add(1) == 1 {
			<-release
		}
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() { cancel(); <-done }()

	testenv.Eventually(t, 10*time.Second, "sync", c.HasSynced)
	if kv, ok := c.Get(p + "a"); !ok || string(kv.Value) != "1" {
		t.Fatalf("cache Get(a) = %+v, %v", kv, ok)
	}
	if n := len(c.List()); n != 2 || count("a") != 1 || count("b") != 1 {
		t.Fatalf("after list: %d keys, changes %v", n, changed)
	}

	s.Delete(ctx, p+"a")
	s.Put(ctx, p+"c", []byte("1"), 0)
	rev, _ := s.Put(ctx, p+"b", []byte("2"), 0)
	if err := store.Compact(ctx, s, rev); err != nil {
		t.Fatal(err)
	}
	close(release)
	testenv.Eventually(t, 10*time.Second, "relist after compaction", func() bool {
		_, okA := c.Get(p + "a")
		kv, okB := c.Get(p + "b")
		_, okC := c.Get(p + "c")
		return !okA && okB && string(kv.Value) == "2" && okC && c.Revision() >= rev
	})
	if n := store.CacheLists(c); n != 2 {
		t.Errorf("cache listed %d times, want 2", n)
	}
	if count("a") != 2 || count("b") != 2 || count("c") != 1 {
		t.Errorf("OnChange after relist: %v, want a:2 (vanished) b:2 c:1", changed)
	}

	// The watch after the relist delivers changes.
	rev, _ = s.Put(ctx, p+"d", []byte("1"), 0)
	testenv.Eventually(t, 10*time.Second, "watched put", func() bool { _, ok := c.Get(p + "d"); return ok && count("d") == 1 })
	if c.Revision() < rev {
		t.Errorf("cache revision %d < %d", c.Revision(), rev)
	}
	got := c.List()
	var keys []string
	for _, kv := range got {
		keys = append(keys, strings.TrimPrefix(kv.Key, p))
	}
	if !slices.Equal(keys, []string{"b", "c", "d"}) {
		t.Fatalf("cache List = %v, want [b c d]", keys)
	}
	got[0].Value[0] = 'X'
	if kv, _ := c.Get(p + "b"); string(kv.Value) != "2" {
		t.Fatal("List returned the cache's own value, not a copy")
	}
}
