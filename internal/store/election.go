package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Election elects one leader at a time among the processes that run an Election of
// the same name, under Prefix+"leader/"+name. It wraps etcd's concurrency package: a
// candidate holds a session lease of ttl; if it stops keeping the lease alive (crash,
// partition, closed Store) another candidate is elected when the lease expires.
type Election struct {
	store    *Store
	name     string
	identity string
	ttl      time.Duration
	leader   atomic.Bool
}

// NewElection returns an Election for name in which this process is identity.
// ttl is the session lease (at least 1s): how long a dead leader blocks the others.
func (s *Store) NewElection(name, identity string, ttl time.Duration) *Election {
	if ttl < time.Second {
		ttl = time.Second
	}
	return &Election{store: s, name: name, identity: identity, ttl: ttl}
}

func (e *Election) prefix() string { return Prefix + "leader/" + e.name }

// Run campaigns until ctx ends. While leader it calls lead(leaderCtx); leaderCtx is
// cancelled when leadership is lost (the session's keep-alive is late or the lease is
// gone) or ctx ends. lead must return promptly then: Run resigns only after lead
// returned, and campaigns again only after that, so this process never leads twice at
// once. Leadership is given up early, before the lease can expire on the server, so two
// processes never lead at once as long as lead honours its context. Run returns nil
// when ctx ends, or an error when the Store was closed.
func (e *Election) Run(ctx context.Context, lead func(ctx context.Context)) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if e.store.closed.Load() {
			return fmt.Errorf("store: election %s: store closed", e.name)
		}
		err := e.term(ctx, lead)
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(backoff*2, 5*time.Second)
		if errors.Is(err, ErrPermissionDenied) {
			// etcd's roles do not let this host lead (it lacks the
			// berth-leader role): others lead; look again now and then.
			backoff = time.Minute
		}
	}
	return nil
}

// term campaigns once and, when elected, leads until leadership ends.
func (e *Election) term(ctx context.Context, lead func(ctx context.Context)) error {
	secs := int64(math.Ceil(e.ttl.Seconds()))
	// Grant with ctx so an unreachable etcd cannot hold Run past ctx; the session itself
	// gets a context that outlives ctx so that Close can still revoke the lease.
	lease, err := e.store.cli.Grant(ctx, secs)
	if err != nil {
		return wrapErr("election "+e.name+": grant", err)
	}
	sess, err := concurrency.NewSession(e.store.cli, concurrency.WithLease(lease.ID),
		concurrency.WithTTL(int(secs)), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return wrapErr("election "+e.name, err)
	}
	defer sess.Close() // revokes the lease: followers see the key vanish at once
	el := concurrency.NewElection(sess, e.prefix())

	campaignCtx, cancelCampaign := context.WithCancel(ctx)
	defer cancelCampaign()
	go func() { // a campaign on a lost session would never win: stop it
		select {
		case <-sess.Done():
			cancelCampaign()
		case <-campaignCtx.Done():
		}
	}()
	if err := el.Campaign(campaignCtx, e.identity); err != nil {
		return wrapErr("election "+e.name+": campaign", err)
	}

	leaderCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Watch our own keep-alive: give up leadership when it is late by two thirds of the
	// TTL, well before the server expires the lease and elects someone else.
	acks, err := e.store.cli.KeepAlive(leaderCtx, sess.Lease())
	if err != nil {
		return wrapErr("election "+e.name+": keep alive", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		limit := e.ttl * 2 / 3
		last := time.Now()
		tick := time.NewTicker(e.ttl / 10)
		defer tick.Stop()
		for {
			select {
			case _, ok := <-acks:
				if !ok {
					return
				}
				last = time.Now()
			case <-tick.C:
				if time.Since(last) > limit {
					return
				}
			case <-sess.Done():
				return
			case <-leaderCtx.Done():
				return
			}
		}
	}()

	e.leader.Store(true)
	lead(leaderCtx)
	e.leader.Store(false)
	cancel()
	<-done

	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), e.ttl)
	defer rcancel()
	_ = el.Resign(rctx) // best effort: sess.Close revokes the lease anyway
	return nil
}

// Leader returns the identity of the current leader, or an error wrapping ErrNotFound
// when there is none.
func (e *Election) Leader(ctx context.Context) (string, error) {
	resp, err := e.store.cli.Get(ctx, e.prefix()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", wrapErr("election "+e.name+": leader", err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("store: election %s: leader: %w", e.name, ErrNotFound)
	}
	return string(resp.Kvs[0].Value), nil
}

// IsLeader reports whether this Election is leading now.
func (e *Election) IsLeader() bool { return e.leader.Load() }
