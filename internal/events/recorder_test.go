package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/events"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/store/embedded"
	"berth.dev/berth/internal/testenv"
)

// clock is a settable time for a Recorder.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func listKVs(t *testing.T, s *store.Store, kind, name string) []store.KV {
	t.Helper()
	kvs, _, err := s.List(context.Background(), store.EventPrefix(kind, name))
	if err != nil {
		t.Fatal(err)
	}
	return kvs
}

func listEvents(t *testing.T, s *store.Store, kind, name string) []v1.Event {
	t.Helper()
	evs, err := store.ListEvents(context.Background(), s, kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestEventStoredOnALeaseOfAnHour(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	r := events.NewRecorder(s, "host-a", nil)
	defer r.Close()
	ctx := context.Background()
	r.Event(ctx, "Unit", "todo", v1.EventNormal, "Pulled", "pulled image %s in %s", "todo:1", "2s")

	kvs := listKVs(t, s, "Unit", "todo")
	if len(kvs) != 1 {
		t.Fatalf("%d events stored, want 1", len(kvs))
	}
	kv := kvs[0]
	if !strings.HasPrefix(kv.Key, store.EventPrefix("unit", "todo")) || !strings.HasSuffix(kv.Key, "-host-a") {
		t.Errorf("key %q", kv.Key)
	}
	if kv.Lease == 0 {
		t.Fatal("the event is not on a lease")
	}
	ttl, err := s.LeaseTimeToLive(ctx, kv.Lease)
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("lease TTL %s, want about an hour", ttl)
	}
	ev := listEvents(t, s, "unit", "todo")[0]
	want := v1.Event{Object: v1.ObjectReference{Kind: "Unit", Name: "todo"}, Type: v1.EventNormal, Reason: "Pulled",
		Message: "pulled image todo:1 in 2s", Host: "host-a", Count: 1}
	if ev.Object != want.Object || ev.Type != want.Type || ev.Reason != want.Reason || ev.Message != want.Message ||
		ev.Host != want.Host || ev.Count != 1 || ev.FirstTimestamp.IsZero() || !ev.FirstTimestamp.Equal(ev.LastTimestamp) {
		t.Errorf("event %+v\nwant %+v with timestamps", ev, want)
	}

	// A second event reuses the lease.
	r.Event(ctx, "unit", "todo", v1.EventNormal, "Started", "started container abc")
	kvs = listKVs(t, s, "Unit", "todo")
	if len(kvs) != 2 || kvs[1].Lease != kv.Lease {
		t.Errorf("second event: %d events, leases %v", len(kvs), kvs)
	}
}

func TestEventRepeatRaisesCount(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	r := events.NewRecorder(s, "host-a", nil)
	c := newClock()
	events.SetClock(r, c.now)
	ctx := context.Background()
	first := c.now()
	for i := 0; i < 17; i++ {
		r.Event(ctx, "Unit", "todo", v1.EventWarning, "BackOff", "back-off restarting failed container")
		c.advance(30 * time.Second)
	}
	evs := listEvents(t, s, "Unit", "todo")
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(evs), evs)
	}
	if ev := evs[0]; ev.Count != 17 || !ev.FirstTimestamp.Equal(first) || !ev.LastTimestamp.Equal(first.Add(16*30*time.Second)) {
		t.Errorf("count %d first %s last %s; want 17 over 8m", ev.Count, ev.FirstTimestamp, ev.LastTimestamp)
	}

	// Another message, type, reason or object is another event.
	r.Event(ctx, "Unit", "todo", v1.EventWarning, "BackOff", "back-off 20s restarting failed container")
	r.Event(ctx, "Unit", "todo", v1.EventNormal, "BackOff", "back-off restarting failed container")
	r.Event(ctx, "Unit", "todo", v1.EventWarning, "Failed", "back-off restarting failed container")
	r.Event(ctx, "Unit", "db", v1.EventWarning, "BackOff", "back-off restarting failed container")
	if evs := listEvents(t, s, "Unit", "todo"); len(evs) != 4 {
		t.Errorf("%d events of unit/todo, want 4: %+v", len(evs), evs)
	}
	if evs := listEvents(t, s, "Unit", "db"); len(evs) != 1 {
		t.Errorf("%d events of unit/db, want 1", len(evs))
	}

	// Ten minutes after its last occurrence, a repeat starts a new event.
	c.advance(11 * time.Minute)
	r.Event(ctx, "Unit", "db", v1.EventWarning, "BackOff", "back-off restarting failed container")
	evs = listEvents(t, s, "Unit", "db")
	if len(evs) != 2 || evs[0].Count != 1 || evs[1].Count != 1 {
		t.Errorf("after 11 minutes: %+v", evs)
	}
}

