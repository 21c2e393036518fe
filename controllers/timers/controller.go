package timers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// EventRecorder records events about objects.
type EventRecorder interface {
	Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any)
}

// Options configure the Timers loop.
type Options struct {
	Log     *slog.Logger
	Metrics *reconcile.Metrics
	Events  EventRecorder
	// Runs, when set, counts the runs that end (berth's metrics).
	Runs RunObserver
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Resync is the period of a full pass (default 30s).
	Resync time.Duration
}

// RunObserver is told of every run that ends, and of each Timer's record.
type RunObserver interface {
	RunFinished(timer string, r v1.TimerRun)
	Observe(timer string, lastSuccess time.Time)
	Forget(timer string)
}

// StatusKey is where the leader keeps its record of a Timer:
// status/leader/timer/<name>.
func StatusKey(name string) string { return store.StatusKey(v1.KindTimer, name, v1.ReservedHostName) }

// RunPrefix holds the run bindings of a Timer: bindings/timer/<name>/.
func RunPrefix(name string) string { return store.BindingKey(v1.KindTimer, name+"/") }

// RunKey is the binding of one run: bindings/timer/<name>/<run>.
func RunKey(name string, run int64) string {
	return store.BindingKey(v1.KindTimer, v1.TimerRunName(name, run))
}

// ParseRunKey returns the Timer and run of a run binding's key.
func ParseRunKey(key string) (timer string, run int64, ok bool) {
	rest, found := strings.CutPrefix(key, store.BindingKey(v1.KindTimer, ""))
	if !found {
		return "", 0, false
	}
	timer, n, found := strings.Cut(rest, "/")
	if !found || timer == "" {
		return "", 0, false
	}
	run, err := strconv.ParseInt(n, 10, 64)
	if err != nil || run < 1 {
		return "", 0, false
	}
	return timer, run, true
}

// Controller decides the runs of Timers. Run it on the leading controller
// only.
type Controller struct {
	s *store.Store
	o Options
}

// New returns a Controller; call Run (again after leadership returns).
func New(s *store.Store, o Options) *Controller {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	return &Controller{s: s, o: o}
}

// Run decides runs until ctx ends. Each Run starts from fresh caches: of
// Timers, their run bindings, what hosts report of the runs, host records
// and alive keys. A change of a Timer, of one of its run bindings or of a
// report of one of its runs reconciles that Timer; a host that changes,
// joins or leaves reconciles every Timer, as does every Options.Resync.
func (c *Controller) Run(ctx context.Context) error {
	r := newRunner(c.s, c.o)
	loop := reconcile.New("timer", r, reconcile.Options{Workers: 2, Metrics: c.o.Metrics, Log: c.o.Log, Resync: c.o.Resync})
	loop.Watch(r.timers, reconcile.TrimPrefix(r.timers.Prefix()))
	// Runs of a Timer deleted while no controller led: forgotten by its
	// reconcile.
	loop.Watch(r.runs, func(key string) []string {
		if t, _, ok := ParseRunKey(key); ok {
			return []string{t}
		}
		return nil
	})
	loop.Watch(r.reports, func(key string) []string {
		if kind, name, host, ok := store.ParseStatusKey(key); ok && kind == "timer" && host != v1.ReservedHostName {
			timer, _, _ := strings.Cut(name, "/")
			return []string{timer}
		}
		return nil
	})
	loop.WatchAll(r.hosts, nil)
	loop.WatchAll(r.alive, nil)
	return loop.Start(ctx)
}

// runner is one Run: its caches and the reconcile of one Timer.
type runner struct {
	s *store.Store
	o Options

	timers  *store.Typed[*v1.Timer]
	runs    *store.Cache                    // the run bindings' keys; their values are read from etcd
	reports *store.Typed[v1.InstanceStatus] // of runs, by hosts
	hosts   *store.Typed[v1.Host]
	alive   *store.Cache
}

