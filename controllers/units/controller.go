package units

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// EventRecorder records events about objects for describe.
type EventRecorder interface {
	Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any)
}

type noEvents struct{}

func (noEvents) Event(context.Context, string, string, v1.EventType, string, string, ...any) {}

// Options configure a Controller.
type Options struct {
	Store   *store.Store
	Runtime runtime.Runtime
	// Host is this host's name; Labels its labels, for placement.
	Host   string
	Labels map[string]string
	Events EventRecorder
	// Metrics are the loop's shared metrics (controller label "unit").
	Metrics *reconcile.Metrics
	// BerthMetrics, when set, receives berth's own metrics: instances by
	// state, restarts, time to RUNNING, image pulls.
	BerthMetrics *metrics.Metrics
	Log          *slog.Logger
	// Workers reconcile Units in parallel (default 8).
	Workers int
	// Resync is the period of a full reconcile (default 30s).
	Resync time.Duration
	// PortRange is where host ports left to berth are taken from
	// (default 20000-32767).
	PortRange [2]int
	// OnEngine, when set, is told whether the engine answers.
	OnEngine func(error)
	// Policy is what this host lets Units and Jobs ask for.
	Policy Policy
	// Drain, when set, takes a container's endpoints out of discovery; it
	// is called gracePeriod before a running container is stopped.
	Drain func(ctx context.Context, containerID string) error
	// Resolver, when set, is what containers resolve names with unless
	// their template says otherwise (see containerDNS); it is asked at
	// every create, and an error fails the create, which is retried.
	// Unset: the engine's default resolver.
	Resolver func(ctx context.Context) (Resolver, error)
}

// Controller reconciles the Units of one host.
type Controller struct {
	o           Options
	units       *store.Cache
	bindings    *store.Cache
	statuses    *store.Cache
	jobs        *store.Cache
	jobBindings *store.Cache
	jobVersions *store.Cache
	hosts       *store.Cache // a status under another name is no host's
	history     *historyWriter
	loop        *reconcile.Controller
	ports       *portAllocator

	mu        sync.Mutex
	instances map[string]*instance

	networkOnce sync.Mutex
	networkOK   bool

	drainMu sync.Mutex
	drained map[string]time.Time // container id -> when it was taken out of discovery

	deps    *depIndex
	runCtx  context.Context
	probeMu sync.Mutex
	probers map[string]*prober
}

// instance is what the controller holds about one Unit on this host.
type instance struct {
	mem    memory
	status *v1.InstanceStatus // last written, nil when none; changed under Controller.mu
	// statusRev is the mod revision of status in etcd, as written or read;
	// changed under Controller.mu.
	statusRev int64
	// createdID is the container this controller last created for the
	// instance; changed under Controller.mu.
	createdID string
	timing    timing
}

