package units

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/probe"
	"berth.dev/berth/internal/runtime"
)

func TestHealthPeriods(t *testing.T) {
	t.Parallel()
	d := func(x time.Duration) *v1.Duration { return &v1.Duration{Duration: x} }
	for _, tc := range []struct {
		name              string
		hc                v1.HealthCheck
		interval, timeout time.Duration
		raised            []string
	}{
		{"unset: the defaults", v1.HealthCheck{}, v1.DefaultHealthInterval, v1.DefaultHealthTimeout, nil},
		{"as written", v1.HealthCheck{Interval: d(3 * time.Second), Timeout: d(2 * time.Second)}, 3 * time.Second, 2 * time.Second, nil},
		{"the floors themselves", v1.HealthCheck{Interval: d(time.Second), Timeout: d(time.Second)}, time.Second, time.Second, nil},
		{"1ms interval, as compose allows", v1.HealthCheck{Interval: d(time.Millisecond), Timeout: d(5 * time.Second)}, time.Second, 5 * time.Second,
			[]string{"healthCheck.interval 1ms raised to the minimum of 1s"}},
		{"short timeout", v1.HealthCheck{Interval: d(10 * time.Second), Timeout: d(time.Nanosecond)}, 10 * time.Second, time.Second,
			[]string{"healthCheck.timeout 1ns raised to the minimum of 1s"}},
	} {
		i, to, raised := healthPeriods(&tc.hc)
		if i != tc.interval || to != tc.timeout || !reflect.DeepEqual(raised, tc.raised) {
			t.Errorf("%s: healthPeriods = %s %s %q, want %s %s %q", tc.name, i, to, raised, tc.interval, tc.timeout, tc.raised)
		}
	}
}

// A Unit whose exec health check asks for 1ms is probed once a second,
// not back to back, and a warning event says so.
func TestHealthCheckIntervalFloor(t *testing.T) {
	t.Parallel()
	rec := &recorded{}
	e := newEnv(t, func(o *Options) { o.Events = rec })
	var mu sync.Mutex
	var execs []time.Time
	e.rt.SetExecFunc(func(id string, cmd []string) (runtime.ExecResult, error) {
		mu.Lock()
		execs = append(execs, time.Now())
		mu.Unlock()
		return runtime.ExecResult{}, nil
	})
	e.apply(pinned("eager", func(u *v1.Unit) {
		u.Spec.Container.HealthCheck = &v1.HealthCheck{Exec: &v1.ExecCheck{Command: []string{"/testapp", "exit", "0"}},
			Interval: &v1.Duration{Duration: time.Millisecond}, Timeout: &v1.Duration{Duration: time.Second}}
	}))
	e.eventually("three probes", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(execs) >= 3, fmt.Sprint(len(execs), " probes")
	})
	mu.Lock()
	got := append([]time.Time(nil), execs...)
	mu.Unlock()
	for i := 1; i < 3; i++ {
		if gap := got[i].Sub(got[i-1]); gap < v1.MinCheckInterval {
			t.Errorf("probe %d came %s after the one before, want at least %s (%d probes in all)", i+1, gap, v1.MinCheckInterval, len(got))
		}
	}
	if n := rec.count("Unit/eager " + ReasonCheckBelowMinimum); n == 0 {
		t.Errorf("no %s event on the Unit", ReasonCheckBelowMinimum)
	}
}

