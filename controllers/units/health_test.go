package units

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/probe"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

func TestHealthSchedule(t *testing.T) {
	t.Parallel()
	d := func(x time.Duration) *v1.Duration { return &v1.Duration{Duration: x} }
	sched := func(i, to, si time.Duration) probe.Schedule {
		return probe.Schedule{Interval: i, Timeout: to, StartInterval: si}
	}
	defaults := sched(v1.DefaultHealthInterval, v1.DefaultHealthTimeout, v1.DefaultHealthStartInterval)
	for _, tc := range []struct {
		name   string
		hc     v1.HealthCheck
		want   probe.Schedule
		raised []string
	}{
		{"unset: the defaults", v1.HealthCheck{}, defaults, nil},
		{"as written", v1.HealthCheck{Interval: d(3 * time.Second), Timeout: d(2 * time.Second), StartInterval: d(time.Second)},
			sched(3*time.Second, 2*time.Second, time.Second), nil},
		{"the floors themselves", v1.HealthCheck{Interval: d(time.Second), Timeout: d(time.Second), StartInterval: d(100 * time.Millisecond)},
			sched(time.Second, time.Second, 100*time.Millisecond), nil},
		{"1ms interval, as compose allows", v1.HealthCheck{Interval: d(time.Millisecond), Timeout: d(5 * time.Second)},
			sched(time.Second, 5*time.Second, v1.DefaultHealthStartInterval),
			[]string{"healthCheck.interval 1ms raised to the minimum of 1s"}},
		{"short timeout", v1.HealthCheck{Interval: d(10 * time.Second), Timeout: d(time.Nanosecond)},
			sched(10*time.Second, time.Second, v1.DefaultHealthStartInterval),
			[]string{"healthCheck.timeout 1ns raised to the minimum of 1s"}},
		{"short startInterval", v1.HealthCheck{StartInterval: d(time.Millisecond)},
			sched(v1.DefaultHealthInterval, v1.DefaultHealthTimeout, 100*time.Millisecond),
			[]string{"healthCheck.startInterval 1ms raised to the minimum of 100ms"}},
	} {
		got, raised := healthSchedule(&tc.hc)
		if got != tc.want || !reflect.DeepEqual(raised, tc.raised) {
			t.Errorf("%s: healthSchedule = %+v %q, want %+v %q", tc.name, got, raised, tc.want, tc.raised)
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
	started := time.Unix(1e9, 0)
	now := started.Add(time.Minute)
	// inStart and afterStart count a failure seen at now within a start
	// period, and after it.
	inStart := counting{started: started, startPeriod: time.Hour, interval: time.Second, retries: 3}
	afterStart := counting{started: started, interval: time.Second, retries: 3}
	for _, tc := range []struct {
		name    string
		before  health
		r       probe.Result
		c       counting
		want    health
		changed bool
	}{
		{name: "a first pass", before: health{Configured: true}, r: pass, c: inStart,
			want: health{Configured: true, Passed: true, Output: pass.Output}, changed: true},
		{name: "a pass without output says passing", before: health{Configured: true}, r: probe.Result{Status: v1.CheckPassing}, c: inStart,
			want: health{Configured: true, Passed: true, Output: "passing"}, changed: true},
		{name: "a failure in the start period does not count", before: health{Configured: true}, r: fail, c: inStart,
			want: health{Configured: true, Output: fail.Output}},
		{name: "a failure after the start period counts", before: health{Configured: true}, r: fail, c: afterStart,
			want: health{Configured: true, Failures: 1, Output: fail.Output, countedAt: now}, changed: true},
		{name: "a failure after a pass counts, even in the start period", before: health{Configured: true, Passed: true}, r: fail, c: inStart,
			want: health{Configured: true, Passed: true, Failures: 1, Output: fail.Output, countedAt: now}, changed: true},
		{name: "a failure within an interval of the last that counted does not count",
			before: health{Configured: true, Failures: 1, countedAt: now.Add(-999 * time.Millisecond)}, r: fail, c: afterStart,
			want: health{Configured: true, Failures: 1, Output: fail.Output, countedAt: now.Add(-999 * time.Millisecond)}},
		{name: "a failure an interval after the last that counted counts",
			before: health{Configured: true, Failures: 1, countedAt: now.Add(-time.Second)}, r: fail, c: afterStart,
			want: health{Configured: true, Failures: 2, Output: fail.Output, countedAt: now}, changed: true},
		{name: "retries failures in a row: unhealthy", before: health{Configured: true, Passed: true, Failures: 2}, r: fail, c: inStart,
			want: health{Configured: true, Passed: true, Failures: 3, Unhealthy: true, Output: fail.Output, countedAt: now}, changed: true},
		{name: "a pass heals", before: health{Configured: true, Passed: true, Failures: 3, Unhealthy: true, countedAt: now.Add(-time.Second)}, r: pass, c: inStart,
			want: health{Configured: true, Passed: true, Output: pass.Output}, changed: true},
		{name: "a new output alone is no change", before: health{Configured: true, Passed: true, Output: "before"}, r: pass, c: inStart,
			want: health{Configured: true, Passed: true, Output: pass.Output}},
	} {
		h := tc.before
		changed := h.observe(tc.r, now, tc.c)
		if h != tc.want || changed != tc.changed {
			t.Errorf("%s: %+v, changed %v; want %+v, changed %v", tc.name, h, changed, tc.want, tc.changed)
		}
	}
}

// A check that fails from the start, probed quickly before its first
// pass (from the default startInterval, doubling, as probe.Loop does), becomes
// unhealthy no sooner than probes an interval apart would make it: after
// retries failures at least an interval apart, whatever startPeriod says.
func TestHealthObserveQuickFailures(t *testing.T) {
	t.Parallel()
	fail := probe.Result{Status: v1.CheckCritical, Output: "connection refused"}
	started := time.Unix(1e9, 0)
	for _, tc := range []struct {
		name          string
		startPeriod   time.Duration
		unhealthyFrom time.Duration // the first probe that finds it unhealthy
	}{
		{"no start period: the first failure counts", 0, 2500 * time.Millisecond}, // counted at 0s, 1.5s, 2.5s
		{"a start period of 2s", 2 * time.Second, 4500 * time.Millisecond},        // counted at 2.5s, 3.5s, 4.5s
	} {
		c := counting{started: started, startPeriod: tc.startPeriod, interval: time.Second, retries: 3}
		h := health{Configured: true}
		wait, at := v1.DefaultHealthStartInterval, time.Duration(0)
		for at <= tc.unhealthyFrom {
			h.observe(fail, started.Add(at), c)
			if h.Unhealthy != (at >= tc.unhealthyFrom) {
				t.Errorf("%s: probe at %s: unhealthy %v (%d failures counted), want it from %s", tc.name, at, h.Unhealthy, h.Failures, tc.unhealthyFrom)
			}
			at += wait
			wait = min(2*wait, c.interval)
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

// A requirement whose check fails a few times before it passes, as an
// application does until it listens, is probed again at once rather than
// an interval later: its dependent with startCondition healthy starts
// without waiting out the requirement's interval (an hour here), and the
// quick failures do not count as an interval's would: retries 2 does not
// make it unhealthy and restart it.
func TestHealthCheckPassesSoonAfterItsFirstFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h, _ := json.Marshal(v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}, Metadata: v1.ObjectMeta{Name: "h"}})
	if _, err := e.s.Put(context.Background(), store.HostKey("h"), h, 0); err != nil {
		t.Fatal(err) // statuses of requirements count only under a recorded host
	}
	var mu sync.Mutex
	execs := 0
	e.rt.SetExecFunc(func(id string, cmd []string) (runtime.ExecResult, error) {
		mu.Lock()
		defer mu.Unlock()
		execs++
		if execs <= 3 {
			return runtime.ExecResult{ExitCode: 1, Output: []byte("not listening yet")}, nil
		}
		return runtime.ExecResult{}, nil
	})
	noPorts := func(u *v1.Unit) { u.Spec.Container.Ports = nil }
	e.apply(pinned("db", func(u *v1.Unit) {
		noPorts(u)
		u.Spec.Container.HealthCheck = &v1.HealthCheck{Exec: &v1.ExecCheck{Command: []string{"/testapp", "check", "http://127.0.0.1:8080/"}},
			Interval: &v1.Duration{Duration: time.Hour}, Retries: 2}
	}))
	e.apply(pinned("api", func(u *v1.Unit) {
		noPorts(u)
		u.Spec.Requires = []string{"db"}
		u.Spec.StartCondition = map[string]v1.StartCondition{"db": v1.StartConditionHealthy}
	}))
	e.waitState("api", v1.StateRunning)
	db := e.waitState("db", v1.StateRunning)
	if db.Restarts != 0 {
		t.Errorf("db restarted %d times for failures before its first pass", db.Restarts)
	}
	mu.Lock()
	defer mu.Unlock()
	if execs != 4 {
		t.Errorf("db was probed %d times, want 4: three failures and the pass", execs)
	}
}
