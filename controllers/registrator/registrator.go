package registrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// ErrUnknownCheck is returned for a check id this host does not have.
var ErrUnknownCheck = errors.New("unknown check")

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
type Registrator struct {
	o        Options
	loop     *reconcile.Controller
	services *store.Cache
	units    *store.Cache
	jobs     *store.Cache
	runCtx   context.Context

	syncMu  sync.Mutex // one sync at a time
	lease   int64
	lost    <-chan struct{}
	stopKA  context.CancelFunc
	written map[string]string // catalog key -> value written on the current lease
	lastRev int64             // revision of the last write
	local   []catalog.Endpoint
	built   atomic.Bool // local has been rebuilt once

	mu       sync.Mutex
	draining map[string]bool             // containers taken out of discovery before they stop
	agent    map[string]catalog.Endpoint // registered through the agent API, by id
	runners  map[string]*runner          // endpoint id + "\x00" + check id
}

var _ catalog.Agent = (*Registrator)(nil)

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
	r := &Registrator{o: o, agent: map[string]catalog.Endpoint{}, runners: map[string]*runner{}, runCtx: context.Background(),
		draining: map[string]bool{}}
	r.loop = reconcile.New("registrator", reconcile.Func(r.reconcile), reconcile.Options{Workers: 1, Metrics: o.Metrics, Log: o.Log})
	kick := func(string) { r.loop.Enqueue(syncKey) }
	r.services = store.NewCache(o.Store, store.ObjectPrefix(v1.KindService), kick)
	r.units = store.NewCache(o.Store, store.ObjectPrefix(v1.KindUnit), kick)
	r.jobs = store.NewCache(o.Store, store.ObjectPrefix(v1.KindJob), kick)
	r.loadAgent()
	return r
}

// Synced reports whether the caches have listed once.
func (r *Registrator) Synced() bool {
	return r.services.HasSynced() && r.units.HasSynced() && r.jobs.HasSynced()
}

// Built reports whether this host's endpoints have been rebuilt once,
// with success: from then on Local shows them, the agent's registrations
// included.
func (r *Registrator) Built() bool { return r.built.Load() }

// Run keeps the endpoints up to date until ctx ends; the lease is revoked
// on the way out, so the endpoints go at once.
func (r *Registrator) Run(ctx context.Context) error {
	r.runCtx = ctx
	var wg sync.WaitGroup
	for _, c := range []*store.Cache{r.services, r.units, r.jobs} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
	}
	if !store.WaitSynced(ctx, r.services, r.units, r.jobs) {
		wg.Wait()
		return nil
	}
	wg.Add(3)
	go func() { defer wg.Done(); _ = r.loop.Start(ctx) }()
	go func() { defer wg.Done(); r.watchEngine(ctx) }()
	go func() {
		defer wg.Done()
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
	}()
	r.loop.Enqueue(syncKey)
	wg.Wait()
	r.stopRunners()
	r.revoke()
	return nil
}

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

