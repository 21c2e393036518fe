package scheduler

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// DefaultResync is how often Run reconciles every unit when Options.Resync
// is zero.
const DefaultResync = 30 * time.Second

// Options configure a Scheduler.
type Options struct {
	// Log receives a line per binding written or removed, and the loop's
	// errors. Nil discards.
	Log *slog.Logger
	// Metrics, when set, receives the loop's metrics under the controller
	// label "scheduler".
	Metrics *reconcile.Metrics
	// Workers is the number of concurrent reconciles (default 1).
	Workers int
	// Resync is the period of a full reconcile of every unit (default
	// DefaultResync).
	Resync time.Duration
	// RescheduleAfter is how long a host may stay Down before its instances
	// are moved to other Up hosts that match (0: never). A host that comes
	// back sooner keeps its instances.
	RescheduleAfter time.Duration
	// Events, when set, records a Rescheduled event on a Unit moved off a
	// lost host.
	Events EventRecorder
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
	return &Scheduler{store: s, opts: opts}
}

// bindingPrefix holds the binding of every Unit: bindings/unit/.
var bindingPrefix = store.BindingKey(v1.KindUnit, "")

// Run schedules until ctx ends, then returns nil once every reconcile under
// way has finished. It caches units, their bindings, host records and alive
// keys (list, then watch), waits for the caches to be filled, then runs a
// reconcile.Controller named "scheduler" keyed by unit name. A change of a
// unit or of its binding enqueues that unit; a host record that appears,
// vanishes or changes its labels (not a mere heartbeat), or an alive key
// that appears or vanishes, enqueues every unit; every Options.Resync every
// unit is enqueued again. Each Run starts from fresh caches, so a Scheduler may be
// run again after it lost and regained leadership.
func (s *Scheduler) Run(ctx context.Context) error {
	r := &runner{store: s.store, log: s.opts.Log, st: newState(), events: s.opts.Events}
	r.st.rescheduleAfter = s.opts.RescheduleAfter
	ctl := reconcile.New("scheduler", r, reconcile.Options{
		Workers: s.opts.Workers,
		Metrics: s.opts.Metrics,
		Log:     s.opts.Log,
	})
	unitPrefix := store.ObjectPrefix(v1.KindUnit)
	byName := func(prefix string) func(string) {
		return func(key string) { ctl.Enqueue(strings.TrimPrefix(key, prefix)) }
	}
	hostChanged := make(chan struct{}, 1)
	onHost := func() {
		select {
		case hostChanged <- struct{}{}:
		default: // one pending signal covers any number of changes
		}
	}
	seen := &hostLabels{seen: map[string]string{}}
	r.units = store.NewCache(s.store, unitPrefix, byName(unitPrefix))
	r.bindings = store.NewCache(s.store, bindingPrefix, byName(bindingPrefix))
	r.hosts = store.NewCache(s.store, store.HostsPrefix, func(key string) {
		if seen.changed(r.hosts, key) {
			onHost()
		}
	})
	r.alive = store.NewCache(s.store, store.AlivePrefix, func(string) { onHost() })
	// Statuses say whether an instance ever ran on a host: one that never
	// did is moved off a Down host at once.
	r.statuses = store.NewCache(s.store, store.StatusesPrefix, func(string) {})
	caches := []*store.Cache{r.units, r.bindings, r.hosts, r.alive, r.statuses}

	var wg sync.WaitGroup
	defer wg.Wait()
	for _, c := range caches {
		wg.Go(func() { _ = c.Run(ctx) }) // Cache.Run only returns nil, when ctx ends
	}
	if store.WaitSynced(ctx, caches...) {
		r.enqueueAll(ctl)
	}
	wg.Go(func() { _ = ctl.Start(ctx) }) // shuts the queue down when ctx ends

	tick := time.NewTicker(s.opts.Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hostChanged:
			r.enqueueAll(ctl)
		case <-tick.C:
			r.enqueueAll(ctl)
		}
	}
}

// hostLabels remembers what the scheduler reads of each host record, its
// labels, so that the heartbeat rewriting a record every few seconds with
// new load figures does not reconcile every unit each time.
type hostLabels struct {
	mu   sync.Mutex
	seen map[string]string // by key: the labels as JSON, "!" when unreadable
}

// changed reports whether the record under key appeared, vanished or has
// other labels since it was last seen.
func (h *hostLabels) changed(c *store.Cache, key string) bool {
	kv, ok := c.Get(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	old, had := h.seen[key]
	if !ok {
		delete(h.seen, key)
		return had
	}
	now := "!"
	var host v1.Host
	if json.Unmarshal(kv.Value, &host) == nil {
		b, _ := json.Marshal(host.Metadata.Labels) // a map of strings always encodes, keys sorted
		now = string(b)
	}
	h.seen[key] = now
	return !had || old != now
}

// EventRecorder records events about objects for describe.
type EventRecorder interface {
	Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any)
}
