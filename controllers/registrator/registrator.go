package registrator

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/probe"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// Options configure a Registrator.
type Options struct {
	Store   *store.Store
	Runtime runtime.Runtime
	// Host is this host's name, Address its advertise address.
	Host    string
	Address string
	// Datacenter is what the agent API reports ("dc1").
	Datacenter string
	// DataDir keeps the agent's registrations across restarts ("": memory only).
	DataDir string
	// TTL of the lease the endpoints are written on (the host's heartbeat TTL).
	TTL time.Duration
	// Resync is the period of a full rebuild (default 30s).
	Resync time.Duration
	// Clock times the resync and the rebuilds' backoff (default the real
	// clock).
	Clock clock.WithTicker
	// IsLeader says whether this host registers the static endpoints that
	// name no host.
	IsLeader func() bool
	// Visible, when set, waits until the catalog this host serves has seen
	// etcd revision rev: agent calls return once their change is readable.
	Visible func(ctx context.Context, rev int64) error
	Metrics *reconcile.Metrics
	// BerthMetrics, when set, receives berth's own metrics: check runs and
	// this host's endpoints by status.
	BerthMetrics *metrics.Metrics
	// Events, when set, records Registered and Deregistered about the Unit
	// or Job that owns an endpoint (endpoints without an owner have none),
	// a warning when a check's interval is raised to the minimum, and an
	// InvalidObject warning on a stored Service that does not decode (the
	// scheduler and the Jobs loop report Units and Jobs).
	Events EventRecorder
	// EnableScriptChecks lets script checks registered through the agent
	// API run (controller --enable-script-checks), and then only in the
	// containers berth created on this host. Off, they are refused. The
	// checks containers declare for themselves (SERVICE_CHECK_SCRIPT, a
	// Service's or Job's exec check) run in their own container either way.
	EnableScriptChecks bool
	Log                *slog.Logger
	// Units and Jobs, when set, are the host's caches of Units and Jobs,
	// shared with its other loops (the units controller): each change is
	// then received and decoded once per host. Nil: the registrator makes
	// its own.
	Units *store.Typed[*v1.Unit]
	Jobs  *store.Typed[*v1.Job]
}

// EventRecorder records events about objects for describe.
type EventRecorder interface {
	Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any)
}

// Registrator keeps this host's endpoints in the catalog. It implements
// catalog.Agent.
//
// Its parts: the loop and its sources (this file); a rebuild, desired →
// diff → write (reconcile.go, desired.go, diff.go, writer.go); the checks'
// runners (checks.go, runner.go, on internal/probe); the agent API
// (agent.go) and its registrations kept on disk (registrations.go).
type Registrator struct {
	o        Options
	loop     *reconcile.Controller
	services *store.Typed[*v1.Service]
	units    *store.Typed[*v1.Unit]
	jobs     *store.Typed[*v1.Job]
	checker  *probe.Checker
	saved    registrations

	syncMu sync.Mutex // one rebuild at a time; guards w and local
	w      *writer
	local  []catalog.Endpoint
	built  atomic.Bool // local has been rebuilt once

	mu       sync.Mutex
	runCtx   context.Context             // the checks' runners run until it ends: Run's
	draining map[string]bool             // containers taken out of discovery before they stop
	agent    map[string]catalog.Endpoint // registered through the agent API, by id
	runners  map[string]*runner          // by runnerKey
}

var _ catalog.Agent = (*Registrator)(nil)

// syncKey is the loop's only key: every change rebuilds the whole host.
const syncKey = "sync"

