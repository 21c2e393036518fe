package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func TestListEvents(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(kind, name, id, reason string, last time.Time) {
		t.Helper()
		ev := v1.Event{Object: v1.ObjectReference{Kind: kind, Name: name}, Type: v1.EventNormal, Reason: reason,
			Count: 1, FirstTimestamp: t0, LastTimestamp: last}
		if _, err := store.PutEvent(ctx, s, id, ev, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Ids in one order, last timestamps in another: the list follows the time.
	put("Unit", "todo", "1", "Started", t0.Add(3*time.Minute))
	put("Unit", "todo", "2", "Pulled", t0.Add(time.Minute))
	put("Unit", "todo", "3", "BackOff", t0.Add(2*time.Minute))
	put("Job", "netcat", "1", "Deployed", t0.Add(150*time.Second))
	putJSON(t, s, store.EventPrefix("unit", "todo")+"4", "not an event")
	// An event that lacks its object and count takes them from its key.
	putJSON(t, s, store.EventPrefix("unit", "todo")+"5", map[string]any{"reason": "Old", "firstTimestamp": t0})

	evs, err := store.ListEvents(ctx, s, "Unit", "todo")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Reason)
	}
	if want := "Old Pulled BackOff Started"; strings.Join(got, " ") != want {
		t.Errorf("ListEvents: %s, want %s", strings.Join(got, " "), want)
	}
	if old := evs[0]; old.Object != (v1.ObjectReference{Kind: "Unit", Name: "todo"}) || old.Count != 1 || !old.LastTimestamp.Equal(t0) {
		t.Errorf("an event read from its key: %+v", old)
	}
	all, err := store.ListAllEvents(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, ev := range all {
		got = append(got, ev.Object.Kind+"/"+ev.Reason)
	}
	if want := "Unit/Old Unit/Pulled Unit/BackOff Job/Deployed Unit/Started"; strings.Join(got, " ") != want {
		t.Errorf("ListAllEvents: %s, want %s", strings.Join(got, " "), want)
	}
	if evs, err := store.ListEvents(ctx, s, "Unit", "nope"); err != nil || len(evs) != 0 {
		t.Errorf("events of an object without any: %v %v", evs, err)
	}
}

func TestPutEventLease(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	lease, err := s.Grant(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ev := v1.Event{Object: v1.ObjectReference{Kind: "Unit", Name: "todo"}, Reason: "Started", Count: 1}
	if _, err := store.PutEvent(ctx, s, "a", ev, lease); err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, store.EventPrefix("unit", "todo")+"a")
	if err != nil || kv.Lease != lease {
		t.Fatalf("stored %+v, %v; want lease %x", kv, err, lease)
	}
	if ttl, err := s.LeaseTimeToLive(ctx, lease); err != nil || ttl < 59*time.Minute {
		t.Errorf("time to live %s, %v", ttl, err)
	}
	if err := s.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutEvent(ctx, s, "b", ev, lease); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("put on a revoked lease: %v, want ErrNotFound", err)
	}
	if _, err := s.LeaseTimeToLive(ctx, lease); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("time to live of a revoked lease: %v, want ErrNotFound", err)
	}
	if _, err := store.PutEvent(ctx, s, "c/d", ev, 0); err == nil {
		t.Error("an id with a slash was accepted")
	}
}
