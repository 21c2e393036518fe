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
	s    *store.Store
	o    Options
	loop *reconcile.Controller

	timers, runs, statuses, hosts, alive *store.Cache
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

// Run decides runs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = reconcile.New("timer", reconcile.Func(c.reconcile), reconcile.Options{Workers: 2, Metrics: c.o.Metrics, Log: c.o.Log, Resync: c.o.Resync})
	c.timers = store.NewCache(c.s, store.ObjectPrefix(v1.KindTimer), nil)
	c.runs = store.NewCache(c.s, store.BindingKey(v1.KindTimer, ""), nil)
	c.statuses = store.NewCache(c.s, store.StatusesPrefix, nil)
	c.hosts = store.NewCache(c.s, store.HostsPrefix, nil)
	c.alive = store.NewCache(c.s, store.AlivePrefix, nil)
	c.loop.Watch(c.timers, reconcile.TrimPrefix(store.ObjectPrefix(v1.KindTimer)))
	// Runs of a Timer deleted while no controller led: forgotten by its
	// reconcile.
	c.loop.Watch(c.runs, func(key string) []string {
		if t, _, ok := ParseRunKey(key); ok {
			return []string{t}
		}
		return nil
	})
	c.loop.Watch(c.statuses, func(key string) []string {
		if kind, name, host, ok := store.ParseStatusKey(key); ok && kind == "timer" && host != v1.ReservedHostName {
			timer, _, _ := strings.Cut(name, "/")
			return []string{timer}
		}
		return nil
	})
	c.loop.WatchAll(c.hosts, nil)
	c.loop.WatchAll(c.alive, nil)
	return c.loop.Start(ctx)
}

// Reconcile decides about one Timer now; the loop calls it.
func (c *Controller) reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	// The record and the bindings are read from etcd, not the caches: a
	// decision must start from the last one written, whoever wrote it.
	statusKV, err := c.s.Get(ctx, StatusKey(name))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return reconcile.Result{}, err
	}
	runKVs, _, err := c.s.List(ctx, RunPrefix(name))
	if err != nil {
		return reconcile.Result{}, err
	}
	kv, ok := c.timers.Get(store.ObjectKey(v1.KindTimer, name))
	if !ok {
		if _, err := c.s.Get(ctx, store.ObjectKey(v1.KindTimer, name)); !errors.Is(err, store.ErrNotFound) {
			return reconcile.Result{RequeueAfter: time.Second}, err // the cache lags
		}
		if c.o.Runs != nil {
			c.o.Runs.Forget(name)
		}
		return reconcile.Result{}, c.forget(ctx, name, statusKV, runKVs)
	}
	t := &v1.Timer{}
	if err := json.Unmarshal(kv.Value, t); err != nil {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("decode timer %s: %w", name, err))
	}
	v1.Default(t)
	in := Input{Timer: t, Now: c.o.Now(), Bindings: map[int64]v1.TimerRunBinding{}, Reports: map[int64]map[string]v1.InstanceStatus{}}
	if statusKV.Key != "" {
		if err := json.Unmarshal(statusKV.Value, &in.Status); err != nil {
			c.o.Log.Warn("timer record unreadable: starting it again", "timer", name, "err", err)
			in.Status = v1.TimerStatus{}
		}
	}
	runRevs := map[int64]int64{}
	for _, r := range runKVs {
		_, n, ok := ParseRunKey(r.Key)
		var b v1.TimerRunBinding
		if !ok || json.Unmarshal(r.Value, &b) != nil {
			continue
		}
		in.Bindings[n], runRevs[n] = b, r.ModRevision
		reports := map[string]v1.InstanceStatus{}
		for _, h := range b.Hosts {
			if skv, ok := c.statuses.Get(store.StatusKey(v1.KindTimer, v1.TimerRunName(name, n), h)); ok {
				var st v1.InstanceStatus
				if json.Unmarshal(skv.Value, &st) == nil {
					reports[h] = st
				}
			}
		}
		in.Reports[n] = reports
	}
	in.Hosts = c.hostInfos()
	sch, schErr := t.Schedule()
	if schErr == nil {
		in.Schedule = sch
	}
	out := Decide(in)
	ready := v1.Condition{Type: v1.ConditionReady, Status: v1.ConditionTrue, Reason: "Scheduled", ObservedGeneration: t.Metadata.Generation}
	switch {
	case schErr != nil:
		ready.Status, ready.Reason, ready.Message = v1.ConditionFalse, "InvalidSchedule", schErr.Error()
	case t.Spec.Suspend:
		ready.Reason, ready.Message = v1.ReasonSuspended, "suspended: no new runs"
	}
	out.Status.Conditions = v1.SetCondition(out.Status.Conditions, ready, in.Now)

	ops, err := c.ops(name, statusKV, in.Status, out, runRevs)
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(ops) > 0 {
		if _, err := c.s.Txn(ctx, ops); err != nil {
			if errors.Is(err, store.ErrConflict) {
				// Another controller decided first: decide again from what
				// it wrote.
				return reconcile.Result{RequeueAfter: 10 * time.Millisecond}, nil
			}
			return reconcile.Result{}, fmt.Errorf("timer %s: write decision: %w", name, err)
		}
		for _, e := range out.Events {
			if c.o.Events != nil {
				c.o.Events.Event(ctx, v1.KindTimer, name, e.Type, e.Reason, "%s", e.Message)
			}
		}
		if c.o.Runs != nil {
			for _, r := range out.Finished {
				c.o.Runs.RunFinished(name, r)
			}
		}
	}
	if c.o.Runs != nil {
		c.o.Runs.Observe(name, out.Status.LastSuccessfulTime)
	}
	return reconcile.Result{RequeueAfter: out.RequeueAfter}, nil
}

// ops turns a decision into one transaction: the record (expected as
// read) with every binding created, changed or deleted.
func (c *Controller) ops(name string, statusKV store.KV, prev v1.TimerStatus, out Output, runRevs map[int64]int64) ([]store.Op, error) {
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
func (c *Controller) forget(ctx context.Context, name string, statusKV store.KV, runs []store.KV) error {
	var ops []store.Op
	if statusKV.Key != "" {
		ops = append(ops, store.Op{Key: statusKV.Key, Delete: true, ExpectRev: statusKV.ModRevision})
	}
	for _, r := range runs {
		ops = append(ops, store.Op{Key: r.Key, Delete: true, ExpectRev: r.ModRevision})
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := c.s.Txn(ctx, ops); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("timer %s: forget: %w", name, err)
	}
	return nil
}

func (c *Controller) hostInfos() []HostInfo {
	var out []HostInfo
	for _, kv := range c.hosts.List() {
		name := strings.TrimPrefix(kv.Key, store.HostsPrefix)
		var h v1.Host
		if json.Unmarshal(kv.Value, &h) != nil {
			continue
		}
		_, up := c.alive.Get(store.AliveKey(name))
		out = append(out, HostInfo{Name: name, Labels: h.Metadata.Labels, Up: up})
	}
	return out
}
