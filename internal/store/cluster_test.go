package store_test

import (
	"context"
	"fmt"
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
	eventually(t, "cache sync", cache.HasSynced)
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
	eventually(t, "cache to see every key", func() bool { return len(cache.List()) == 6 })

	runConformance(t, backend{
		newStore:  func(t *testing.T) *store.Store { return testenv.NewStore(t, cfg) },
		maxTxnOps: 128,
	})

	// The stopped member comes back and catches up.
	c.Members[0].Start()
	s0 := testenv.NewStore(t, store.Config{Endpoints: c.Members[0].Endpoints()})
	if _, err := s0.Get(ctx, p+"after-4"); err != nil {
		t.Fatalf("restarted member: %v", err)
	}
}
