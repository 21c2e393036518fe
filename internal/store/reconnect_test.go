package store_test

import (
	"context"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// TestReconnectsSoonAfterAnOutage: after etcd was away for 20s, a Store
// that stayed open reaches it again within ReconnectMaxDelay of its
// return (plus slack for a loaded machine), not after a reconnect backoff
// that grew while it was away (gRPC's default lets it grow to minutes).
func TestReconnectsSoonAfterAnOutage(t *testing.T) {
	t.Parallel()
	p := testenv.EtcdProcess(t)
	s := testenv.NewStore(t, p.StoreConfig())
	ctx := ctxT(t)
	if _, err := s.Put(ctx, store.Prefix+"test/reconnect", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	// The outage is the point: the client keeps trying to reconnect
	// meanwhile, and its backoff grows.
	time.Sleep(20 * time.Second)
	p.Start() // returns once etcd serves a fresh client
	back := time.Now()
	gctx, cancel := context.WithTimeout(ctx, store.ReconnectMaxDelay+3*time.Second)
	defer cancel()
	if _, err := s.Get(gctx, store.Prefix+"test/reconnect"); err != nil {
		t.Fatalf("the Store open through the outage does not reach etcd %s after it came back: %v", time.Since(back).Round(time.Millisecond), err)
	}
	t.Logf("reached etcd again %s after it came back", time.Since(back).Round(time.Millisecond))
}