// reconcile rebuilds this host's endpoints and writes the difference.
func (r *Registrator) reconcile(ctx context.Context, _ string) (reconcile.Result, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if err := r.ensureLease(ctx); err != nil {
		return reconcile.Result{}, err
	}
	ctrs, err := r.o.Runtime.List(ctx, runtime.ListOptions{})
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("list containers: %w", err)
	}
	r.mu.Lock()
	running := ctrs[:0]
	alive := map[string]bool{}
	for _, c := range ctrs {
		alive[c.ID] = true
		if !r.draining[c.ID] {
			running = append(running, c)
		}
	}
	for id := range r.draining {
		if !alive[id] {
			delete(r.draining, id) // stopped: it may be registered again when it runs
		}
	}
	r.mu.Unlock()
	in := input{Host: r.o.Host, Address: r.o.Address, Leader: r.o.IsLeader(), Containers: running,
		Units: map[string]*v1.Unit{}, Jobs: map[string]*v1.Job{}}
	for _, kv := range r.jobs.List() {
		j := &v1.Job{}
		if json.Unmarshal(kv.Value, j) == nil {
			v1.Default(j)
			in.Jobs[j.Metadata.Name] = j
		}
	}
	for _, kv := range r.units.List() {
		u := &v1.Unit{}
		if json.Unmarshal(kv.Value, u) == nil {
			in.Units[u.Metadata.Name] = u
		}
	}
	for _, kv := range r.services.List() {
		s := &v1.Service{}
		if json.Unmarshal(kv.Value, s) == nil {
			v1.Default(s)
			in.Services = append(in.Services, s)
		}
	}
	r.mu.Lock()
	for _, e := range r.agent {
		in.Agent = append(in.Agent, e)
	}
	r.mu.Unlock()

	want, floors := r.withResults(desired(in))
	for _, f := range floors {
		r.o.Log.Warn("check below the minimum interval or timeout", "service", f.endpoint.Service, "id", f.endpoint.ID,
			"check", f.check, "raised", strings.Join(f.raised, ", "))
		r.warnEvent(ctx, f.endpoint, ReasonCheckBelowMinimum, "%s", f.message())
	}
	next := map[string]string{}
	for _, e := range want {
		b, err := json.Marshal(e)
		if err != nil {
			return reconcile.Result{}, err
		}
		key := store.CatalogKey(r.o.Host, e.Service, e.ID)
		next[key] = string(b)
		if r.written[key] == string(b) {
			continue
		}
		rev, err := r.o.Store.Put(ctx, key, b, r.lease)
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("register %s/%s: %w", e.Service, e.ID, err)
		}
		r.lastRev = max(r.lastRev, rev)
		if _, had := r.written[key]; !had {
			r.o.Log.Info("registered", "service", e.Service, "id", e.ID, "address", fmt.Sprintf("%s:%d", e.Address, e.Port))
			r.ownerEvent(ctx, e, "Registered", "endpoint %s of service %s registered at %s:%d", e.ID, e.Service, e.Address, e.Port)
		}
		r.written[key] = string(b)
	}
	for key := range r.written {
		if _, keep := next[key]; keep {
			continue
		}
		rev, err := r.o.Store.Txn(ctx, []store.Op{{Key: key, Delete: true, Force: true}})
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("deregister %s: %w", key, err)
		}
		r.lastRev = max(r.lastRev, rev)
		_, svc, id, _ := store.ParseCatalogKey(key)
		r.o.Log.Info("deregistered", "service", svc, "id", id)
		var gone catalog.Endpoint
		if json.Unmarshal([]byte(r.written[key]), &gone) == nil {
			r.ownerEvent(ctx, gone, "Deregistered", "endpoint %s of service %s deregistered", id, svc)
		}
		delete(r.written, key)
	}
	r.local = want
	r.built.Store(true)
	r.countEndpoints(want)
	return reconcile.Result{}, nil
}

// ensureLease grants the lease the endpoints live on, and takes over the
// endpoints this host wrote before (on an older lease) so that they are
// rewritten or removed.
func (r *Registrator) ensureLease(ctx context.Context) error {
	if r.lost != nil {
		select {
		case <-r.lost:
			r.o.Log.Warn("catalog lease lost; registering again")
			r.stopKA()
			r.lease, r.lost = 0, nil
		default:
		}
	}
	if r.lease != 0 {
		return nil
	}
	lease, err := r.o.Store.Grant(ctx, r.o.TTL)
	if err != nil {
		return fmt.Errorf("grant catalog lease: %w", err)
	}
	kctx, stop := context.WithCancel(context.Background())
	lost, err := r.o.Store.KeepAlive(kctx, lease)
	if err != nil {
		stop()
		return fmt.Errorf("keep catalog lease alive: %w", err)
	}
	r.lease, r.lost, r.stopKA = lease, lost, stop
	go func() {
		select {
		case <-lost:
			r.loop.Enqueue(syncKey) // register everything again on a new lease
		case <-kctx.Done():
		}
	}()
	// Everything this host registered before is ours to rewrite or remove.
	kvs, _, err := r.o.Store.List(ctx, store.CatalogHostPrefix(r.o.Host))
	if err != nil {
		return fmt.Errorf("list catalog: %w", err)
	}
	r.written = map[string]string{}
	for _, kv := range kvs {
		r.written[kv.Key] = "" // differs from anything: rewritten on the new lease
	}
	return nil
}