// New returns a Controller; call Run.
func New(o Options) *Controller {
	if o.Workers < 1 {
		o.Workers = 8
	}
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.PortRange[0] == 0 {
		o.PortRange = [2]int{20000, 32767}
	}
	if o.Events == nil {
		o.Events = noEvents{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{o: o, instances: map[string]*instance{}, ports: newPortAllocator(o.PortRange),
		deps: newDepIndex(), probers: map[string]*prober{}, runCtx: context.Background(), drained: map[string]time.Time{}}
	c.loop = reconcile.New("unit", c, reconcile.Options{Workers: o.Workers, Metrics: o.Metrics, Log: o.Log})
	c.registerMetrics()
	c.checkPolicyFlags()
	unitPrefix := store.ObjectPrefix(v1.KindUnit)
	c.units = store.NewCache(o.Store, unitPrefix, func(key string) {
		name := strings.TrimPrefix(key, unitPrefix)
		u, _ := c.unit(name)
		c.deps.set(name, u)
		c.loop.Enqueue(name)
		for _, r := range c.deps.related(name) {
			c.loop.Enqueue(r)
		}
	})
	bindingPrefix := strings.TrimSuffix(store.BindingKey(v1.KindUnit, "x"), "x")
	c.bindings = store.NewCache(o.Store, bindingPrefix, func(key string) {
		c.loop.Enqueue(strings.TrimPrefix(key, bindingPrefix))
	})
	jobPrefix := store.ObjectPrefix(v1.KindJob)
	c.jobs = store.NewCache(o.Store, jobPrefix, func(key string) {
		c.loop.Enqueue(jobKey(strings.TrimPrefix(key, jobPrefix)))
	})
	jobBindingPrefix := strings.TrimSuffix(store.BindingKey(v1.KindJob, "x"), "x")
	c.jobBindings = store.NewCache(o.Store, jobBindingPrefix, func(key string) {
		c.loop.Enqueue(jobKey(strings.TrimPrefix(key, jobBindingPrefix)))
	})
	c.jobVersions = store.NewCache(o.Store, store.JobVersionsPrefix, func(key string) {
		if name, _, ok := store.ParseJobVersionKey(key); ok {
			c.loop.Enqueue(jobKey(name))
		}
	})
	c.hosts = store.NewCache(o.Store, store.HostsPrefix, nil)
	c.history = &historyWriter{s: o.Store, host: o.Host, counts: map[string]int{}}
	c.statuses = store.NewCache(o.Store, store.StatusesPrefix, func(key string) {
		kind, name, host, ok := store.ParseStatusKey(key)
		if !ok {
			return
		}
		// A status of this host's that vanished is written again by the
		// reconcile of its instance (report).
		if _, present := c.statuses.Get(key); host == c.o.Host && !present {
			switch kind {
			case "unit":
				c.loop.Enqueue(name)
			case "job":
				c.loop.Enqueue(jobKey(name))
			}
		}
		// status/<host>/unit/<name>: the units that depend on <name>, and
		// those it depends on (a stop waits for its dependents), look again.
		if kind != "unit" {
			return
		}
		for _, r := range c.deps.related(name) {
			c.loop.Enqueue(r)
		}
	})
	return c
}

// Synced reports whether the caches have listed once.
func (c *Controller) Synced() bool {
	for _, cache := range c.caches() {
		if !cache.HasSynced() {
			return false
		}
	}
	return true
}

func (c *Controller) caches() []*store.Cache {
	return []*store.Cache{c.units, c.bindings, c.statuses, c.jobs, c.jobBindings, c.jobVersions, c.hosts}
}

// Enqueue asks for a Unit to be reconciled.
func (c *Controller) Enqueue(name string) { c.loop.Enqueue(name) }

// Run reconciles until ctx ends. Containers keep running when it returns.
func (c *Controller) Run(ctx context.Context) error {
	c.runCtx = ctx
	c.makeAllowedDirs()
	var wg sync.WaitGroup
	for _, cache := range c.caches() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cache.Run(ctx)
		}()
	}
	if !store.WaitSynced(ctx, c.caches()...) {
		wg.Wait()
		return nil
	}
	c.o.Log.Info("unit caches synced", "units", len(c.units.List()))
	wg.Add(3)
	go func() {
		defer wg.Done()
		_ = c.loop.Start(ctx)
	}()
	go func() {
		defer wg.Done()
		c.watchEngine(ctx)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(c.o.Resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.enqueueAll(ctx)
			}
		}
	}()
	c.enqueueAll(ctx)
	wg.Wait()
	return nil
}

