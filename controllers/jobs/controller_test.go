package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	testingclock "k8s.io/utils/clock/testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// controllerEnv runs the Jobs controller on an embedded etcd, timed by a
// fake clock.
type controllerEnv struct {
	t      *testing.T
	s      *store.Store
	clock  *testingclock.FakeClock
	reg    *prometheus.Registry
	events *testenv.Events
}

func newControllerEnv(t *testing.T) *controllerEnv {
	t.Helper()
	e := &controllerEnv{t: t, s: testenv.EtcdStore(t), clock: testingclock.NewFakeClock(time.Now()), reg: prometheus.NewRegistry(), events: &testenv.Events{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c := New(e.s, Options{Resync: time.Hour, Clock: e.clock, Metrics: reconcile.NewMetrics(e.reg), Events: e.events})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// binding returns the stored binding of job name, and whether there is one.
func (e *controllerEnv) binding(name string) (v1.JobBinding, bool) {
	e.t.Helper()
	var b v1.JobBinding
	kv, err := e.s.Get(context.Background(), store.BindingKey(v1.KindJob, name))
	if errors.Is(err, store.ErrNotFound) {
		return b, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(kv.Value, &b); err != nil {
		e.t.Fatal(err)
	}
	return b, true
}

// metric returns the sum of the series of a counter or gauge of the loop.
func (e *controllerEnv) metric(name string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return n
}

// idleSince reports whether the loop reconciled since it had done n
// reconciles and has nothing left to do.
func (e *controllerEnv) idleSince(n float64) (bool, string) {
	done, queued, busy := e.metric("controller_runtime_reconcile_total"), e.metric("workqueue_depth"), e.metric("controller_runtime_active_workers")
	return done > n && queued == 0 && busy == 0, fmt.Sprintf("%v reconciles, %v queued, %v under way", done, queued, busy)
}

func (e *controllerEnv) apply(j *v1.Job) {
	e.t.Helper()
	if _, err := store.Apply(context.Background(), e.s, []v1.Object{j}, store.ApplyOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *controllerEnv) putStatus(key string, st v1.InstanceStatus) {
	e.t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Put(context.Background(), key, b, 0); err != nil {
		e.t.Fatal(err)
	}
}

// addHost writes the record of a host, as its controller does.
func (e *controllerEnv) addHost(name string) {
	e.t.Helper()
	h := v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}, Metadata: v1.ObjectMeta{Name: name}}
	b, err := json.Marshal(h)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Put(context.Background(), store.HostKey(name), b, 0); err != nil {
		e.t.Fatal(err)
	}
}

// waitBinding waits until the binding of job name satisfies ok, failing
// the test at once when stop says why it never will.
func (e *controllerEnv) waitBinding(name, what string, ok func(v1.JobBinding) bool, stop func(v1.JobBinding) string) v1.JobBinding {
	e.t.Helper()
	var b v1.JobBinding
	testenv.Eventually(e.t, 10*time.Second, what, func() (bool, string) {
		var found bool
		if b, found = e.binding(name); !found {
			return false, "no binding"
		}
		if why := stop(b); why != "" {
			e.t.Fatalf("waiting for %s: %s", what, why)
		}
		return ok(b), fmt.Sprintf("binding %+v, rollout %+v", b.Hosts, b.Rollout)
	})
	return b
}

// A host can write only its own statuses (status/<host>/..., etcd's
// roles). Host b reporting, under its own key, that host a failed the new
// version must not stop a's rollout: the status is no host's, and when a
// reports itself running the rollout moves on to b.
func TestForgedStatusDoesNotMoveARollout(t *testing.T) {
	t.Parallel()
	e := newControllerEnv(t)
	e.addHost("a")
	e.addHost("b")
	e.apply(job("1", deployed("a", "b")))
	e.waitBinding("nc", "version 1 on a and b", func(b v1.JobBinding) bool {
		return b.Hosts["a"] == "1" && b.Hosts["b"] == "1"
	}, func(v1.JobBinding) string { return "" })

	v2 := job("2", deployed("a", "b"))
	e.apply(v2)
	e.waitBinding("nc", "version 2 rolling out on a", func(b v1.JobBinding) bool {
		return b.Hosts["a"] == "2" && b.Hosts["b"] == "1" && b.Rollout != nil
	}, func(v1.JobBinding) string { return "" })

	forged := v1.InstanceStatus{Host: "a", State: v1.StateFailed, SpecHash: v1.TemplateHash(&v2.Spec.Container), Message: "forged by host b"}
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "b"), forged)
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "a"), running(v2, "a"))

	failed := func(b v1.JobBinding) string {
		if b.Rollout != nil && b.Rollout.State == v1.RolloutFailed {
			return fmt.Sprintf("the rollout failed: %s", b.Rollout.Message)
		}
		return ""
	}
	b := e.waitBinding("nc", "version 2 on b once a runs it", func(b v1.JobBinding) bool { return b.Hosts["b"] == "2" }, failed)
	if why := failed(b); why != "" {
		t.Error(why)
	}
}

