package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func itoa(n int) string { return strconv.Itoa(n) }

func startEmbedded(t *testing.T, dir string, client, peer int) *store.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := store.StartEmbedded(ctx, store.EmbedConfig{
		DataDir:      dir,
		ListenClient: fmt.Sprintf("http://127.0.0.1:%d", client),
		ListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", peer),
		Fast:         true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	client, peer := testenv.FreePort(t), testenv.FreePort(t)
	e := startEmbedded(t, dir, client, peer)
	s := testenv.NewStore(t, store.Config{Endpoints: e.Endpoints()})
	ctx := ctxT(t)
	rev, err := s.Txn(ctx, []store.Op{{Key: store.Prefix + "kept", Value: []byte("yes")}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = startEmbedded(t, dir, client, peer)
	defer e.Close()
	s = testenv.NewStore(t, store.Config{Endpoints: e.Endpoints()})
	kv, err := s.Get(ctx, store.Prefix+"kept")
	if err != nil || string(kv.Value) != "yes" || kv.ModRevision != rev {
		t.Fatalf("after restart: %+v, %v; want yes@%d", kv, err, rev)
	}
}

func TestEmbeddedPortInUse(t *testing.T) {
	t.Parallel()
	eps := testenv.Etcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := store.StartEmbedded(ctx, store.EmbedConfig{
		DataDir:      t.TempDir(),
		ListenClient: eps[0],
		ListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
		Fast:         true,
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("StartEmbedded on a used port: %v, want address already in use", err)
	}
}
