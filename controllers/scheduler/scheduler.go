package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// DefaultResync is how often Run reconciles every unit when Options.Resync
// is zero.
const DefaultResync = 30 * time.Second

// DefaultWorkers is the number of concurrent reconciles when
// Options.Workers is zero.
const DefaultWorkers = 8

// Options configure a Scheduler.
type Options struct {
	// Log receives a line per binding written or removed, and the loop's
	// errors. Nil discards.
	Log *slog.Logger
	// Metrics, when set, receives the loop's metrics under the controller
	// label "scheduler".
	Metrics *reconcile.Metrics
	// Workers is the number of concurrent reconciles (default
	// DefaultWorkers). Decisions are taken one at a time whatever their
	// number; the writes of the bindings they decide overlap, so that an
	// apply of many Units is bound at the pace of etcd's throughput rather
	// than one write's latency after the other.
	Workers int
	// Resync is the period of a full reconcile of every unit (default
	// DefaultResync).
	Resync time.Duration
	// RescheduleAfter is how long a host may stay Down before its instances
	// are moved to other Up hosts that match (0: never). A host that comes
	// back sooner keeps its instances.
	RescheduleAfter time.Duration
	// Events, when set, records a Rescheduled event on a Unit moved off a
	// lost host, and an InvalidObject event on a stored Unit that does not
	// decode.
	Events EventRecorder
	// Clock times RescheduleAfter and the loop (default the real clock).
	Clock clock.WithTicker
}

// Scheduler chooses the hosts of the Units whose placement needs it and
// writes them to bindings/unit/<name>. It is meant to run on one controller
// at a time, inside store.Election.Run's lead callback; a compare-and-swap on
// every write keeps a late former leader from overwriting a newer decision.
type Scheduler struct {
	store *store.Store
	opts  Options
}

// New returns a Scheduler that reads and writes s. Call Run to start it.
func New(s *store.Store, opts Options) *Scheduler {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Scheduler{store: s, opts: opts}
}

// bindingPrefix holds the binding of every Unit: bindings/unit/.
var bindingPrefix = store.BindingKey(v1.KindUnit, "")

// Run schedules until ctx ends, then returns nil once every reconcile under
// way has finished. It caches units, their bindings, host records, alive
// keys and statuses of units, and runs a reconcile.Controller named
// "scheduler" keyed by unit name, which starts once the caches have
// listed. A change of a unit or of its binding enqueues that unit; a host
// record that appears, vanishes or changes its labels (not a mere
// heartbeat), or an alive key that appears or vanishes, enqueues every
// unit; every Options.Resync every unit is enqueued again. Each Run starts
// from fresh caches, so a Scheduler may be run again after it lost and
// regained leadership.
func (s *Scheduler) Run(ctx context.Context) error {
	r := newRunner(s.store, s.opts)
	loop := reconcile.New("scheduler", r, reconcile.Options{
		Workers: s.opts.Workers, Metrics: s.opts.Metrics, Log: s.opts.Log,
		Resync: s.opts.Resync, Clock: s.opts.Clock,
	})
	r.enqueue = loop.Enqueue
	loop.Watch(r.units, reconcile.TrimPrefix(r.units.Prefix()))
	loop.Watch(r.bindings, reconcile.TrimPrefix(bindingPrefix)) // of units deleted too
	seen := &hostLabels{seen: map[string]string{}}
	loop.WatchAll(r.hosts, func(key string) bool { return seen.changed(r.hosts, key) })
	loop.WatchAll(r.alive, nil)
	// Statuses say whether an instance ever ran on a host (one that never
	// did is moved off a Down host at once) and which host ports the
	// instances hold.
	loop.Watch(r.statuses, nil)
	// A Job that leaves a host may make room for a pending unit.
	loop.Watch(r.jobs, nil)
	loop.Watch(r.jobBindings, r.pendingUnits)
	return loop.Start(ctx)
}

// hostLabels remembers what the scheduler reads of each host record, its
// labels and capacity, so that the heartbeat rewriting a record every few
// seconds with new load figures does not reconcile every unit each time.
type hostLabels struct {
	mu   sync.Mutex
	seen map[string]string // by key: the labels as JSON, "!" when unreadable
}

// changed reports whether the record under key appeared, vanished or has
// other labels or capacity since it was last seen.
func (h *hostLabels) changed(c *store.Typed[v1.Host], key string) bool {
	e, ok := c.Get(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	old, had := h.seen[key]
	if !ok {
		delete(h.seen, key)
		return had
	}
	now := "!"
	if e.Err == nil {
		st := &e.Value.Status
		b, _ := json.Marshal(e.Value.Metadata.Labels) // a map of strings always encodes, keys sorted
		now = fmt.Sprintf("%s %d %d %g %d", b, st.CPUs, st.MemoryBytes, st.ReservedCPUs, st.ReservedMemory)
	}
	h.seen[key] = now
	return !had || old != now
}

// EventRecorder records events about objects for describe.
type EventRecorder interface {
	Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any)
}
