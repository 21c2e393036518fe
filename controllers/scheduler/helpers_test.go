package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// waitTimeout bounds every wait for the scheduler to act.
const waitTimeout = 15 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// putHost writes a host record as a controller does, and its alive key when
// up (deleting it otherwise).
func putHost(t *testing.T, s *store.Store, name string, labels map[string]string, up bool) {
	t.Helper()
	ctx := testCtx(t)
	h := v1.New(v1.KindHost).(*v1.Host)
	h.Metadata.Name = name
	h.Metadata.Labels = labels
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, store.HostKey(name), b, 0); err != nil {
		t.Fatal(err)
	}
	if up {
		_, err = s.Put(ctx, store.AliveKey(name), []byte("1"), 0)
	} else {
		_, err = s.Delete(ctx, store.AliveKey(name))
	}
	if err != nil {
		t.Fatal(err)
	}
}

func newUnit(name string, p v1.Placement) *v1.Unit {
	u := v1.New(v1.KindUnit).(*v1.Unit)
	u.Metadata.Name = name
	u.Spec.Container.Image = "busybox"
	u.Spec.Placement = p
	v1.Default(u)
	return u
}

// apply stores units in one apply, as applyctl does.
func apply(t *testing.T, s *store.Store, units ...*v1.Unit) {
	t.Helper()
	objs := make([]v1.Object, len(units))
	for i, u := range units {
		objs[i] = u
	}
	if _, err := store.Apply(testCtx(t), s, objs, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// binding returns the stored binding of a unit, or nil; one that does not
// decode is returned with generation -1 and a host that says why.
func binding(t *testing.T, s *store.Store, name string) *v1.Binding {
	t.Helper()
	kv, err := s.Get(testCtx(t), store.BindingKey(v1.KindUnit, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var b v1.Binding
	if err := json.Unmarshal(kv.Value, &b); err != nil {
		return &v1.Binding{Hosts: []string{"<unreadable: " + err.Error() + ">"}, Generation: -1}
	}
	return &b
}

// waitBinding waits until unit name's binding satisfies ok.
func waitBinding(t *testing.T, s *store.Store, name string, ok func(*v1.Binding) bool) *v1.Binding {
	t.Helper()
	var b *v1.Binding
	testenv.Eventually(t, waitTimeout, "binding of "+name, func() (bool, string) {
		b = binding(t, s, name)
		return ok(b), fmt.Sprintf("binding is %+v", b)
	})
	return b
}

func hasHosts(n int, gen int64) func(*v1.Binding) bool {
	return func(b *v1.Binding) bool { return b != nil && len(b.Hosts) == n && b.Generation == gen }
}

func isBoundTo(gen int64, hosts ...string) func(*v1.Binding) bool {
	return func(b *v1.Binding) bool {
		return b != nil && b.Generation == gen && slices.Equal(b.Hosts, hosts)
	}
}

func isAbsent(b *v1.Binding) bool { return b == nil }

// harness is a Scheduler running in the background with its own metrics.
type harness struct {
	reg *prometheus.Registry
}

// run starts a Scheduler on s and stops it at cleanup.
func run(t *testing.T, s *store.Store, opts scheduler.Options) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry()}
	opts.Metrics = reconcile.NewMetrics(h.reg)
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- scheduler.New(s, opts).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// reconciled returns how many reconciles of the scheduler succeeded.
func reconciled(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if maps.Equal(labels, map[string]string{"controller": "scheduler", "result": "success"}) {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// waitReconciled waits until at least n more reconciles succeeded than
// had when it was called.
func waitReconciled(t *testing.T, reg *prometheus.Registry, n int) {
	t.Helper()
	start := reconciled(t, reg)
	testenv.Eventually(t, waitTimeout, fmt.Sprintf("%d reconciles", n), func() (bool, string) {
		got := reconciled(t, reg) - start
		return got >= float64(n), fmt.Sprintf("%v so far", got)
	})
}

// threeHosts writes h1, h2 and h3, Up, with a zone label.
func threeHosts(t *testing.T, s *store.Store) {
	t.Helper()
	putHost(t, s, "h1", map[string]string{"zone": "a"}, true)
	putHost(t, s, "h2", map[string]string{"zone": "b"}, true)
	putHost(t, s, "h3", map[string]string{"zone": "a"}, true)
}
