package testenv

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"berth.dev/berth/internal/store"
)

// EtcdUser turns etcd's authentication on at endpoints (an etcd without
// it, as Etcd starts) and returns the configuration of a user named name
// who may read every key under store.Prefix and write those under the
// prefixes given, as hack/etcd-auth.sh grants berth's roles. Call it once
// per etcd: it makes the root user too.
func EtcdUser(t testing.TB, endpoints []string, name string, writes ...string) store.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("testenv: etcd client: %v", err)
	}
	defer cli.Close()
	const password = "testenv-password"
	grant := func(role, prefix string, perm clientv3.PermissionType) error {
		_, err := cli.RoleGrantPermission(ctx, role, prefix, clientv3.GetPrefixRangeEnd(prefix), perm)
		return err
	}
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, name); return err },
		func() error { return grant(name, store.Prefix, clientv3.PermissionType(clientv3.PermRead)) },
	}
	for _, p := range writes {
		steps = append(steps, func() error { return grant(name, p, clientv3.PermissionType(clientv3.PermReadWrite)) })
	}
	steps = append(steps,
		func() error { _, err := cli.UserAdd(ctx, name, password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, name, name); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	)
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("testenv: etcd authentication, step %d: %v", i, err)
		}
	}
	return store.Config{Endpoints: endpoints, Username: name, Password: password}
}
