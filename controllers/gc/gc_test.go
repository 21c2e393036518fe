package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

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
	tm := v1.New(v1.KindTimer).(*v1.Timer)
	tm.Metadata.Name = "nightly"
	tm.Spec.Schedule = "daily"
	tm.Spec.Container.Image = "x"
	v1.Default(tm)
	if _, err := store.Apply(ctx, s, []v1.Object{u, tm}, store.ApplyOptions{}); err != nil {
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
	// A Timer's runs: bindings/timer/<timer>/<run>, status/<host>/timer/<timer>/<run>.
	put(store.BindingKey(v1.KindTimer, v1.TimerRunName("nightly", 1)), v1.TimerRunBinding{})
	put(store.StatusKey(v1.KindTimer, v1.TimerRunName("nightly", 1), "live"), v1.InstanceStatus{Host: "live"})
	put(store.BindingKey(v1.KindTimer, v1.TimerRunName("deleted", 1)), v1.TimerRunBinding{})
	put(store.StatusKey(v1.KindTimer, v1.TimerRunName("deleted", 1), "live"), v1.InstanceStatus{Host: "live"})

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
		store.BindingKey(v1.KindTimer, "nightly/1"):           true,
		store.StatusKey(v1.KindTimer, "nightly/1", "live"):    true,
		store.BindingKey(v1.KindTimer, "deleted/1"):           false,
		store.StatusKey(v1.KindTimer, "deleted/1", "live"):    false,
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

// TestCollectSparesObjectsCreatedMeanwhile: objects created while a
// collector runs (the leader's Collect, a host's CollectHost) keep their
// bindings, events, statuses and history, even when they appear between
// the collector's read of the objects and its read of the other keys;
// those of a deleted object still go.
func TestCollectSparesObjectsCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		collect func(context.Context, *store.Store) func() error
		keys    func(name string) []string // what each object owns beside itself
	}{
		{"leader", func(ctx context.Context, s *store.Store) func() error {
			c := New(s, Options{})
			return func() error { return c.Collect(ctx) }
		}, func(name string) []string {
			return []string{
				store.BindingKey(v1.KindUnit, name),
				store.EventPrefix(v1.KindUnit, name) + "1",
				store.StatusKey(v1.KindUnit, name, "h1"),
				store.HistoryPrefix(v1.KindUnit, name, "h1") + "1",
			}
		}},
		{"host", func(ctx context.Context, s *store.Store) func() error {
			return func() error { _, err := CollectHost(ctx, s, "h1"); return err }
		}, func(name string) []string {
			return []string{
				store.StatusKey(v1.KindUnit, name, "h1"),
				store.HistoryPrefix(v1.KindUnit, name, "h1") + "1",
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testCollectSpares(t, tc.collect, tc.keys)
		})
	}
}

func testCollectSpares(t *testing.T, collector func(context.Context, *store.Store) func() error, keys func(string) []string) {
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	const objects = 250
	put := func(key string) error {
		_, err := s.Put(ctx, key, []byte("{}"), 0)
		return err
	}
	if err := put(store.AliveKey("h1")); err != nil {
		t.Fatal(err)
	}
	if err := put(store.HostKey("h1")); err != nil {
		t.Fatal(err)
	}

	created := make(chan error, 1)
	go func() {
		for i := range objects {
			name := fmt.Sprintf("u%d", i)
			u := v1.New(v1.KindUnit).(*v1.Unit)
			u.Metadata.Name = name
			u.Spec.Container.Image = "x"
			v1.Default(u)
			if _, err := store.Apply(ctx, s, []v1.Object{u}, store.ApplyOptions{}); err != nil {
				created <- err
				return
			}
			for _, k := range keys(name) {
				if err := put(k); err != nil {
					created <- err
					return
				}
			}
		}
		created <- nil
	}()
	collect := collector(ctx, s)
	passes := 0
	for done := false; !done; {
		select {
		case err := <-created:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		default:
		}
		if err := collect(); err != nil {
			t.Fatal(err)
		}
		passes++
	}

	lost := 0
	for i := range objects {
		for _, k := range keys(fmt.Sprintf("u%d", i)) {
			if _, err := s.Get(ctx, k); errors.Is(err, store.ErrNotFound) {
				lost++
				if lost <= 5 {
					t.Errorf("%s of a live object was collected", k)
				}
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d keys of live objects collected in %d passes", lost, objects*len(keys("")), passes)
	}

	// Once the object is gone, its keys go at the next pass.
	if _, err := s.Delete(ctx, store.ObjectKey(v1.KindUnit, "u0")); err != nil {
		t.Fatal(err)
	}
	if err := collect(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys("u0") {
		if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a deleted object is still there (%v)", k, err)
		}
	}
}

// A host is forgotten once it has been Down for HostGCAfter, counted from
// when the collector first saw it Down; one that came back in between
// starts over. Time is a fake clock the test steps.
func TestCollectForgetsHostsDownForHostGCAfter(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	fake := testingclock.NewFakeClock(time.Now())
	put := func(key string) {
		t.Helper()
		if _, err := s.Put(ctx, key, []byte(`{}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	present := func(key string) bool {
		t.Helper()
		_, err := s.Get(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	c := New(s, Options{HostGCAfter: 30 * time.Minute, Clock: fake})
	collect := func() {
		t.Helper()
		if err := c.Collect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	put(store.HostKey("down"))
	put(store.HostKey("flapping"))
	put(store.StatusKey(v1.KindUnit, "web", "down"))
	collect() // both first seen Down now
	fake.Step(20 * time.Minute)
	put(store.AliveKey("flapping"))
	collect() // flapping is Up: starts over
	if _, err := s.Delete(ctx, store.AliveKey("flapping")); err != nil {
		t.Fatal(err)
	}
	collect()
	fake.Step(11 * time.Minute)
	collect()
	if present(store.HostKey("down")) || present(store.StatusKey(v1.KindUnit, "web", "down")) {
		t.Error("host down for 31m of 30m kept its record or status")
	}
	if !present(store.HostKey("flapping")) {
		t.Error("host down for 11m since it was last Up was forgotten")
	}
	fake.Step(20 * time.Minute)
	collect()
	if present(store.HostKey("flapping")) {
		t.Error("host down for 31m since it was last Up kept")
	}
}