func TestHealthObserve(t *testing.T) {
	t.Parallel()
	pass := probe.Result{Status: v1.CheckPassing, Output: "HTTP GET http://127.0.0.1:1/healthz: 200 OK Output: ok"}
	fail := probe.Result{Status: v1.CheckCritical, Output: "exit code 1: down"}
	for _, tc := range []struct {
		name       string
		before     health
		r          probe.Result
		afterStart bool
		retries    int
		want       health
		changed    bool
	}{
		{name: "a first pass", before: health{Configured: true}, r: pass, retries: 3,
			want: health{Configured: true, Passed: true, Output: pass.Output}, changed: true},
		{name: "a pass without output says passing", before: health{Configured: true}, r: probe.Result{Status: v1.CheckPassing}, retries: 3,
			want: health{Configured: true, Passed: true, Output: "passing"}, changed: true},
		{name: "a failure in the start period does not count", before: health{Configured: true}, r: fail, retries: 3,
			want: health{Configured: true, Output: fail.Output}},
		{name: "a failure after the start period counts", before: health{Configured: true}, r: fail, afterStart: true, retries: 3,
			want: health{Configured: true, Failures: 1, Output: fail.Output}, changed: true},
		{name: "a failure after a pass counts, even in the start period", before: health{Configured: true, Passed: true}, r: fail, retries: 3,
			want: health{Configured: true, Passed: true, Failures: 1, Output: fail.Output}, changed: true},
		{name: "retries failures in a row: unhealthy", before: health{Configured: true, Passed: true, Failures: 2}, r: fail, retries: 3,
			want: health{Configured: true, Passed: true, Failures: 3, Unhealthy: true, Output: fail.Output}, changed: true},
		{name: "a pass heals", before: health{Configured: true, Passed: true, Failures: 3, Unhealthy: true}, r: pass, retries: 3,
			want: health{Configured: true, Passed: true, Output: pass.Output}, changed: true},
		{name: "a new output alone is no change", before: health{Configured: true, Passed: true, Output: "before"}, r: pass, retries: 3,
			want: health{Configured: true, Passed: true, Output: pass.Output}},
	} {
		h := tc.before
		changed := h.observe(tc.r, tc.afterStart, tc.retries)
		if h != tc.want || changed != tc.changed {
			t.Errorf("%s: %+v, changed %v; want %+v, changed %v", tc.name, h, changed, tc.want, tc.changed)
		}
	}
}

func TestHealthProbe(t *testing.T) {
	t.Parallel()
	ports := []v1.Port{{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP}}
	published := &runtime.Container{ID: "c1", Ports: []runtime.PortBinding{{ContainerPort: 8080, HostPort: 31000, Protocol: "tcp"}}}
	for _, tc := range []struct {
		name    string
		t       v1.ContainerTemplate
		ctr     *runtime.Container
		want    probe.Check
		wantErr string
	}{
		{name: "exec runs in the container",
			t:    v1.ContainerTemplate{HealthCheck: &v1.HealthCheck{Exec: &v1.ExecCheck{Command: []string{"/testapp", "check", "http://127.0.0.1:8080/"}}}},
			ctr:  published,
			want: probe.Check{Type: probe.TypeExec, Exec: []string{"/testapp", "check", "http://127.0.0.1:8080/"}, Container: "c1"}},
		{name: "http to a named port, published",
			t:    v1.ContainerTemplate{Ports: ports, HealthCheck: &v1.HealthCheck{HTTP: &v1.HTTPCheck{Path: "/healthz", Port: v1.FromString("http"), Scheme: "http"}}},
			ctr:  published,
			want: probe.Check{Type: probe.TypeHTTP, HTTP: "http://127.0.0.1:31000/healthz"}},
		{name: "tcp on the host's network",
			t:    v1.ContainerTemplate{NetworkMode: "host", HealthCheck: &v1.HealthCheck{TCP: &v1.TCPCheck{Port: v1.FromInt(5432)}}},
			ctr:  &runtime.Container{ID: "c2"},
			want: probe.Check{Type: probe.TypeTCP, TCP: "127.0.0.1:5432"}},
		{name: "tcp to the container's address",
			t:    v1.ContainerTemplate{HealthCheck: &v1.HealthCheck{TCP: &v1.TCPCheck{Port: v1.FromInt(6379)}}},
			ctr:  &runtime.Container{ID: "c3", IPAddress: "172.18.0.5"},
			want: probe.Check{Type: probe.TypeTCP, TCP: "172.18.0.5:6379"}},
		{name: "a port name the template does not have",
			t:       v1.ContainerTemplate{Ports: ports, HealthCheck: &v1.HealthCheck{HTTP: &v1.HTTPCheck{Port: v1.FromString("admin"), Scheme: "http"}}},
			ctr:     published,
			wantErr: `no port named "admin"`},
		{name: "neither",
			t:       v1.ContainerTemplate{HealthCheck: &v1.HealthCheck{}},
			ctr:     published,
			wantErr: "health check has neither http, tcp nor exec"},
	} {
		got, err := healthProbe(&tc.t, tc.ctr)
		switch {
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || !reflect.DeepEqual(got, tc.want)):
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}