// Only a host writes statuses under its name, and only a host that joined
// has a record. A status under the name of a host that never joined
// (which etcd's berth-gc role may write) is no host's: it does not move a
// rollout past that host, which fails for want of a status.
func TestStatusOfNoHostDoesNotMoveARollout(t *testing.T) {
	t.Parallel()
	e := newControllerEnv(t)
	e.addHost("a")
	deploy := func(j *v1.Job) {
		deployed("a", "ghost")(j)
		j.Spec.Rollout.Timeout = &v1.Duration{Duration: time.Minute}
	}
	e.apply(job("1", deploy))
	e.waitBinding("nc", "version 1 on a and ghost", func(b v1.JobBinding) bool {
		return b.Hosts["a"] == "1" && b.Hosts["ghost"] == "1"
	}, func(v1.JobBinding) string { return "" })

	v2 := job("2", deploy)
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "ghost"), running(v2, "ghost"))
	e.apply(v2)
	e.waitBinding("nc", "version 2 on a", func(b v1.JobBinding) bool { return b.Hosts["a"] == "2" }, func(v1.JobBinding) string { return "" })
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "a"), running(v2, "a"))
	// The clock moves only once a's status moved the rollout on: a step
	// taken before the loop saw it would time a out instead.
	e.waitBinding("nc", "version 2 done on a, ghost moving", func(b v1.JobBinding) bool {
		return b.Rollout != nil && slices.Equal(b.Rollout.Done, []string{"a"}) && slices.Equal(b.Rollout.Current, []string{"ghost"})
	}, func(v1.JobBinding) string { return "" })
	var b v1.JobBinding
	testenv.Eventually(t, 10*time.Second, "the rollout to time out on ghost", func() (bool, string) {
		e.clock.Step(time.Minute)
		b, _ = e.binding("nc")
		return b.Rollout != nil && b.Rollout.State != v1.RolloutRollingOut, fmt.Sprintf("%+v", b.Rollout)
	})
	if b.Rollout.State != v1.RolloutFailed || !strings.Contains(b.Rollout.Message, "version 2 unhealthy on ghost for 1m0s (timeout); ghost: no status yet") {
		t.Errorf("rollout %s: %s; want it failed on host ghost, which reported nothing", b.Rollout.State, b.Rollout.Message)
	}
}

// A stored Job that does not decode is left alone, not taken for deleted:
// its binding stays, and it is reconciled again once it decodes.
func TestUndecodableJobKeepsItsBinding(t *testing.T) {
	t.Parallel()
	e := newControllerEnv(t)
	e.addHost("a")
	e.apply(job("1", deployed("a")))
	e.waitBinding("nc", "version 1 on a", func(b v1.JobBinding) bool { return b.Hosts["a"] == "1" }, func(v1.JobBinding) string { return "" })

	before := e.metric("controller_runtime_reconcile_total")
	key := store.ObjectKey(v1.KindJob, "nc")
	if _, err := e.s.Put(context.Background(), key, []byte(`{"metadata":{"name":"nc"},"spec":{"version":2}}`), 0); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the undecodable job reported and reconciled", func() (bool, string) {
		if e.events.Count("Job/nc", "InvalidObject") == 0 {
			return false, "no event"
		}
		return e.idleSince(before)
	})
	if b, ok := e.binding("nc"); !ok || b.Hosts["a"] != "1" {
		t.Fatalf("binding after the job stopped decoding: %+v, %v; want it kept", b, ok)
	}

	fixed, err := json.Marshal(job("2", deployed("a")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Put(context.Background(), key, fixed, 0); err != nil {
		t.Fatal(err)
	}
	e.waitBinding("nc", "version 2 on a once the job decodes", func(b v1.JobBinding) bool { return b.Hosts["a"] == "2" }, func(v1.JobBinding) string { return "" })
}