// enqueueAll enqueues every Unit in etcd and every Unit this host has a
// container of (orphans included).
func (c *Controller) enqueueAll(ctx context.Context) {
	prefix := store.ObjectPrefix(v1.KindUnit)
	for _, kv := range c.units.List() {
		c.loop.Enqueue(strings.TrimPrefix(kv.Key, prefix))
	}
	jprefix := store.ObjectPrefix(v1.KindJob)
	for _, kv := range c.jobs.List() {
		c.loop.Enqueue(jobKey(strings.TrimPrefix(kv.Key, jprefix)))
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ctrs, err := c.o.Runtime.List(lctx, runtime.ListOptions{All: true, Labels: map[string]string{v1.LabelHost: c.o.Host}})
	c.engine(err)
	for _, ctr := range ctrs {
		if k := keyOf(ctr.Labels); k != "" {
			c.loop.Enqueue(k)
		}
	}
}

func (c *Controller) engine(err error) {
	if c.o.OnEngine != nil && (err == nil || errors.Is(err, runtime.ErrUnavailable)) {
		c.o.OnEngine(err)
	}
}

// watchEngine turns the engine's container events into reconciles of the
// Units they belong to, re-subscribing (and resyncing) when the stream breaks.
func (c *Controller) watchEngine(ctx context.Context) {
	runtime.Watch(ctx, c.o.Runtime,
		func() { c.enqueueAll(ctx) }, // events are not replayed: look at everything once
		func(ev runtime.Event) {
			if k := keyOf(ev.Labels); k != "" && ev.Labels[v1.LabelHost] == c.o.Host {
				switch ev.Action {
				case runtime.ActionStart, runtime.ActionDie, runtime.ActionDestroy, runtime.ActionOOM, runtime.ActionStop, runtime.ActionHealthStatus, runtime.ActionCreate:
					c.loop.Enqueue(k)
				}
			}
		},
		func(err error, retryIn time.Duration) {
			c.o.Log.Warn("engine event stream broken; re-subscribing", "err", err, "in", retryIn)
			c.engine(err)
		})
}

// unit returns the stored Unit, or nil when it does not exist.
func (c *Controller) unit(name string) (*v1.Unit, error) {
	kv, ok := c.units.Get(store.ObjectKey(v1.KindUnit, name))
	if !ok {
		return nil, nil
	}
	u := &v1.Unit{}
	if err := json.Unmarshal(kv.Value, u); err != nil {
		return nil, reconcile.Terminal(fmt.Errorf("decode unit %s: %w", name, err))
	}
	v1.Default(u)
	return u, nil
}

func (c *Controller) binding(name string) *v1.Binding {
	kv, ok := c.bindings.Get(store.BindingKey(v1.KindUnit, name))
	if !ok {
		return nil
	}
	b := &v1.Binding{}
	if json.Unmarshal(kv.Value, b) != nil {
		return nil
	}
	return b
}

// instanceOf returns the memory of a Unit's instance, seeded from the
// status this host wrote before (across a restart of the controller).
func (c *Controller) instanceOf(ctx context.Context, w *workload) *instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in, ok := c.instances[w.key]; ok {
		return in
	}
	in := &instance{}
	kv, ok := c.statuses.Get(w.statusKey)
	if !ok && w.kind != v1.KindUnit {
		var err error
		kv, err = c.o.Store.Get(ctx, w.statusKey)
		ok = err == nil
	}
	if ok {
		st := &v1.InstanceStatus{}
		if json.Unmarshal(kv.Value, st) == nil {
			in.status, in.statusRev = st, kv.ModRevision
			in.mem.Restarts = st.Restarts
			in.mem.LastExitCode = st.LastExitCode
			in.mem.LastExitTime = st.LastExitTime
			in.mem.SeenExit = st.LastExitTime
			in.mem.Hash = st.SpecHash
			if st.State == v1.StateFailed && !refusedStatus(st) {
				in.mem.Failed, in.mem.FailedGen = st.Message, st.ObservedGeneration
			}
			if st.State == v1.StateWaiting || st.State == v1.StateStopped {
				in.mem.DepStopped = true // stopped for its dependencies, not crashed
			}
		}
	}
	c.instances[w.key] = in
	return in
}

func (c *Controller) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.instances, name)
}

