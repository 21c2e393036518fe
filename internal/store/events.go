package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	v1 "berth.dev/berth/api/v1"
)

// AllEventsPrefix holds the events of every object: events/. One object's
// events are under EventPrefix(kind, name).
const AllEventsPrefix = Prefix + "events/"

// PutEvent writes ev under EventPrefix(ev.Object.Kind, ev.Object.Name)+id,
// attached to lease (0: none), and returns the revision of the write. A lease
// that no longer exists gives an error wrapping ErrNotFound, so the writer can
// grant a new one and write again.
func PutEvent(ctx context.Context, s *Store, id string, ev v1.Event, lease int64) (int64, error) {
	if ev.Object.Kind == "" || ev.Object.Name == "" || id == "" || strings.Contains(id, "/") {
		return 0, fmt.Errorf("store: put event: need an object kind, name and an id without '/' (got %q %q %q)",
			ev.Object.Kind, ev.Object.Name, id)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("store: put event: %w", err)
	}
	key := EventPrefix(ev.Object.Kind, ev.Object.Name) + id
	rev, err := s.Put(ctx, key, b, lease)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return 0, fmt.Errorf("store: put %s: lease %x: %w", key, lease, ErrNotFound)
	}
	return rev, err
}

// DecodeEvent decodes an event stored under events/<kind>/<name>/<id>. An
// event that lacks its object takes it from the key; a Count below 1 reads
// as 1 and a zero LastTimestamp as FirstTimestamp.
func DecodeEvent(kv KV) (v1.Event, error) {
	var ev v1.Event
	if err := json.Unmarshal(kv.Value, &ev); err != nil {
		return v1.Event{}, fmt.Errorf("store: decode %s: %w", kv.Key, err)
	}
	if ev.Object.Kind == "" || ev.Object.Name == "" {
		rest := strings.TrimPrefix(kv.Key, AllEventsPrefix)
		if parts := strings.Split(rest, "/"); len(parts) == 3 {
			if ev.Object.Kind == "" {
				ev.Object.Kind = v1Kind(parts[0])
				if ev.Object.Kind == "" {
					ev.Object.Kind = parts[0]
				}
			}
			if ev.Object.Name == "" {
				ev.Object.Name = parts[1]
			}
		}
	}
	if ev.Count < 1 {
		ev.Count = 1
	}
	if ev.LastTimestamp.IsZero() {
		ev.LastTimestamp = ev.FirstTimestamp
	}
	if ev.FirstTimestamp.IsZero() {
		ev.FirstTimestamp = ev.LastTimestamp
	}
	return ev, nil
}

// ListEvents returns the events of one object, oldest first (by
// LastTimestamp, then key). Values that are not events are skipped: events
// are written by anyone, and one bad value must not hide the others.
func ListEvents(ctx context.Context, s *Store, kind, name string) ([]v1.Event, error) {
	return listEvents(ctx, s, EventPrefix(kind, name))
}

// ListAllEvents returns the events of every object, oldest first (by
// LastTimestamp, then key), skipping values that are not events.
func ListAllEvents(ctx context.Context, s *Store) ([]v1.Event, error) {
	return listEvents(ctx, s, AllEventsPrefix)
}

func listEvents(ctx context.Context, s *Store, prefix string) ([]v1.Event, error) {
	kvs, _, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]v1.Event, 0, len(kvs))
	for _, kv := range kvs { // sorted by key, so ties keep the order of the ids
		ev, err := DecodeEvent(kv)
		if err != nil {
			continue
		}
		out = append(out, ev)
	}
	SortEvents(out)
	return out, nil
}

// SortEvents sorts events oldest first by LastTimestamp, keeping the order
// of events seen at the same time.
func SortEvents(evs []v1.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].LastTimestamp.Before(evs[j].LastTimestamp) })
}

// LeaseTimeToLive returns how long lease has left, or an error wrapping
// ErrNotFound when it does not exist (expired or revoked).
//
// It lives here, next to the events that are its first user; it belongs
// with Grant and KeepAlive in lease.go.
func (s *Store) LeaseTimeToLive(ctx context.Context, lease int64) (time.Duration, error) {
	done := s.track("lease_ttl")
	resp, err := s.cli.TimeToLive(ctx, clientv3.LeaseID(lease))
	done(err)
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return 0, fmt.Errorf("store: time to live of lease %x: %w", lease, ErrNotFound)
		}
		return 0, wrapErr(fmt.Sprintf("time to live of lease %x", lease), err)
	}
	if resp.TTL <= 0 {
		return 0, fmt.Errorf("store: time to live of lease %x: %w", lease, ErrNotFound)
	}
	return time.Duration(resp.TTL) * time.Second, nil
}
