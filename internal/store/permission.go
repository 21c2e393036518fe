package store

import (
	"context"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// MayWrite reports whether this Store's etcd user may write key, and
// writes nothing: it sends a transaction whose only write, a put of key,
// is behind a compare that never holds (a create revision below zero).
// etcd checks a transaction's permissions on every branch before it
// compares, so the answer is its roles', and true wherever
// authentication is off (an embedded etcd). Errors other than a refusal
// (etcd unreachable) are returned.
func (s *Store) MayWrite(ctx context.Context, key string) (bool, error) {
	done := s.track("txn")
	_, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "<", 0)).
		Then(clientv3.OpPut(key, "")).
		Commit()
	done(err)
	if err == nil {
		return true, nil
	}
	err = wrapErr("may write "+key, err)
	if errors.Is(err, ErrPermissionDenied) {
		return false, nil
	}
	return false, err
}