// Reconcile brings one Unit's or Job's container on this host in line
// with the object. key is a Unit's name, or "job:" and a Job's name.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	w, err := c.workloadOf(ctx, key)
	if err != nil {
		return reconcile.Result{}, err
	}
	u, name := w.unit, w.name
	placed := w.placed
	ctrs, err := c.o.Runtime.List(ctx, runtime.ListOptions{All: true, Labels: map[string]string{
		v1.LabelHost: c.o.Host, v1.LabelKind: w.kind, v1.LabelName: name}})
	c.engine(err)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("list containers: %w", err)
	}
	in := c.instanceOf(ctx, w)
	c.sawGeneration(in, w)
	pin := planInput{Unit: u, Placed: placed, Containers: ctrs, Mem: in.mem, Now: time.Now()}
	if u != nil && placed {
		if w.kind == v1.KindUnit {
			pin.Deps = judgeDeps(u, c.depInfos(u))
			if u.Spec.Goal == v1.GoalStop {
				pin.DependentsUp = c.dependentsUp(name)
			}
		}
		pin.Health = c.ensureProber(key, u, current(u, ctrs))
		if at := u.Metadata.Annotations[v1.AnnotationRestartedAt]; at != "" {
			pin.RestartAt, _ = time.Parse(time.RFC3339Nano, at)
		}
	} else {
		c.stopProber(key)
	}
	denied := w.refused
	if denied == nil && u != nil && placed && u.Spec.Goal == v1.GoalStart {
		if denied = c.refuse(&u.Spec.Container); denied == nil {
			if denied, err = c.refuseForeign(ctx, &u.Spec.Container); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	if denied != nil {
		pin.Refused = denied.msg
	}
	out := plan(pin)
	in.mem = out.Mem
	r := &run{c: c, w: w, u: u, name: name, in: in, cur: out.Current, state: out.State, msg: out.Message, unhealthy: out.Unhealthy, backOff: out.BackOff}
	r.noteBackOff(ctx, out)

	if wait, err := c.drainFirst(ctx, r, ctrs, out.Actions); err != nil || wait > 0 {
		if err != nil {
			r.fail(ctx, err)
			return reconcile.Result{}, err
		}
		if err := r.report(ctx); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	if denied != nil {
		r.refused(ctx, denied)
	}
	for _, a := range out.Actions {
		if err := r.do(ctx, a); err != nil {
			var ref *refusal
			if errors.As(err, &ref) {
				// Reported, not retried: a change of the object, the
				// resync or a restart of the controller looks again.
				r.refused(ctx, ref)
				break
			}
			r.fail(ctx, err)
			return reconcile.Result{}, err
		}
	}
	if out.DeleteStatus {
		c.ports.release(key)
		c.stopProber(key)
		if in.status != nil {
			if _, err := c.o.Store.Delete(ctx, w.statusKey); err != nil {
				return reconcile.Result{}, fmt.Errorf("delete status: %w", err)
			}
		}
		c.forget(key)
		return reconcile.Result{}, nil
	}
	if err := r.report(ctx); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: out.RequeueAfter}, nil
}

// run is one reconcile of one Unit under way.
type run struct {
	c         *Controller
	w         *workload
	u         *v1.Unit
	name      string
	in        *instance
	cur       *runtime.Container
	state     v1.InstanceState
	msg       string
	throttle  v1.ThrottleState
	unhealthy bool
	// backOff: exited, and waiting out its restart delay.
	backOff bool
	// reason of the conditions when the host refuses the container, or
	// when this attempt failed.
	reason string
}

// refused reports that this host will not create the container, with a
// warning event when the reason is new.
func (r *run) refused(ctx context.Context, ref *refusal) {
	r.state, r.msg, r.reason = v1.StateFailed, ref.msg, ref.reason
	if prev := r.in.status; prev == nil || prev.Message != ref.msg || prev.State != v1.StateFailed {
		r.c.o.Log.Warn("container refused", "kind", r.w.kind, "name", r.name, "reason", ref.reason, "message", ref.msg)
		r.event(ctx, v1.EventWarning, ref.reason, "%s", ref.msg)
	}
}

func (r *run) event(ctx context.Context, typ v1.EventType, reason, format string, args ...any) {
	r.c.o.Events.Event(ctx, r.w.kind, r.name, typ, reason, format, args...)
}

func (r *run) do(ctx context.Context, a action) error {
	c := r.c
	switch a.kind {
	case actRemove:
		sctx, cancel := context.WithTimeout(ctx, stopBudget(r.u))
		defer cancel()
		if err := c.o.Runtime.Stop(sctx, a.id, "", 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop %s: %w", short(a.id), err)
		}
		if err := c.o.Runtime.Remove(ctx, a.id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("remove %s: %w", short(a.id), err)
		}
		reason := "Removed"
		if a.cause == causeTemplateChanged {
			reason = "Recreating"
		}
		r.event(ctx, v1.EventNormal, reason, "container %s removed: %s", short(a.id), a.why())
		if r.cur != nil && r.cur.ID == a.id {
			r.cur = nil
		}
	case actStop:
		r.state, r.msg = v1.StateStopping, a.why()
		if err := r.report(ctx); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, stopBudget(r.u))
		defer cancel()
		if err := c.o.Runtime.Stop(sctx, a.id, "", 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop %s: %w", short(a.id), err)
		}
		if ctr, err := c.o.Runtime.Inspect(ctx, a.id); err == nil {
			r.cur = &ctr
			code := ctr.ExitCode
			r.in.mem.LastExitCode, r.in.mem.LastExitTime, r.in.mem.SeenExit = &code, ctr.FinishedAt, ctr.FinishedAt
		}
		r.state, r.msg = v1.StateStopped, ""
		r.event(ctx, v1.EventNormal, "Stopped", "container %s stopped: %s", short(a.id), a.why())
	case actKill:
		r.event(ctx, v1.EventWarning, "Unhealthy", "container %s failed its health check: %s; restarting it", short(a.id), a.why())
		sctx, cancel := context.WithTimeout(ctx, stopBudget(r.u))
		defer cancel()
		if err := c.o.Runtime.Stop(sctx, a.id, "", 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop %s: %w", short(a.id), err)
		}
		c.stopProber(r.w.key)
		// The exit is seen by the next reconcile, which restarts the
		// container as its restart policy says.
	case actDepStop:
		sctx, cancel := context.WithTimeout(ctx, stopBudget(r.u))
		defer cancel()
		if err := c.o.Runtime.Stop(sctx, a.id, "", 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop %s: %w", short(a.id), err)
		}
		c.stopProber(r.w.key)
		if ctr, err := c.o.Runtime.Inspect(ctx, a.id); err == nil {
			r.cur = &ctr
			r.in.mem.SeenExit = ctr.FinishedAt
		}
		r.event(ctx, v1.EventNormal, "Stopped", "container %s stopped: %s", short(a.id), a.why())
	case actRestart:
		sctx, cancel := context.WithTimeout(ctx, stopBudget(r.u))
		defer cancel()
		if err := c.o.Runtime.Stop(sctx, a.id, "", 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stop %s: %w", short(a.id), err)
		}
		c.stopProber(r.w.key)
		if ctr, err := c.o.Runtime.Inspect(ctx, a.id); err == nil {
			r.in.mem.SeenExit = ctr.FinishedAt
		}
		r.in.mem.Failed = ""
		noteStart(&r.in.mem, time.Now(), r.u, false)
		if err := c.o.Runtime.Start(ctx, a.id); err != nil {
			return fmt.Errorf("start %s: %w", short(a.id), err)
		}
		c.o.BerthMetrics.ContainerRestarted(r.w.kind)
		r.event(ctx, v1.EventNormal, "Restarted", "container %s restarted: %s", short(a.id), a.why())
		return r.observe(ctx, a.id)
	case actNoteExit:
		code := 0
		if r.in.mem.LastExitCode != nil {
			code = *r.in.mem.LastExitCode
		}
		typ := v1.EventNormal
		if code != 0 {
			typ = v1.EventWarning
		}
		oom := ""
		if r.cur != nil && r.cur.OOMKilled {
			oom = " (out of memory)"
		}
		r.event(ctx, typ, "Died", "container %s exited with code %d%s", short(a.id), code, oom)
	case actCreate:
		return r.create(ctx)
	case actStart:
		restart := a.crash()
		noteStart(&r.in.mem, time.Now(), r.u, restart)
		r.state, r.msg = v1.StateStarting, ""
		if err := c.o.Runtime.Start(ctx, a.id); err != nil {
			return fmt.Errorf("start %s: %w", short(a.id), err)
		}
		if restart {
			c.o.BerthMetrics.ContainerRestarted(r.w.kind)
			r.event(ctx, v1.EventNormal, "Restarted", "container %s restarted (%s; restart %d)", short(a.id), a.why(), r.in.mem.Restarts)
		} else {
			r.event(ctx, v1.EventNormal, "Started", "container %s started", short(a.id))
		}
		return r.observe(ctx, a.id)
	}
	return nil
}