func (r *Registrator) revoke() {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if r.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r.stopKA()
	if err := r.o.Store.Revoke(ctx, r.lease); err != nil {
		r.o.Log.Warn("revoke catalog lease", "err", err)
	}
	r.lease, r.lost = 0, nil
}

// withResults starts the runners of new checks, stops those of checks
// gone, fills in each check's verdict, and drops endpoints critical for
// longer than their checks' DeregisterCriticalAfter. Every check's
// interval, timeout and TTL are raised to berth's floors first (and shown
// so in the catalog); it returns the checks whose runner it started with
// raised durations, to warn about.
func (r *Registrator) withResults(eps []catalog.Endpoint) ([]catalog.Endpoint, []floored) {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := map[string]bool{}
	out := eps[:0]
	var drop []string
	var floors []floored
	for _, e := range eps {
		gone := false
		for i := range e.Checks {
			c := &e.Checks[i]
			if c.Type == catalog.CheckDocker {
				continue
			}
			key := e.ID + "\x00" + c.ID
			live[key] = true
			raised := floorCheck(c)
			defKey := checkDefKey(c, e.Container)
			rn := r.runners[key]
			if rn == nil || rn.defKey != defKey {
				if rn != nil {
					rn.cancel()
				}
				if len(raised) > 0 {
					floors = append(floors, floored{endpoint: e, check: c.ID, raised: raised})
				}
				rn = &runner{def: *c, defKey: defKey, container: e.Container, status: c.Status, ran: r.o.BerthMetrics.CheckRan}
				if e.Source == catalog.SourceAgent && c.Type == catalog.CheckExec {
					// Asked before every run: what the API registered may
					// run only in this host's berth containers.
					rn.resolve = r.scriptContainer
				}
				if rn.status == "" {
					rn.status = v1.CheckCritical
				}
				if rn.status == v1.CheckCritical {
					rn.criticalSince = time.Now()
				}
				ctx, cancel := context.WithCancel(r.runCtx)
				rn.cancel = cancel
				r.runners[key] = rn
				go rn.run(ctx, r.o.Runtime, func() { r.loop.Enqueue(syncKey) })
			}
			st, outp, since := rn.state()
			c.Status, c.Output = st, outp
			if st == v1.CheckCritical {
				c.CriticalSince = since.UTC().Truncate(time.Second)
			}
			if c.DeregisterCriticalAfter > 0 && st == v1.CheckCritical && !since.IsZero() && time.Since(since) > c.DeregisterCriticalAfter {
				gone = true
			}
		}
		if gone {
			if e.Source == catalog.SourceAgent {
				drop = append(drop, e.ID)
			}
			continue
		}
		out = append(out, e)
	}
	for key, rn := range r.runners {
		if !live[key] {
			rn.cancel()
			delete(r.runners, key)
		}
	}
	if len(drop) > 0 {
		for _, id := range drop {
			delete(r.agent, id)
		}
		r.saveAgentLocked()
	}
	return out, floors
}

func checkDefKey(c *catalog.Check, container string) string {
	d := *c
	d.Status, d.Output, d.CriticalSince = "", "", time.Time{}
	b, _ := json.Marshal(d)
	return container + string(b)
}

func (r *Registrator) stopRunners() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, rn := range r.runners {
		rn.cancel()
		delete(r.runners, key)
	}
}

