package store_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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

	// etcd's roles as hack/etcd-auth.sh makes them: root, and a host that
	// may write its own statuses only.
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "host"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "host", store.Prefix, clientv3.GetPrefixRangeEnd(store.Prefix), clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error {
			p := store.HostStatusPrefix("h1")
			_, err := cli.RoleGrantPermission(ctx, "host", p, clientv3.GetPrefixRangeEnd(p), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "h1", "h1pw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "h1", "host"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth setup step %d: %v", i, err)
		}
	}
	host := testenv.NewStore(t, store.Config{Endpoints: endpoints, Username: "h1", Password: "h1pw"})
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
