package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventType says what happened to a key.
type EventType int

const (
	// EventPut is a create or an update.
	EventPut EventType = iota + 1
	// EventDelete is a delete or a lease expiry.
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "PUT"
	case EventDelete:
		return "DELETE"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change of a key. For deletes only KV.Key and KV.ModRevision (the
// revision of the delete) are set.
type Event struct {
	Type EventType
	KV   KV
}

// WatchBatch is what one etcd watch response carried: the events of one or more
// revisions, in order, and the revision the watch has reached. Compacted means the
// requested revision is gone and the watch ended: relist. Err is set when the watch
// ended for another reason; the channel closes after either.
type WatchBatch struct {
	Events    []Event
	Revision  int64
	Compacted bool
	Err       error
}

// Watch streams changes under prefix from revision fromRev (inclusive; 0 means from
// now). The channel closes when ctx ends, or after a batch with Compacted or Err set.
// When an endpoint fails the etcd client resumes the watch on another endpoint from
// the last revision seen, without losing events.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) <-chan WatchBatch {
	out := make(chan WatchBatch)
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if fromRev > 0 {
		opts = append(opts, clientv3.WithRev(fromRev))
	}
	ctx, cancel := context.WithCancel(ctx)
	wch := s.cli.Watch(ctx, prefix, opts...)
	go func() {
		defer close(out)
		defer cancel()
		send := func(b WatchBatch) bool {
			select {
			case out <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range wch {
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				send(WatchBatch{Revision: resp.CompactRevision, Compacted: true,
					Err: fmt.Errorf("store: watch %s from %d: %w", prefix, fromRev, resp.Err())})
				return
			}
			if err := resp.Err(); err != nil {
				send(WatchBatch{Revision: resp.Header.Revision, Err: wrapErr("watch "+prefix, err)})
				return
			}
			if resp.IsProgressNotify() && len(resp.Events) == 0 {
				continue
			}
			b := WatchBatch{Revision: resp.Header.Revision, Events: make([]Event, 0, len(resp.Events))}
			for _, ev := range resp.Events {
				e := Event{Type: EventPut, KV: fromKV(ev.Kv)}
				if ev.Type == clientv3.EventTypeDelete {
					e = Event{Type: EventDelete, KV: KV{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision}}
				}
				b.Events = append(b.Events, e)
			}
			if !send(b) {
				return
			}
		}
		if ctx.Err() == nil {
			send(WatchBatch{Err: fmt.Errorf("store: watch %s: %w", prefix, errWatchClosed)})
		} else if s.closed.Load() {
			send(WatchBatch{Err: errors.New("store: watch " + prefix + ": store closed")})
		}
	}()
	return out
}

var errWatchClosed = errors.New("watch closed by etcd")
