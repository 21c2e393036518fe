package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// UpdateObjects is a read-modify-write of stored objects of one kind, as
// applyctl start, stop and restart change a Unit's goal and annotations.
//
// It lists every object of kind and passes them, freshly decoded and the
// caller's to change, to change, which returns those it changed (possibly
// none). Each returned object must be one of those listed. They are written
// in one transaction that compares each key's mod revision with the one
// listed, with Apply's rules: uid and creationTimestamp are kept, the
// generation rises only when the spec changed, and an object whose spec,
// labels and annotations did not change is Unchanged and not written; a
// Job's version records are kept as Apply keeps them.
//
// When another writer changed one of the keys in between, UpdateObjects
// lists again and calls change again, a few times, before it returns an
// error wrapping ErrConflict; change must therefore decide from what it is
// given only. An error of change is returned as is. Results are in the
// order change returned the objects. UpdateObjects is safe for concurrent
// use.
func UpdateObjects(ctx context.Context, s *Store, kind string, change func(objs []v1.Object) ([]v1.Object, error)) ([]ApplyResult, error) {
	if !appliable(v1Kind(kind)) {
		return nil, fmt.Errorf("store: update: kind %q is not stored by users", kind)
	}
	var err error
	for attempt := 0; attempt < applyAttempts; attempt++ {
		var kvs []KV
		kvs, _, err = s.List(ctx, ObjectPrefix(kind))
		if err != nil {
			return nil, fmt.Errorf("store: update: %w", err)
		}
		stored := make(map[string]KV, len(kvs))
		objs := make([]v1.Object, 0, len(kvs))
		for _, kv := range kvs {
			o, derr := decodeObject(kind, kv)
			if derr != nil {
				return nil, fmt.Errorf("store: update: %w", derr)
			}
			stored[kv.Key] = kv
			objs = append(objs, o)
		}
		if v1Kind(kind) == v1.KindJob {
			if err = ReadJobRecords(ctx, s, stored); err != nil {
				return nil, fmt.Errorf("store: update: %w", err)
			}
		}
		changed, cerr := change(objs)
		if cerr != nil {
			return nil, cerr
		}
		for _, o := range changed {
			if _, ok := stored[ObjectKey(kind, o.GetObjectMeta().Name)]; !ok {
				return nil, fmt.Errorf("store: update: %s/%s: %w", lower(kind), o.GetObjectMeta().Name, ErrNotFound)
			}
		}
		var results []ApplyResult
		var ops []Op
		results, ops, err = planApply(changed, stored, time.Now())
		if err != nil {
			return nil, fmt.Errorf("store: update: %w", err)
		}
		if len(ops) == 0 {
			return results, nil
		}
		var rev int64
		rev, err = s.Txn(ctx, ops)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: update: %w", err)
		}
		for _, r := range results {
			if r.Action != Unchanged {
				r.Object.GetObjectMeta().ResourceVersion = strconv.FormatInt(rev, 10)
			}
		}
		return results, nil
	}
	return nil, fmt.Errorf("store: update: still conflicting after %d attempts: %w", applyAttempts, err)
}