// observe reads the container back after a start.
func (r *run) observe(ctx context.Context, id string) error {
	ctr, err := r.c.o.Runtime.Inspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", short(id), err)
	}
	r.cur = &ctr
	switch ctr.State {
	case runtime.StateRunning:
		r.state, r.msg = v1.StateRunning, ""
		if r.u.Spec.Container.HealthCheck != nil {
			r.state = v1.StateHealthchecking
			r.c.ensureProber(r.w.key, r.u, &ctr)
		}
	default:
		// It already exited: the next reconcile (its die event) handles it.
		r.state, r.msg = v1.StateExited, fmt.Sprintf("exited with code %d right after starting", ctr.ExitCode)
	}
	return nil
}

// fail reports what went wrong in the status before the error is retried
// with backoff: the message, and conditions that say the instance is not
// progressing (reason Error, or the hostProblem's), so that what waits for
// it shows why. A hostProblem is also a warning event when it is new.
func (r *run) fail(ctx context.Context, err error) {
	r.msg, r.reason, r.backOff = err.Error(), v1.ReasonError, false
	var hp *hostProblem
	if errors.As(err, &hp) {
		r.reason = hp.reason
		if prev := r.in.status; prev == nil || prev.Message != r.msg {
			r.event(ctx, v1.EventWarning, hp.reason, "%s", r.msg)
		}
	}
	if r.state == "" || r.state == v1.StateRunning {
		r.state = v1.StateUnknown
	}
	if rerr := r.report(ctx); rerr != nil {
		r.c.o.Log.Debug("report status", "unit", r.name, "err", rerr)
	}
}

