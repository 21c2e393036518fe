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

// KeepAlive keeps lease alive until ctx ends. The returned channel closes when etcd
// says the lease is lost (expired while etcd could not be reached, or revoked), so
// callers can grant a new one and rewrite their keys; it also closes when ctx ends or
// the Store is closed. A lease that does not
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
	lost := make(chan struct{})
	go s.keepAlive(ctx, clientv3.LeaseID(lease), time.Duration(ttl.GrantedTTL)*time.Second, lost)
	return lost, nil
}

// keepAlive renews a lease every third of its TTL until ctx ends, and
// closes lost when etcd says the lease is gone (expired or revoked). Each renewal is a one-off request on a new stream rather than the
// client's long-lived keep-alive stream: that stream lives on one member,
// and when the member is cut off (no error, just silence) gRPC notices only
// after its own keep-alive timeout, which may be longer than the lease's
// TTL. A renewal that times out is tried again at once, and the balancer
// gives the new stream to another member.
func (s *Store) keepAlive(ctx context.Context, id clientv3.LeaseID, ttl time.Duration, lost chan<- struct{}) {
	defer close(lost)
	every, try := ttl/3, max(ttl/6, 100*time.Millisecond)
	last := time.Now() // of the last renewal
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		for {
			octx, cancel := context.WithTimeout(ctx, try)
			done := s.track("lease_keepalive")
			resp, err := s.cli.KeepAliveOnce(octx, id)
			done(err)
			cancel()
			if err == nil {
				if resp.TTL <= 0 {
					return
				}
				last = time.Now()
				break
			}
			if errors.Is(err, rpctypes.ErrLeaseNotFound) || ctx.Err() != nil || s.closed.Load() {
				return
			}
			// Only etcd says the lease is gone: a leader election or a
			// loaded member may delay renewals past the TTL while the new
			// leader extends every lease. Retry at once, then more slowly
			// when etcd has not answered for a whole TTL (every member
			// down: do not spin).
			pause := 50 * time.Millisecond
			if time.Since(last) >= ttl {
				pause = every
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
		timer.Reset(every)
	}
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
