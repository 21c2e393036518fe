package registrator

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	// and a warning when a check's interval is raised to the minimum.
	Events EventRecorder
	// EnableScriptChecks lets script checks registered through the agent
	// API run (controller --enable-script-checks), and then only in the
	// containers berth created on this host. Off, they are refused. The
	// checks containers declare for themselves (SERVICE_CHECK_SCRIPT, a
	// Service's or Job's exec check) run in their own container either way.
	EnableScriptChecks bool
	Log                *slog.Logger
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
	services *store.Cache
	units    *store.Cache
	jobs     *store.Cache
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
	runners  map[string]*runner          // endpoint id + "\x00" + check id
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
	r := &Registrator{o: o, runCtx: context.Background(), draining: map[string]bool{}, runners: map[string]*runner{},
		checker: probe.New(o.Runtime, probe.Consul), saved: registrations{dir: o.DataDir, log: o.Log}}
	r.loop = reconcile.New("registrator", reconcile.Func(r.reconcile), reconcile.Options{Workers: 1, Metrics: o.Metrics, Log: o.Log})
	r.w = &writer{store: o.Store, host: o.Host, ttl: o.TTL, log: o.Log, lost: func() { r.loop.Enqueue(syncKey) }}
	kick := func(string) { r.loop.Enqueue(syncKey) }
	r.services = store.NewCache(o.Store, store.ObjectPrefix(v1.KindService), kick)
	r.units = store.NewCache(o.Store, store.ObjectPrefix(v1.KindUnit), kick)
	r.jobs = store.NewCache(o.Store, store.ObjectPrefix(v1.KindJob), kick)
	r.agent = r.saved.load()
	return r
}

// SetLeader sets how the Registrator learns whether this host leads (it
// then registers the static endpoints that name no host). Call before Run.
func (r *Registrator) SetLeader(isLeader func() bool) { r.o.IsLeader = isLeader }

// Synced reports whether the caches have listed once.
func (r *Registrator) Synced() bool {
	return r.services.HasSynced() && r.units.HasSynced() && r.jobs.HasSynced()
}

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
func (r *Registrator) Run(ctx context.Context) error {
	r.mu.Lock()
	r.runCtx = ctx // runners started from now on end with Run
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range []*store.Cache{r.services, r.units, r.jobs} {
		wg.Go(func() { _ = c.Run(ctx) })
	}
	if store.WaitSynced(ctx, r.services, r.units, r.jobs) {
		wg.Go(func() { _ = r.loop.Start(ctx) })
		wg.Go(func() { r.watchEngine(ctx) })
		wg.Go(func() { r.resync(ctx) })
		r.loop.Enqueue(syncKey)
	}
	wg.Wait()
	r.stopRunners()
	r.revoke()
	return nil
}

// watchEngine queues a rebuild on every event that changes which
// containers run, or their health.
func (r *Registrator) watchEngine(ctx context.Context) {
	runtime.Watch(ctx, r.o.Runtime,
		func() { r.loop.Enqueue(syncKey) },
		func(ev runtime.Event) {
			switch ev.Action {
			case runtime.ActionStart, runtime.ActionDie, runtime.ActionStop, runtime.ActionDestroy, runtime.ActionHealthStatus, runtime.ActionPause, runtime.ActionUnpause:
				r.loop.Enqueue(syncKey)
			}
		}, nil)
}

// resync queues a full rebuild every Options.Resync until ctx ends.
func (r *Registrator) resync(ctx context.Context) {
	t := time.NewTicker(r.o.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.loop.Enqueue(syncKey)
		}
	}
}