func newRunner(s *store.Store, o Options) *runner {
	co := store.CacheOptions{Log: o.Log}
	return &runner{
		s: s, o: o,
		timers:  store.NewObjectCache[*v1.Timer](s, store.CacheOptions{Log: o.Log, Events: o.Events}),
		runs:    store.NewCache(s, store.BindingKey(v1.KindTimer, ""), nil),
		reports: store.NewTyped(s, store.StatusesPrefix, decodeReport, co),
		hosts:   store.NewTyped(s, store.HostsPrefix, store.DecodeJSON[v1.Host], co),
		alive:   store.NewCache(s, store.AlivePrefix, nil),
	}
}

// decodeReport decodes what a host reports of a run, and ignores the other
// statuses: those of other kinds, and the leader's records of Timers.
func decodeReport(kv store.KV) (v1.InstanceStatus, error) {
	if kind, _, host, ok := store.ParseStatusKey(kv.Key); ok && (kind != "timer" || host == v1.ReservedHostName) {
		return v1.InstanceStatus{}, store.ErrIgnored
	}
	return store.DecodeStatus(kv)
}

// stored is what a decision starts from in etcd: the leader's record of a
// Timer (Key "" when there is none) and its run bindings.
type stored struct {
	record store.KV
	runs   []store.KV
}

// Reconcile decides about one Timer now; the loop calls it. A Timer that
// does not decode is left alone, its record and runs as they are (its
// cache reported it), until it changes.
func (r *runner) Reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	// The record and the bindings are read from etcd, not the caches: a
	// decision must start from the last one written, whoever wrote it.
	was, err := r.read(ctx, name)
	if err != nil {
		return reconcile.Result{}, err
	}
	e, ok := r.timers.Get(store.ObjectKey(v1.KindTimer, name))
	if !ok {
		if _, err := r.s.Get(ctx, store.ObjectKey(v1.KindTimer, name)); !errors.Is(err, store.ErrNotFound) {
			return reconcile.Result{RequeueAfter: time.Second}, err // the cache lags
		}
		if r.o.Runs != nil {
			r.o.Runs.Forget(name)
		}
		return reconcile.Result{}, r.forget(ctx, name, was)
	}
	if e.Err != nil {
		return reconcile.Result{}, nil
	}
	in, runRevs := r.input(e.Value, was)
	out := Decide(in)
	out.Status.Conditions = v1.SetCondition(out.Status.Conditions, readyCondition(e.Value), in.Now)
	ops, err := ops(name, was.record, in.Status, out, runRevs)
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(ops) > 0 {
		if _, err := r.s.Txn(ctx, ops); err != nil {
			if errors.Is(err, store.ErrConflict) {
				// Another controller decided first: decide again from what
				// it wrote.
				return reconcile.Result{RequeueAfter: 10 * time.Millisecond}, nil
			}
			return reconcile.Result{}, fmt.Errorf("timer %s: write decision: %w", name, err)
		}
		r.written(ctx, name, out)
	}
	if r.o.Runs != nil {
		r.o.Runs.Observe(name, out.Status.LastSuccessfulTime)
	}
	return reconcile.Result{RequeueAfter: out.RequeueAfter}, nil
}

// read reads from etcd the record and the run bindings of Timer name.
func (r *runner) read(ctx context.Context, name string) (stored, error) {
	var was stored
	var err error
	was.record, err = r.s.Get(ctx, StatusKey(name))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return was, err
	}
	was.runs, _, err = r.s.List(ctx, RunPrefix(name))
	return was, err
}

// input gathers what Decide decides Timer t from: the record and run
// bindings read, what hosts report of each run, and the hosts. It also
// returns the mod revision of each run binding, by run. An unreadable
// record is started again; a run binding that does not decode is left out.
func (r *runner) input(t *v1.Timer, was stored) (Input, map[int64]int64) {
	name := t.Metadata.Name
	in := Input{Timer: t, Now: r.o.Now(), Bindings: map[int64]v1.TimerRunBinding{}, Reports: map[int64]map[string]v1.InstanceStatus{}}
	if was.record.Key != "" {
		var err error
		if in.Status, err = store.DecodeJSON[v1.TimerStatus](was.record); err != nil {
			r.o.Log.Warn("timer record unreadable: starting it again", "timer", name, "err", err)
			in.Status = v1.TimerStatus{}
		}
	}
	runRevs := map[int64]int64{}
	for _, kv := range was.runs {
		_, n, ok := ParseRunKey(kv.Key)
		b, err := store.DecodeJSON[v1.TimerRunBinding](kv)
		if !ok || err != nil {
			continue
		}
		in.Bindings[n], runRevs[n] = b, kv.ModRevision
		reports := map[string]v1.InstanceStatus{}
		for _, h := range b.Hosts {
			if e, ok := r.reports.Get(store.StatusKey(v1.KindTimer, v1.TimerRunName(name, n), h)); ok && e.Err == nil {
				reports[h] = e.Value
			}
		}
		in.Reports[n] = reports
	}
	in.Hosts = r.hostInfos()
	if sch, err := t.Schedule(); err == nil {
		in.Schedule = sch
	}
	return in, runRevs
}

