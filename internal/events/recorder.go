package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// Limits of the Recorder.
const (
	// LeaseTTL is the lease every event is written on.
	LeaseTTL = time.Hour
	// LeaseMinLeft is the least a lease must have left to take another
	// write; below it the Recorder grants a new one.
	LeaseMinLeft = 10 * time.Minute
	// SeriesWindow is how long after its last occurrence a repeat of an
	// event raises its Count instead of adding an event.
	SeriesWindow = 10 * time.Minute
	// WriteTimeout bounds each call of Event.
	WriteTimeout = 2 * time.Second
	// unavailableBackoff is how long events are dropped without trying
	// after etcd could not be reached.
	unavailableBackoff = 5 * time.Second
	// maxSeries bounds the events remembered for deduplication.
	maxSeries = 4096
	// maxMessage bounds the length of a message, in bytes.
	maxMessage = 1024
)

// Recorder writes events about objects to etcd. Make one per controller
// with NewRecorder; it is safe for concurrent use.
type Recorder struct {
	store *store.Store
	host  string
	log   *slog.Logger
	now   func() time.Time

	// lock is held while an event is written: a channel rather than a
	// mutex so that waiting for it ends with the caller's deadline. It
	// guards every field below and keeps the writes of one series in order.
	lock         chan struct{}
	lease        int64
	leaseExpires time.Time
	lastNanos    int64
	series       map[seriesKey]*series
	lastSweep    time.Time
	retryAt      time.Time

	closed atomic.Bool
}

// seriesKey is what makes two events the same.
type seriesKey struct {
	kind, name      string
	typ             v1.EventType
	reason, message string
}

// series is the last event written of a seriesKey and where it is.
type series struct {
	id string
	ev v1.Event
}

// NewRecorder returns a Recorder that writes events from host to s. log
// receives the events it drops, at debug level; nil discards them.
func NewRecorder(s *store.Store, host string, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{
		store:  s,
		host:   host,
		log:    log,
		now:    time.Now,
		lock:   make(chan struct{}, 1),
		series: map[seriesKey]*series{},
	}
}

// Event records an event about the object of kind ("Unit", "Job" or
// "Service") and name. The message is messageFmt formatted with args (taken
// as is without args), cut to 1024 bytes. A repeat of the same object, type,
// reason and message within SeriesWindow of its last occurrence raises the
// Count and LastTimestamp of the stored event instead of adding one.
//
// Event returns within WriteTimeout, or sooner when ctx ends; when the event
// cannot be written it is dropped and logged at debug level. It is safe for
// concurrent use and does nothing after Close.
func (r *Recorder) Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any) {
	if r == nil || r.closed.Load() {
		return
	}
	msg := messageFmt
	if len(args) > 0 {
		msg = fmt.Sprintf(messageFmt, args...)
	}
	k := seriesKey{kind: canonicalKind(kind), name: name, typ: typ, reason: reason, message: truncate(msg, maxMessage)}
	ctx, cancel := context.WithTimeout(ctx, WriteTimeout)
	defer cancel()
	select {
	case r.lock <- struct{}{}:
	case <-ctx.Done():
		r.dropped(k, ctx.Err())
		return
	}
	defer func() { <-r.lock }()

	now := r.now().UTC()
	if now.Before(r.retryAt) {
		r.dropped(k, errors.New("etcd was unreachable moments ago"))
		return
	}
	r.sweep(now)
	var s series
	if prev, ok := r.series[k]; ok && now.Sub(prev.ev.LastTimestamp) <= SeriesWindow {
		s = *prev
		s.ev.Count++
		s.ev.LastTimestamp = now
	} else {
		s = series{id: r.newID(now), ev: v1.Event{
			Object:         v1.ObjectReference{Kind: k.kind, Name: name},
			Type:           typ,
			Reason:         reason,
			Message:        k.message,
			Host:           r.host,
			Count:          1,
			FirstTimestamp: now,
			LastTimestamp:  now,
		}}
	}
	if err := r.write(ctx, now, s); err != nil {
		if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
			r.retryAt = r.now().Add(unavailableBackoff)
		}
		r.dropped(k, err)
		return
	}
	r.series[k] = &s
}

// write stores s on the current lease, granting a new lease when there is
// none, it is running out, or it vanished. The caller holds the lock.
func (r *Recorder) write(ctx context.Context, now time.Time, s series) error {
	for attempt := 0; ; attempt++ {
		if r.lease == 0 || r.leaseExpires.Sub(now) < LeaseMinLeft {
			lease, err := r.store.Grant(ctx, LeaseTTL)
			if err != nil {
				return err
			}
			r.lease, r.leaseExpires = lease, now.Add(LeaseTTL)
		}
		_, err := store.PutEvent(ctx, r.store, s.id, s.ev, r.lease)
		if errors.Is(err, store.ErrNotFound) && attempt == 0 {
			r.lease = 0 // revoked behind our back: grant another and write again
			continue
		}
		return err
	}
}

// newID returns a time-sortable id, unique for this Recorder even when the
// clock does not move: unix nanoseconds in 16 hex digits, then the host.
func (r *Recorder) newID(now time.Time) string {
	n := now.UnixNano()
	if n <= r.lastNanos {
		n = r.lastNanos + 1
	}
	r.lastNanos = n
	if r.host == "" {
		return fmt.Sprintf("%016x", n)
	}
	return fmt.Sprintf("%016x-%s", n, strings.ReplaceAll(r.host, "/", "_"))
}

// sweep forgets series that can no longer be repeated, at most once a
// minute, and the oldest ones when there are too many.
func (r *Recorder) sweep(now time.Time) {
	if now.Sub(r.lastSweep) < time.Minute && len(r.series) < maxSeries {
		return
	}
	r.lastSweep = now
	for k, s := range r.series {
		if now.Sub(s.ev.LastTimestamp) > SeriesWindow {
			delete(r.series, k)
		}
	}
	for len(r.series) >= maxSeries {
		var oldest seriesKey
		var at time.Time
		for k, s := range r.series {
			if at.IsZero() || s.ev.LastTimestamp.Before(at) {
				oldest, at = k, s.ev.LastTimestamp
			}
		}
		delete(r.series, oldest)
	}
}

func (r *Recorder) dropped(k seriesKey, err error) {
	r.log.Debug("event dropped", "kind", k.kind, "name", k.name, "type", k.typ, "reason", k.reason,
		"message", k.message, "err", err)
}

// Close stops the Recorder: later events are dropped. Events already written
// stay until their lease expires; nothing is revoked.
func (r *Recorder) Close() {
	r.closed.Store(true)
}

// canonicalKind returns the v1 spelling of a kind given in any case.
func canonicalKind(kind string) string {
	for _, k := range []string{v1.KindUnit, v1.KindJob, v1.KindService, v1.KindHost} {
		if strings.EqualFold(k, kind) {
			return k
		}
	}
	return kind
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