// syncNow rebuilds at once, for the agent API: a registration is in the
// catalog when the call returns.
func (r *Registrator) syncNow(ctx context.Context) error {
	if _, err := r.reconcile(ctx, syncKey); err != nil {
		return err
	}
	if r.o.Visible == nil {
		return nil
	}
	r.syncMu.Lock()
	rev := r.lastRev
	r.syncMu.Unlock()
	// Read your writes: the catalog this host serves shows the change
	// when the call returns.
	return r.o.Visible(ctx, rev)
}

// NodeName implements catalog.Agent.
func (r *Registrator) NodeName() string { return r.o.Host }

// Datacenter implements catalog.Agent.
func (r *Registrator) Datacenter() string { return r.o.Datacenter }

// Register implements catalog.Agent.
func (r *Registrator) Register(ctx context.Context, e catalog.Endpoint) error {
	if e.Service == "" {
		return errors.New("a service needs a name")
	}
	if e.ID == "" {
		e.ID = e.Service
	}
	if strings.ContainsAny(e.ID, "/") {
		return fmt.Errorf("service id %q may not contain '/'", e.ID)
	}
	e.Source, e.Host = catalog.SourceAgent, r.o.Host
	if err := r.checkScripts(ctx, e.Container, e.Checks...); err != nil {
		return err
	}
	if e.Weights.Passing == 0 {
		e.Weights.Passing = 1
	}
	if e.Weights.Warning == 0 {
		e.Weights.Warning = 1
	}
	r.mu.Lock()
	r.agent[e.ID] = e
	r.saveAgentLocked()
	r.mu.Unlock()
	return r.syncNow(ctx)
}

// Deregister implements catalog.Agent.
func (r *Registrator) Deregister(ctx context.Context, id string) error {
	r.mu.Lock()
	_, ok := r.agent[id]
	delete(r.agent, id)
	r.saveAgentLocked()
	r.mu.Unlock()
	if !ok {
		return nil
	}
	return r.syncNow(ctx)
}

// RegisterCheck implements catalog.Agent: the check is added to the
// endpoint registered through the agent with that id. A script check is
// refused unless it may run in the endpoint's container.
func (r *Registrator) RegisterCheck(ctx context.Context, serviceID string, c catalog.Check) error {
	r.mu.Lock()
	e, ok := r.agent[serviceID]
	r.mu.Unlock()
	if !ok {
		if serviceID == "" {
			return errors.New("checks must belong to a service registered on this agent (ServiceID)")
		}
		return fmt.Errorf("no service %q registered on this agent", serviceID)
	}
	if err := r.checkScripts(ctx, e.Container, c); err != nil {
		return err
	}
	r.mu.Lock()
	if e, ok = r.agent[serviceID]; !ok {
		r.mu.Unlock()
		return fmt.Errorf("no service %q registered on this agent", serviceID)
	}
	kept := e.Checks[:0]
	for _, old := range e.Checks {
		if old.ID != c.ID {
			kept = append(kept, old)
		}
	}
	e.Checks = append(kept, c)
	r.agent[serviceID] = e
	r.saveAgentLocked()
	r.mu.Unlock()
	return r.syncNow(ctx)
}

