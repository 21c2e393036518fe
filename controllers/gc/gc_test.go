package gc

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func TestCollect(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	u := v1.New(v1.KindUnit).(*v1.Unit)
	u.Metadata.Name = "kept"
	u.Spec.Container.Image = "x"
	v1.Default(u)
	if _, err := store.Apply(ctx, s, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := s.Put(ctx, key, b, 0); err != nil {
			t.Fatal(err)
		}
	}
	old := v1.Host{Metadata: v1.ObjectMeta{Name: "old"}, Status: v1.HostStatus{Heartbeat: time.Now().Add(-time.Hour)}}
	put(store.HostKey("old"), old)
	put(store.HostKey("live"), v1.Host{Metadata: v1.ObjectMeta{Name: "live"}})
	put(store.AliveKey("live"), "x")
	put(store.StatusKey(v1.KindUnit, "kept", "live"), v1.InstanceStatus{Host: "live"})
	put(store.StatusKey(v1.KindUnit, "kept", "old"), v1.InstanceStatus{Host: "old"})
	put(store.StatusKey(v1.KindUnit, "deleted", "live"), v1.InstanceStatus{Host: "live"})
	put(store.BindingKey(v1.KindUnit, "deleted"), v1.Binding{})
	put(store.HistoryPrefix(v1.KindJob, "gone", "live")+"1", v1.HistoryEntry{})
	put(store.EventPrefix(v1.KindUnit, "deleted")+"1", v1.Event{})
	put(store.EventPrefix(v1.KindUnit, "kept")+"1", v1.Event{})

	if err := New(s, Options{HostGCAfter: 30 * time.Minute}).Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		store.HostKey("old"):                                  false,
		store.HostKey("live"):                                 true,
		store.StatusKey(v1.KindUnit, "kept", "live"):          true,
		store.StatusKey(v1.KindUnit, "kept", "old"):           false,
		store.StatusKey(v1.KindUnit, "deleted", "live"):       false,
		store.BindingKey(v1.KindUnit, "deleted"):              false,
		store.HistoryPrefix(v1.KindJob, "gone", "live") + "1": false,
		store.EventPrefix(v1.KindUnit, "deleted") + "1":       false,
		store.EventPrefix(v1.KindUnit, "kept") + "1":          true,
	} {
		_, err := s.Get(ctx, key)
		if got := !errors.Is(err, store.ErrNotFound); got != want {
			t.Errorf("%s present = %v, want %v", key, got, want)
		}
	}
}

// TestCollectHost: a host removes its own statuses and history of objects
// deleted while it was down, and nothing of other hosts or live objects.
func TestCollectHost(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	u := v1.New(v1.KindUnit).(*v1.Unit)
	u.Metadata.Name = "kept"
	u.Spec.Container.Image = "x"
	v1.Default(u)
	if _, err := store.Apply(ctx, s, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{
		store.StatusKey(v1.KindUnit, "kept", "h1"):           true,
		store.StatusKey(v1.KindUnit, "deleted", "h1"):        false,
		store.StatusKey(v1.KindUnit, "deleted", "h2"):        true, // another host's
		store.HistoryPrefix(v1.KindJob, "gone", "h1") + "1":  false,
		store.HistoryPrefix(v1.KindJob, "gone", "h2") + "1":  true,
		store.StatusKey(v1.KindGitSource, "repo", "leader"):  true,
		store.StatusKey(v1.KindUnit, "deleted", "h1-longer"): true,
	}
	for k := range keys {
		if _, err := s.Put(ctx, k, []byte("{}"), 0); err != nil {
			t.Fatal(err)
		}
	}
	n, err := CollectHost(ctx, s, "h1")
	if err != nil || n != 2 {
		t.Fatalf("CollectHost = %d, %v; want 2 removed", n, err)
	}
	for key, want := range keys {
		_, err := s.Get(ctx, key)
		if got := !errors.Is(err, store.ErrNotFound); got != want {
			t.Errorf("%s present = %v, want %v", key, got, want)
		}
	}
}
