package store_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// TestCluster runs the conformance suite against a 3-member cluster of Debian's etcd
// after one member was stopped, through clients configured with all three endpoints,
// and checks that a watch and a cache opened before the stop keep delivering.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := testenv.EtcdCluster(t, 3)
	cfg := store.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second}
	s := testenv.NewStore(t, cfg)
	ctx, p := ctxT(t), store.Prefix+"test/cluster/"

	from, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := s.Watch(wctx, p, from+1)
	cache := store.NewCache(s, p, nil)
	cacheDone := make(chan error, 1)
	go func() { cacheDone <- cache.Run(wctx) }()
	defer func() { cancel(); <-cacheDone }()
	testenv.Eventually(t, 10*time.Second, "cache sync", cache.HasSynced)
	if _, err := s.Put(ctx, p+"before", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}

	c.Members[0].Stop()
	t.Logf("stopped %s (%s)", c.Members[0].Name, c.Members[0].Endpoints()[0])

	for i := range 5 {
		if _, err := s.Txn(ctx, []store.Op{{Key: fmt.Sprintf("%safter-%d", p, i), Value: []byte("1")}}); err != nil {
			t.Fatalf("Txn with a member stopped: %v", err)
		}
	}
	if kvs, _, err := s.List(ctx, p); err != nil || len(kvs) != 6 {
		t.Fatalf("List with a member stopped = %d keys, %v; want 6", len(kvs), err)
	}
	seen := 0
	for seen < 6 {
		select {
		case b, ok := <-watch:
			if !ok || b.Err != nil {
				t.Fatalf("watch ended with a member stopped: %v", b.Err)
			}
			seen += len(b.Events)
		case <-ctx.Done():
			t.Fatalf("watch saw %d of 6 events after a member stopped", seen)
		}
	}
	testenv.Eventually(t, 10*time.Second, "cache to see every key", func() bool { return len(cache.List()) == 6 })

	runConformance(t, backend{
		newStore: func(t *testing.T) *store.Store { return testenv.NewStore(t, cfg) },
	})

	// The stopped member comes back and catches up.
	c.Members[0].Start()
	s0 := testenv.NewStore(t, store.Config{Endpoints: c.Members[0].Endpoints()})
	// A loaded machine may take a while to replay the log: ask until it
	// answers, for up to a minute.
	testenv.Eventually(t, time.Minute, "the restarted member to answer", func() error {
		gctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s0.Get(gctx, p+"after-4"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
}

// TestKeepAliveSurvivesAFrozenMember: a member that stops answering
// without closing its connections (frozen, as one cut off by the network
// is) must not cost a lease kept alive through a client of all three
// members, whichever member the keep-alive stream was on.
func TestKeepAliveSurvivesAFrozenMember(t *testing.T) {
	t.Parallel()
	c := testenv.EtcdCluster(t, 3)
	s := testenv.NewStore(t, store.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	ctx := ctxT(t)
	const ttl = 3 * time.Second
	lease, err := s.Grant(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	key := store.Prefix + "test/keepalive/alive"
	if _, err := s.Put(ctx, key, []byte("x"), lease); err != nil {
		t.Fatal(err)
	}
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	lost, err := s.KeepAlive(kctx, lease)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range c.Members {
		pid := m.Pid()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Read through the other members only, for three TTLs: the key
		// stays, and the lease is never given up.
		var others []string
		for j, o := range c.Members {
			if j != i {
				others = append(others, o.Endpoints()[0])
			}
		}
		r := testenv.NewStore(t, store.Config{Endpoints: others, DialTimeout: 5 * time.Second})
		deadline := time.Now().Add(3 * ttl)
		for time.Now().Before(deadline) {
			select {
			case <-lost:
				_ = syscall.Kill(pid, syscall.SIGCONT)
				t.Fatalf("lease lost while %s was frozen", m.Name)
			case <-time.After(ttl / 3):
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := r.Get(rctx, key)
			cancel()
			if errors.Is(err, store.ErrNotFound) {
				_ = syscall.Kill(pid, syscall.SIGCONT)
				t.Fatalf("the leased key expired while %s was frozen", m.Name)
			}
		}
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		t.Logf("lease kept while %s was frozen", m.Name)
	}
}
