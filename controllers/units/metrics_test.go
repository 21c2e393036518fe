package units

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/reconcile"
)

// recorded keeps the events a Controller records.
type recorded struct {
	mu       sync.Mutex
	reasons  []string
	messages []string
}

func (r *recorded) Event(_ context.Context, kind, name string, _ v1.EventType, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, kind+"/"+name+" "+reason)
	r.messages = append(r.messages, kind+"/"+name+" "+reason+": "+fmt.Sprintf(format, args...))
}

// all returns every event recorded, "kind/name reason: message".
func (r *recorded) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.messages, "\n")
}

func (r *recorded) count(what string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.reasons {
		if s == what {
			n++
		}
	}
	return n
}

// A crash loop moves berth_container_restarts_total (what a crash-looping
// alert watches) and records one BackOff per exit that waits; the time to
// RUNNING is observed once per generation; the instances are counted by
// state; a failing engine call counts as a reconcile error.
func TestMetricsOfACrashLoop(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	bm := metrics.New(reg)
	loop := reconcile.NewMetrics(reg)
	ev := &recorded{}
	e := newEnv(t, func(o *Options) { o.BerthMetrics, o.Metrics, o.Events = bm, loop, ev })

	e.apply(pinned("crash", func(u *v1.Unit) {
		u.Spec.Restart.Delay = &v1.Duration{Duration: 300 * time.Millisecond}
	}))
	st := e.waitState("crash", v1.StateRunning)
	gauge := func(state v1.InstanceState) float64 {
		return value(t, reg, "berth_instances", map[string]string{"kind": "Unit", "state": string(state)})
	}
	if got := gauge(v1.StateRunning); got != 1 {
		t.Errorf("berth_instances{kind=Unit,state=RUNNING} = %v, want 1", got)
	}
	if c := histogramCount(t, reg, "berth_time_to_running_seconds"); c != 1 {
		t.Errorf("time to running observed %d times, want 1", c)
	}
	for i := 1; i <= 3; i++ {
		if err := e.rt.Exit(st.ContainerID, 1); err != nil {
			t.Fatal(err)
		}
		e.eventually(fmt.Sprintf("restart %d counted", i), func() (bool, string) {
			v := value(t, reg, "berth_container_restarts_total", map[string]string{"kind": "Unit"})
			return v == float64(i), fmt.Sprint(v)
		})
		e.eventually("back-off recorded", func() (bool, string) { return ev.count("Unit/crash BackOff") == i, fmt.Sprint(ev.reasons) })
		st = e.waitState("crash", v1.StateRunning)
	}
	// Restarts of the same generation are not new times to RUNNING.
	if c := histogramCount(t, reg, "berth_time_to_running_seconds"); c != 1 {
		t.Errorf("time to running observed %d times, want 1", c)
	}
	// A new generation is timed again.
	e.apply(pinned("crash", func(u *v1.Unit) {
		u.Spec.Restart.Delay = &v1.Duration{Duration: 300 * time.Millisecond}
		u.Spec.Container.Env = []v1.EnvVar{{Name: "GEN", Value: "2"}}
	}))
	e.eventually("second generation timed", func() (bool, string) {
		c := histogramCount(t, reg, "berth_time_to_running_seconds")
		return c == 2, fmt.Sprint(c)
	})

	// An engine that refuses: a reconcile error.
	e.rt.Fail("create", fmt.Errorf("boom"), 3)
	errs0 := value(t, reg, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "unit"})
	e.apply(pinned("other", func(u *v1.Unit) { u.Spec.Container.Ports = nil }))
	e.eventually("reconcile errors counted", func() (bool, string) {
		v := value(t, reg, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "unit"})
		return v >= errs0+1, fmt.Sprint(v)
	})
	e.waitState("other", v1.StateRunning)
}

// reconciles is how many reconciles the loop of Units finished.
func reconciles(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	n := 0.0
	for _, r := range []string{"success", "error", "requeue", "requeue_after"} {
		n += value(t, reg, "controller_runtime_reconcile_total", map[string]string{"controller": "unit", "result": r})
	}
	return n
}

// value returns the value of the first series of a counter or gauge family
// in reg whose labels include labels (0 when there is none).
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue series
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return 0
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}