// New returns a Registrator; call Run.
func New(o Options) *Registrator {
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.Datacenter == "" {
		o.Datacenter = "dc1"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.IsLeader == nil {
		o.IsLeader = func() bool { return false }
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	r := &Registrator{o: o, runCtx: context.Background(), draining: map[string]bool{}, runners: map[string]*runner{},
		checker: probe.New(o.Runtime, probe.Consul), saved: registrations{dir: o.DataDir, log: o.Log}}
	r.loop = reconcile.New("registrator", reconcile.Func(r.reconcile), reconcile.Options{
		Workers: 1, Metrics: o.Metrics, Log: o.Log, Resync: o.Resync, Clock: o.Clock,
	})
	r.w = &writer{store: o.Store, host: o.Host, ttl: o.TTL, log: o.Log, lost: func() { r.loop.Enqueue(syncKey) }}
	co := store.CacheOptions{Log: o.Log}
	r.services = store.NewObjectCache[*v1.Service](o.Store, store.CacheOptions{Log: o.Log, Events: o.Events})
	r.units, r.jobs = o.Units, o.Jobs
	if r.units == nil {
		r.units = store.NewObjectCache[*v1.Unit](o.Store, co)
	}
	if r.jobs == nil {
		r.jobs = store.NewObjectCache[*v1.Job](o.Store, co)
	}
	all := func(string) []string { return []string{syncKey} }
	r.loop.Watch(r.services, all)
	r.loop.Watch(r.units, all)
	r.loop.Watch(r.jobs, all)
	r.loop.Watch(&engineSource{rt: o.Runtime}, all)
	r.agent = r.saved.load()
	return r
}

// SetLeader sets how the Registrator learns whether this host leads (it
// then registers the static endpoints that name no host). Call before Run.
func (r *Registrator) SetLeader(isLeader func() bool) { r.o.IsLeader = isLeader }

// Synced reports whether the caches have listed once.
func (r *Registrator) Synced() bool { return r.loop.Synced() }

// Built reports whether this host's endpoints have been rebuilt once,
// with success: from then on Local shows them, the agent's registrations
// included.
func (r *Registrator) Built() bool { return r.built.Load() }

// RetryFailing registers again at once when the last attempt failed and
// waits out its backoff (etcd is back after an outage), and reports
// whether it did.
func (r *Registrator) RetryFailing() bool { return r.loop.RetryFailing() > 0 }

// Run keeps the endpoints up to date until ctx ends; the checks' runners
// stop and the lease is revoked on the way out, so the endpoints go at
// once. Agent calls may come before and while it runs.
//
// The loop runs the caches of Services, Units and Jobs and the engine's
// events, and rebuilds once they have listed, on every change of any of
// them, and every Options.Resync.
func (r *Registrator) Run(ctx context.Context) error {
	r.mu.Lock()
	r.runCtx = ctx // runners started from now on end with Run
	r.mu.Unlock()
	err := r.loop.Start(ctx)
	r.stopRunners()
	r.revoke()
	return err
}

// engineSource is the engine's container events as a source of the
// loop's one key: it always holds syncKey, so that the loop rebuilds at
// start and at every resync even with no object stored, and reports it
// changed on every (re)subscription to the events, which are not
// replayed, and on every event that changes which containers run or
// their health.
type engineSource struct {
	rt runtime.Runtime

	mu       sync.Mutex
	handlers []func(key string)
}

// Run follows the engine's events until ctx ends.
func (s *engineSource) Run(ctx context.Context) error {
	runtime.Watch(ctx, s.rt, s.changed, func(ev runtime.Event) {
		switch ev.Action {
		case runtime.ActionStart, runtime.ActionDie, runtime.ActionStop, runtime.ActionDestroy, runtime.ActionHealthStatus, runtime.ActionPause, runtime.ActionUnpause:
			s.changed()
		}
	}, nil)
	return nil
}

// HasSynced is always true: the loop does not wait for the engine, whose
// containers each rebuild lists.
func (s *engineSource) HasSynced() bool { return true }

// Keys returns the loop's one key.
func (s *engineSource) Keys() []string { return []string{syncKey} }

// OnChange adds a handler; call it before Run.
func (s *engineSource) OnChange(f func(key string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers = append(s.handlers, f)
}

func (s *engineSource) changed() {
	s.mu.Lock()
	handlers := s.handlers
	s.mu.Unlock()
	for _, h := range handlers {
		h(syncKey)
	}
}
