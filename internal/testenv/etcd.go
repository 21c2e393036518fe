package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/store/embedded"
)

// Etcd starts an in-process embedded etcd (Fast tuning) with its data in t.TempDir()
// on free loopback ports and returns its client endpoints. It is stopped at cleanup.
func Etcd(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		e, err := embedded.Start(ctx, embedded.Config{
			DataDir:      dir,
			ListenClient: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)),
			ListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)),
			Fast:         true,
		})
		cancel()
		if err == nil {
			t.Cleanup(func() { e.Close() })
			return e.Endpoints()
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("testenv: embedded etcd: %v", lastErr)
	return nil
}

// EtcdStore starts an embedded etcd like Etcd and returns a Store connected to it;
// both are closed at cleanup.
func EtcdStore(t testing.TB) *store.Store {
	t.Helper()
	return NewStore(t, store.Config{Endpoints: Etcd(t)})
}

// NewStore connects to etcd with cfg (DialTimeout 5s by default) and closes the Store
// at cleanup; it fails the test when the connection fails.
func NewStore(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.New(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