// stopBudget bounds a stop: the unit's stop timeout and some slack.
func stopBudget(u *v1.Unit) time.Duration {
	d := v1.DefaultStopTimeout
	if u != nil && u.Spec.Container.StopTimeout != nil {
		d = u.Spec.Container.StopTimeout.Duration
	}
	return d + 30*time.Second
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// report writes the instance's status when it differs from the last one
// written, or when the one written is no longer in etcd as written.
func (r *run) report(ctx context.Context) error {
	c, u, in := r.c, r.u, r.in
	if u == nil {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Second)
	st := &v1.InstanceStatus{
		Host:               c.o.Host,
		Goal:               u.Spec.Goal,
		State:              r.state,
		Since:              now,
		Restarts:           in.mem.Restarts,
		LastExitCode:       in.mem.LastExitCode,
		LastExitTime:       in.mem.LastExitTime.UTC(),
		Throttled:          r.throttle,
		Message:            r.msg,
		ObservedGeneration: u.Metadata.Generation,
		SpecHash:           v1.TemplateHash(&u.Spec.Container),
	}
	if st.State == "" {
		st.State = v1.StateUnknown
	}
	backOff := r.backOff && st.State == v1.StateExited
	if st.Throttled == "" && backOff {
		st.Throttled = v1.ThrottleFlapping
	}
	if r.cur != nil {
		st.ContainerID = r.cur.ID
		st.Ports = portStatus(&u.Spec.Container, r.cur.Ports)
	}
	var prev []v1.Condition
	if in.status != nil {
		if in.status.State == st.State {
			st.Since = in.status.Since
		}
		prev = append(prev, in.status.Conditions...)
	}
	if r.cur != nil && (st.State == v1.StateRunning || st.State == v1.StateHealthchecking) && !r.cur.StartedAt.IsZero() {
		st.Since = r.cur.StartedAt.UTC() // running since the container started, restarts included
	}
	st.Conditions = conditions(prev, st, r.unhealthy, backOff, r.reason, now)
	if in.status != nil && sameStatus(in.status, st) && c.statusKept(r.w, in) {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	rev, err := c.o.Store.Put(ctx, r.w.statusKey, b, 0)
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if r.w.kind == v1.KindJob && (in.status == nil || in.status.State != st.State || in.status.ContainerID != st.ContainerID || in.status.Throttled != st.Throttled) {
		c.history.record(ctx, r.name, v1.HistoryEntry{Host: c.o.Host, Timestamp: time.Now().UTC(), State: st.State,
			Throttled: st.Throttled, ContainerID: st.ContainerID, Version: r.w.version, Message: st.Message})
	}
	c.reported(r.w, in, st, rev)
	return nil
}

// statusKept reports whether the status this host last wrote of an
// instance is still in etcd as written, as far as the statuses cache has
// seen: a status deleted since (by the leader's garbage collection, by
// hand) or written over is to be written again. Until the cache has seen
// the write, it is taken as kept.
func (c *Controller) statusKept(w *workload, in *instance) bool {
	c.mu.Lock()
	rev := in.statusRev
	c.mu.Unlock()
	if c.statuses.Revision() < rev {
		return true
	}
	kv, ok := c.statuses.Get(w.statusKey)
	return ok && kv.ModRevision == rev
}

func sameStatus(a, b *v1.InstanceStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// conditions derives Ready and Progressing from the state (an instance
// that backs off before a restart is progressing); reason, when set (a
// refusal, an error being retried), is the reason of both, and Progressing
// is False.
func conditions(prev []v1.Condition, st *v1.InstanceStatus, unhealthy, backOff bool, reason string, now time.Time) []v1.Condition {
	ready := v1.Condition{Type: v1.ConditionReady, Status: v1.ConditionFalse, ObservedGeneration: st.ObservedGeneration}
	progressing := v1.Condition{Type: v1.ConditionProgressing, Status: v1.ConditionFalse, ObservedGeneration: st.ObservedGeneration}
	switch st.State {
	case v1.StateRunning:
		ready.Status, ready.Reason = v1.ConditionTrue, "Running"
		progressing.Reason = "Running"
		if unhealthy {
			ready.Status, ready.Reason = v1.ConditionFalse, "Unhealthy"
		}
	case v1.StateWaiting:
		ready.Reason = "WaitingForDependencies"
		progressing.Status, progressing.Reason = v1.ConditionTrue, "WaitingForDependencies"
	case v1.StatePullingImage, v1.StateCreating, v1.StateStarting, v1.StateHealthchecking:
		ready.Reason = "Starting"
		progressing.Status, progressing.Reason = v1.ConditionTrue, "Starting"
	case v1.StateExited:
		ready.Reason = "Exited"
		progressing.Reason = "Exited"
		if backOff {
			progressing.Status, progressing.Reason = v1.ConditionTrue, "BackOff"
		}
	case v1.StateFailed:
		ready.Reason, progressing.Reason = "Failed", "Failed"
	case v1.StateStopping, v1.StateStopped:
		ready.Reason, progressing.Reason = "Stopped", "Stopped"
	default:
		ready.Reason, progressing.Reason = "Unknown", "Unknown"
	}
	if reason != "" {
		ready.Reason, progressing.Reason = reason, reason
		progressing.Status = v1.ConditionFalse
	}
	ready.Message, progressing.Message = st.Message, st.Message
	conds := append([]v1.Condition(nil), prev...)
	conds = v1.SetCondition(conds, ready, now)
	conds = v1.SetCondition(conds, progressing, now)
	return conds
}

// portStatus names the published ports as the template names them.
func portStatus(t *v1.ContainerTemplate, published []runtime.PortBinding) []v1.PortStatus {
	var out []v1.PortStatus
	seen := map[string]bool{}
	for _, p := range published {
		proto := v1.Protocol(p.Protocol)
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		k := fmt.Sprintf("%d/%s", p.ContainerPort, proto)
		if seen[k] {
			continue // the same port on IPv4 and IPv6
		}
		seen[k] = true
		ps := v1.PortStatus{ContainerPort: p.ContainerPort, HostPort: p.HostPort, Protocol: proto}
		for _, tp := range t.Ports {
			if tp.ContainerPort == p.ContainerPort && tp.Protocol == proto {
				ps.Name = tp.Name
			}
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContainerPort < out[j].ContainerPort })
	return out
}

// current is the container of the Unit's current template (the one plan
// keeps), or nil.
func current(u *v1.Unit, ctrs []runtime.Container) *runtime.Container {
	hash := v1.TemplateHash(&u.Spec.Container)
	for i := range ctrs {
		if ctrs[i].Labels[v1.LabelSpecHash] == hash {
			return &ctrs[i]
		}
	}
	return nil
}

// depInfos gathers what is known of the units u depends on.
func (c *Controller) depInfos(u *v1.Unit) map[string]depInfo {
	out := map[string]depInfo{}
	for _, list := range [][]string{u.Spec.Requires, u.Spec.Wants, u.Spec.After} {
		for _, d := range list {
			if _, done := out[d]; done {
				continue
			}
			out[d] = c.depInfo(d)
		}
	}
	return out
}

func (c *Controller) depInfo(name string) depInfo {
	var di depInfo
	if d, err := c.unit(name); err == nil && d != nil {
		di.Exists, di.Goal = true, d.Spec.Goal
	}
	for _, kv := range c.statuses.List() {
		if !store.IsStatusOf(kv.Key, v1.KindUnit, name) {
			continue
		}
		// The host is the key's; a value naming another host, or a key
		// under a name no host has, is no instance of the dependency.
		if st, err := store.DecodeHostStatus(kv, c.isHost); err == nil {
			di.Instances = append(di.Instances, st)
		}
	}
	return di
}

// isHost reports whether a host of that name has a record.
func (c *Controller) isHost(name string) bool {
	_, ok := c.hosts.Get(store.HostKey(name))
	return ok
}

// dependentsUp lists the units that depend on name, go down with it, and
// still have an instance up: a stop of name waits for them.
func (c *Controller) dependentsUp(name string) []string {
	var out []string
	for _, d := range c.deps.dependentsOf(name) {
		du, err := c.unit(d)
		if err != nil || du == nil {
			continue
		}
		requires := false
		for _, r := range du.Spec.Requires {
			requires = requires || r == name
		}
		if !requires && du.Spec.Goal != v1.GoalStop {
			continue // it does not go down with name
		}
		for _, in := range c.depInfo(d).Instances {
			if in.State == v1.StateRunning || starting(in.State) || in.State == v1.StateStopping {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// gracePeriod of a container: the Unit's, or the one recorded on the
// container when the Unit is gone.
func gracePeriod(u *v1.Unit, c *runtime.Container) time.Duration {
	if u != nil && u.Spec.GracePeriod != nil {
		return u.Spec.GracePeriod.Duration
	}
	if d, err := time.ParseDuration(c.Labels[LabelGracePeriod]); err == nil {
		return d
	}
	return 0
}

// LabelGracePeriod records a Unit's gracePeriod on its container, for the
// stop that follows its deletion.
const LabelGracePeriod = v1.Group + "/grace-period"

// drainFirst takes out of discovery the running containers that the
// actions stop, gracePeriod before they are stopped: it returns how long
// to wait before stopping them (0: go ahead).
func (c *Controller) drainFirst(ctx context.Context, r *run, ctrs []runtime.Container, acts []action) (time.Duration, error) {
	if c.o.Drain == nil {
		return 0, nil
	}
	var wait time.Duration
	for _, a := range acts {
		if a.kind != actRemove && a.kind != actStop && a.kind != actDepStop {
			continue
		}
		var ctr *runtime.Container
		for i := range ctrs {
			if ctrs[i].ID == a.id {
				ctr = &ctrs[i]
			}
		}
		if ctr == nil || ctr.State != runtime.StateRunning {
			continue
		}
		grace := gracePeriod(r.u, ctr)
		if grace <= 0 {
			continue
		}
		c.drainMu.Lock()
		since, ok := c.drained[a.id]
		c.drainMu.Unlock()
		if !ok {
			if err := c.o.Drain(ctx, a.id); err != nil {
				return 0, fmt.Errorf("take %s out of discovery: %w", short(a.id), err)
			}
			since = time.Now()
			c.drainMu.Lock()
			c.drained[a.id] = since
			c.drainMu.Unlock()
			r.event(ctx, v1.EventNormal, "Draining", "container %s taken out of discovery; stopping it in %s (gracePeriod)", short(a.id), grace)
		}
		if left := grace - time.Since(since); left > wait {
			wait = left
		}
	}
	if wait > 0 {
		r.state, r.msg = v1.StateStopping, fmt.Sprintf("out of discovery; stopping in %s (gracePeriod)", roundUp(wait))
		return wait, nil
	}
	c.drainMu.Lock()
	for _, a := range acts {
		delete(c.drained, a.id)
	}
	c.drainMu.Unlock()
	return 0, nil
}
