package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Grant creates a lease of ttl (rounded up to whole seconds, at least 1s; etcd may
// raise it to its minimum) and returns its id.
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (int64, error) {
	secs := int64(math.Ceil(ttl.Seconds()))
	if secs < 1 {
		secs = 1
	}
	done := s.track("grant")
	resp, err := s.cli.Grant(ctx, secs)
	done(err)
	if err != nil {
		return 0, wrapErr("grant lease", err)
	}
	return int64(resp.ID), nil
}

// KeepAlive keeps lease alive until ctx ends. The returned channel closes when the
// lease is lost (expired, revoked, or the keep-alive gave up because etcd could not be
// reached before the lease's deadline) so callers can grant a new one and rewrite their
// keys; it also closes when ctx ends or the Store is closed. A lease that does not
// exist gives an error wrapping ErrNotFound.
func (s *Store) KeepAlive(ctx context.Context, lease int64) (<-chan struct{}, error) {
	done := s.track("lease_ttl")
	ttl, err := s.cli.TimeToLive(ctx, clientv3.LeaseID(lease))
	done(err)
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return nil, fmt.Errorf("store: keep alive lease %x: %w", lease, ErrNotFound)
		}
		return nil, wrapErr(fmt.Sprintf("keep alive lease %x", lease), err)
	}
	if ttl.TTL <= 0 {
		return nil, fmt.Errorf("store: keep alive lease %x: %w", lease, ErrNotFound)
	}
	kch, err := s.cli.KeepAlive(ctx, clientv3.LeaseID(lease))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("keep alive lease %x", lease), err)
	}
	lost := make(chan struct{})
	go func() {
		defer close(lost)
		for range kch { // closes when the lease is gone, keep-alive gave up, or ctx ended
		}
	}()
	return lost, nil
}

// Revoke revokes lease: every key attached to it is deleted. A lease that does not
// exist gives an error wrapping ErrNotFound.
func (s *Store) Revoke(ctx context.Context, lease int64) error {
	done := s.track("revoke")
	_, err := s.cli.Revoke(ctx, clientv3.LeaseID(lease))
	done(err)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("store: revoke lease %x: %w", lease, ErrNotFound)
	}
	if err != nil {
		return wrapErr(fmt.Sprintf("revoke lease %x", lease), err)
	}
	return nil
}