func TestEventLeaseRenewedBeforeItRunsOut(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	r := events.NewRecorder(s, "host-a", nil)
	c := newClock()
	events.SetClock(r, c.now)
	ctx := context.Background()
	r.Event(ctx, "Job", "netcat", v1.EventNormal, "Deployed", "one")
	c.advance(45 * time.Minute) // 15 minutes left: the same lease
	r.Event(ctx, "Job", "netcat", v1.EventNormal, "Deployed", "two")
	c.advance(6 * time.Minute) // 9 minutes left: a new lease
	r.Event(ctx, "Job", "netcat", v1.EventNormal, "Deployed", "three")
	// A repeat is written again on the new lease, so it lives on.
	r.Event(ctx, "Job", "netcat", v1.EventNormal, "Deployed", "two")
	kvs := listKVs(t, s, "job", "netcat")
	if len(kvs) != 3 {
		t.Fatalf("%d events, want 3", len(kvs))
	}
	if kvs[1].Lease != kvs[2].Lease || kvs[0].Lease == kvs[2].Lease {
		t.Errorf("leases of one, two (repeated after renewal), three: %x %x %x; want a, b, b", kvs[0].Lease, kvs[1].Lease, kvs[2].Lease)
	}

	// A lease revoked behind the Recorder's back is replaced.
	if err := s.Revoke(ctx, kvs[2].Lease); err != nil {
		t.Fatal(err)
	}
	r.Event(ctx, "Job", "netcat", v1.EventNormal, "Deployed", "four")
	if kvs := listKVs(t, s, "job", "netcat"); len(kvs) != 2 || kvs[1].Lease == 0 {
		t.Errorf("after a revoke: %+v", kvs)
	}
}

func TestEventConcurrent(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	r := events.NewRecorder(s, "host-a", nil)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Event(context.Background(), "Unit", "todo", v1.EventNormal, "Pulling", "pulling image todo:1")
			r.Event(context.Background(), "Unit", "todo", v1.EventNormal, "Started", "started %d", i)
		}()
	}
	wg.Wait()
	evs := listEvents(t, s, "Unit", "todo")
	if len(evs) != 21 {
		t.Fatalf("%d events, want 21", len(evs))
	}
	for _, ev := range evs {
		if ev.Reason == "Pulling" && ev.Count != 20 {
			t.Errorf("Pulling counted %d times, want 20", ev.Count)
		}
	}
}

func TestEventLongMessageIsCut(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	r := events.NewRecorder(s, "host-a", nil)
	r.Event(context.Background(), "Unit", "todo", v1.EventWarning, "Failed", "%s", strings.Repeat("é", 1000))
	ev := listEvents(t, s, "Unit", "todo")[0]
	if len(ev.Message) > 1024 || !strings.HasSuffix(ev.Message, "...") || !strings.HasPrefix(ev.Message, "éé") {
		t.Errorf("message of %d bytes: %.20q...", len(ev.Message), ev.Message)
	}
}

func TestEventWithoutEtcdReturnsQuickly(t *testing.T) {
	t.Parallel()
	e, err := embedded.Start(context.Background(), embedded.Config{
		DataDir:      t.TempDir(),
		ListenClient: fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
		ListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
		Fast:         true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	stop := func() { closeOnce.Do(func() { e.Close() }) }
	defer stop()
	s := testenv.NewStore(t, store.Config{Endpoints: e.Endpoints()})
	var logs testenv.Buffer
	r := events.NewRecorder(s, "host-a", slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	r.Event(ctx, "Unit", "todo", v1.EventNormal, "Started", "started")
	if n := len(listKVs(t, s, "Unit", "todo")); n != 1 {
		t.Fatalf("%d events before etcd stopped", n)
	}

	stop()
	start := time.Now()
	r.Event(ctx, "Unit", "todo", v1.EventWarning, "Died", "exit 1")
	if took := time.Since(start); took > events.WriteTimeout+time.Second {
		t.Errorf("Event took %s with etcd down", took)
	}
	start = time.Now()
	r.Event(ctx, "Unit", "todo", v1.EventWarning, "Died", "exit 2")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("a second Event right after took %s with etcd down", took)
	}
	if !strings.Contains(logs.String(), "event dropped") || !strings.Contains(logs.String(), "reason=Died") {
		t.Errorf("no debug log of the dropped events:\n%s", logs.String())
	}

	// A closed store and a closed Recorder: no panic, no wait.
	s.Close()
	start = time.Now()
	r2 := events.NewRecorder(s, "host-a", nil)
	r2.Event(ctx, "Unit", "todo", v1.EventWarning, "Died", "exit 3")
	r2.Close()
	r2.Event(ctx, "Unit", "todo", v1.EventWarning, "Died", "exit 4")
	if took := time.Since(start); took > events.WriteTimeout+time.Second {
		t.Errorf("Event on a closed store took %s", took)
	}
	var nilRecorder *events.Recorder
	nilRecorder.Event(ctx, "Unit", "todo", v1.EventNormal, "Nothing", "a nil Recorder records nothing")
}
