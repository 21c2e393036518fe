package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
)

func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestNilIsANoOp(t *testing.T) {
	var m *Metrics
	m.CountInstances(v1.KindUnit, nil)
	m.ContainerRestarted(v1.KindUnit)
	m.Running(v1.KindUnit, time.Second)
	m.ImagePulled(time.Second, nil)
	m.CheckRan("http", v1.CheckPassing)
	m.SetEndpoints(nil)
	m.EtcdRequest("get", time.Millisecond, errors.New("x"))
	rt := fake.New()
	if m.Runtime(rt) != runtime.Runtime(rt) {
		t.Error("a nil Metrics wraps the runtime")
	}
}

func TestSeriesAndCounting(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.CountInstances(v1.KindUnit, func() map[v1.InstanceState]int { return map[v1.InstanceState]int{v1.StateRunning: 2} })
	m.CheckRan("grpc", v1.CheckStatus("bogus"))
	m.EtcdRequest("put", time.Millisecond, errors.New("etcdserver: request timed out"))
	m.EtcdRequest("get", time.Millisecond, context.Canceled)
	m.SetEndpoints(map[v1.CheckStatus]int{v1.CheckCritical: 3})

	rt := fake.New()
	rt.Fail("start", errors.New("boom"), 1)
	wrapped := m.Runtime(rt)
	_ = wrapped.Start(context.Background(), "x")                     // fails: counted
	_, _ = wrapped.Inspect(context.Background(), "nope")             // not found: not an engine error
	_ = wrapped.Remove(context.Background(), "nope")                 // not found
	if _, err := wrapped.Version(context.Background()); err != nil { // fine
		t.Fatal(err)
	}

	out := exposition(t, reg)
	for _, want := range []string{
		`berth_instances{kind="Unit",state="RUNNING"} 2`,
		`berth_instances{kind="Unit",state="FAILED"} 0`,
		`berth_instances{kind="Job",state="RUNNING"} 0`,
		`berth_health_checks_total{result="critical",type="other"} 1`,
		`berth_etcd_request_errors_total{op="put"} 1`,
		`berth_etcd_request_errors_total{op="get"} 0`,
		`berth_endpoints{status="critical"} 3`,
		`berth_endpoints{status="passing"} 0`,
		`berth_docker_api_errors_total{op="start"} 1`,
		`berth_docker_api_errors_total{op="inspect"} 0`,
		`berth_docker_api_errors_total{op="remove"} 0`,
		`berth_image_pulls_total{result="failure"} 0`,
		`berth_container_restarts_total{kind="Job"} 0`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("lacks %s", want)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "# HELP ") && len(strings.Fields(l)) < 4 {
			t.Errorf("no help text: %s", l)
		}
	}
}