// readyCondition is the Timer's Ready condition: Scheduled, Suspended, or
// false for a schedule that does not parse.
func readyCondition(t *v1.Timer) v1.Condition {
	ready := v1.Condition{Type: v1.ConditionReady, Status: v1.ConditionTrue, Reason: "Scheduled", ObservedGeneration: t.Metadata.Generation}
	if _, err := t.Schedule(); err != nil {
		ready.Status, ready.Reason, ready.Message = v1.ConditionFalse, "InvalidSchedule", err.Error()
	} else if t.Spec.Suspend {
		ready.Reason, ready.Message = v1.ReasonSuspended, "suspended: no new runs"
	}
	return ready
}

// written tells what a decision written did: its events, and the runs it
// saw end.
func (r *runner) written(ctx context.Context, name string, out Output) {
	if r.o.Events != nil {
		for _, e := range out.Events {
			r.o.Events.Event(ctx, v1.KindTimer, name, e.Type, e.Reason, "%s", e.Message)
		}
	}
	if r.o.Runs != nil {
		for _, run := range out.Finished {
			r.o.Runs.RunFinished(name, run)
		}
	}
}

// ops turns a decision into one transaction: the record (expected as
// read) with every binding created, changed or deleted.
func ops(name string, statusKV store.KV, prev v1.TimerStatus, out Output, runRevs map[int64]int64) ([]store.Op, error) {
	var ops []store.Op
	for _, b := range out.Create {
		v, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		ops = append(ops, store.Op{Key: RunKey(name, b.Run), Value: v})
	}
	for _, b := range out.Update {
		v, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		ops = append(ops, store.Op{Key: RunKey(name, b.Run), Value: v, ExpectRev: runRevs[b.Run]})
	}
	for _, n := range out.Delete {
		ops = append(ops, store.Op{Key: RunKey(name, n), Delete: true, ExpectRev: runRevs[n]})
	}
	if len(ops) == 0 && statusKV.Key != "" && reflect.DeepEqual(prev, out.Status) {
		return nil, nil
	}
	v, err := json.Marshal(out.Status)
	if err != nil {
		return nil, err
	}
	return append([]store.Op{{Key: StatusKey(name), Value: v, ExpectRev: statusKV.ModRevision}}, ops...), nil
}

// forget removes the record and run bindings of a deleted Timer.
func (r *runner) forget(ctx context.Context, name string, was stored) error {
	var ops []store.Op
	if was.record.Key != "" {
		ops = append(ops, store.Op{Key: was.record.Key, Delete: true, ExpectRev: was.record.ModRevision})
	}
	for _, r := range was.runs {
		ops = append(ops, store.Op{Key: r.Key, Delete: true, ExpectRev: r.ModRevision})
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := r.s.Txn(ctx, ops); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("timer %s: forget: %w", name, err)
	}
	return nil
}

// hostInfos returns what Decide knows of the hosts: every host record
// that decodes, with its labels, Up while its alive key is there.
func (r *runner) hostInfos() []HostInfo {
	var out []HostInfo
	for _, e := range r.hosts.List() {
		name := strings.TrimPrefix(e.Key, store.HostsPrefix)
		_, up := r.alive.Get(store.AliveKey(name))
		out = append(out, HostInfo{Name: name, Labels: e.Value.Metadata.Labels, Up: up})
	}
	return out
}
