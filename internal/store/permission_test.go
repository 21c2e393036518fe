package store_test

import (
	"context"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// MayWrite answers with the user's roles and writes nothing.
func TestMayWrite(t *testing.T) {
	t.Parallel()
	endpoints := testenv.Etcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	objects := store.ObjectKey("unit", "web")
	status := store.StatusKey("unit", "web", "h1")

	open := testenv.NewStore(t, store.Config{Endpoints: endpoints})
	if ok, err := open.MayWrite(ctx, objects); !ok || err != nil {
		t.Fatalf("without authentication: MayWrite %v, %v; want true", ok, err)
	}

	// A host's role, as hack/etcd-auth.sh makes it: its own statuses only.
	host := testenv.NewStore(t, testenv.EtcdUser(t, endpoints, "h1", store.HostStatusPrefix("h1")))
	rev, err := host.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := host.MayWrite(ctx, objects); ok || err != nil {
		t.Errorf("a host's user on %s: MayWrite %v, %v; want false", objects, ok, err)
	}
	if ok, err := host.MayWrite(ctx, status); !ok || err != nil {
		t.Errorf("a host's user on its own %s: MayWrite %v, %v; want true", status, ok, err)
	}
	if after, _ := host.Revision(ctx); after != rev {
		t.Errorf("MayWrite wrote: revision %d -> %d", rev, after)
	}
	if _, err := host.Get(ctx, status); err == nil {
		t.Errorf("MayWrite created %s", status)
	}
}
