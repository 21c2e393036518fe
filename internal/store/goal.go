package store

import (
	"context"
	"errors"
	"fmt"
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
	var results []ApplyResult
	err := retryOnConflict(func() error {
		stored, objs, err := listForUpdate(ctx, s, kind)
		if err != nil {
			return err
		}
		changed, err := change(objs)
		if err != nil {
			return changeError{err}
		}
		for _, o := range changed {
			if _, ok := stored[ObjectKey(kind, o.GetObjectMeta().Name)]; !ok {
				return fmt.Errorf("%s/%s: %w", lower(kind), o.GetObjectMeta().Name, ErrNotFound)
			}
		}
		var ops []Op
		if results, ops, err = planApply(changed, stored, time.Now()); err != nil {
			return err
		}
		return commit(ctx, s, results, ops)
	})
	var cerr changeError
	if errors.As(err, &cerr) {
		return nil, cerr.err // change's own error, as it returned it
	}
	if err != nil {
		return nil, fmt.Errorf("store: update: %w", err)
	}
	return results, nil
}

// changeError carries an error of UpdateObjects' change function out of
// its retries unwrapped: it is never retried, even if it wraps
// ErrConflict.
type changeError struct{ err error }

func (e changeError) Error() string { return e.err.Error() }

// listForUpdate lists the stored objects of kind, by key and decoded, with
// the version records of Jobs.
func listForUpdate(ctx context.Context, s *Store, kind string) (map[string]KV, []v1.Object, error) {
	kvs, _, err := s.List(ctx, ObjectPrefix(kind))
	if err != nil {
		return nil, nil, err
	}
	stored := make(map[string]KV, len(kvs))
	objs := make([]v1.Object, 0, len(kvs))
	for _, kv := range kvs {
		o, err := decodeObject(kind, kv)
		if err != nil {
			return nil, nil, err
		}
		stored[kv.Key] = kv
		objs = append(objs, o)
	}
	if v1Kind(kind) == v1.KindJob {
		if err := ReadJobRecords(ctx, s, stored); err != nil {
			return nil, nil, err
		}
	}
	return stored, objs, nil
}
