package units

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
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