// DeregisterCheck implements catalog.Agent.
func (r *Registrator) DeregisterCheck(ctx context.Context, checkID string) error {
	r.mu.Lock()
	changed := false
	for id, e := range r.agent {
		kept := e.Checks[:0]
		for _, c := range e.Checks {
			if c.ID == checkID {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		e.Checks = kept
		r.agent[id] = e
	}
	if changed {
		r.saveAgentLocked()
	}
	r.mu.Unlock()
	if !changed {
		return nil
	}
	return r.syncNow(ctx)
}

// UpdateTTL implements catalog.Agent.
func (r *Registrator) UpdateTTL(ctx context.Context, checkID string, status v1.CheckStatus, output string) error {
	r.mu.Lock()
	var found *runner
	for key, rn := range r.runners {
		if strings.HasSuffix(key, "\x00"+checkID) && rn.def.Type == catalog.CheckTTL {
			found = rn
		}
	}
	r.mu.Unlock()
	if found == nil {
		return fmt.Errorf("%w %q: no TTL check of that id on this host", ErrUnknownCheck, checkID)
	}
	if found.update(status, output) {
		return r.syncNow(ctx)
	}
	return nil
}

// Local implements catalog.Agent.
func (r *Registrator) Local() []catalog.Endpoint {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	out := append([]catalog.Endpoint(nil), r.local...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (r *Registrator) agentFile() string {
	if r.o.DataDir == "" {
		return ""
	}
	return filepath.Join(r.o.DataDir, "agent-services.json")
}

func (r *Registrator) loadAgent() {
	p := r.agentFile()
	if p == "" {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	var list []catalog.Endpoint
	if err := json.Unmarshal(b, &list); err != nil {
		r.o.Log.Warn("agent registrations unreadable; starting without them", "file", p, "err", err)
		return
	}
	for _, e := range list {
		r.agent[e.ID] = e
	}
}

func (r *Registrator) saveAgentLocked() {
	p := r.agentFile()
	if p == "" {
		return
	}
	list := make([]catalog.Endpoint, 0, len(r.agent))
	for _, e := range r.agent {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	b, _ := json.MarshalIndent(list, "", "  ")
	tmp := p + ".tmp"
	err := os.MkdirAll(filepath.Dir(p), 0o755)
	if err == nil {
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	if err != nil {
		r.o.Log.Warn("save agent registrations: they are lost when the controller restarts", "file", p, "err", err, "fix", "make --data-dir writable")
	}
}

// SetLeader sets how the Registrator learns whether this host leads (it
// then registers the static endpoints that name no host). Call before Run.
func (r *Registrator) SetLeader(isLeader func() bool) { r.o.IsLeader = isLeader }

// Drain takes a container's endpoints out of the catalog until it stops,
// and returns once they are gone: a gracePeriod starts now.
func (r *Registrator) Drain(ctx context.Context, containerID string) error {
	r.mu.Lock()
	r.draining[containerID] = true
	r.mu.Unlock()
	return r.syncNow(ctx)
}

// ownerEvent records an event about the Unit or Job that owns e, if any.
func (r *Registrator) ownerEvent(ctx context.Context, e catalog.Endpoint, reason, format string, args ...any) {
	if r.o.Events == nil || e.OwnerKind == "" || e.OwnerName == "" {
		return
	}
	r.o.Events.Event(ctx, e.OwnerKind, e.OwnerName, v1.EventNormal, reason, format, args...)
}

// warnEvent records a warning about the object that declared e: the Unit
// or Job that owns it, or the Service of a static endpoint. Endpoints of
// other containers and of the agent API have none: the log line is all.
func (r *Registrator) warnEvent(ctx context.Context, e catalog.Endpoint, reason, format string, args ...any) {
	if r.o.Events == nil {
		return
	}
	switch {
	case e.OwnerKind != "" && e.OwnerName != "":
		r.o.Events.Event(ctx, e.OwnerKind, e.OwnerName, v1.EventWarning, reason, format, args...)
	case e.Source == catalog.SourceStatic:
		r.o.Events.Event(ctx, v1.KindService, e.Service, v1.EventWarning, reason, format, args...)
	}
}

// countEndpoints sets berth_endpoints from what this host registers.
func (r *Registrator) countEndpoints(eps []catalog.Endpoint) {
	if r.o.BerthMetrics == nil {
		return
	}
	n := map[v1.CheckStatus]int{}
	for i := range eps {
		n[eps[i].Status()]++
	}
	r.o.BerthMetrics.SetEndpoints(n)
}
