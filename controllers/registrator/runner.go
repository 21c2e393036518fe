package registrator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/probe"
)

// runner runs one check of one endpoint and keeps its verdict, with
// Consul's thresholds (SuccessBeforePassing, FailuresBeforeCritical): an
// http, tcp or exec check on internal/probe with Consul's rules, a ttl
// check by the updates it is told.
type runner struct {
	def       catalog.Check
	defKey    string // the definition it runs; a new one replaces the runner
	container string
	// resolve, when set, says before every run of an exec check which
	// container it may run in (the ID returned), or refuses it.
	resolve func(ctx context.Context, container string) (string, error)
	cancel  context.CancelFunc
	// ran counts each result in berth_health_checks_total.
	ran func(typ string, result v1.CheckStatus)
	// clock times the schedule, the TTL and how long the check has been
	// critical.
	clock clock.Clock

	mu            sync.Mutex
	status        v1.CheckStatus
	output        string
	successes     int
	failures      int
	criticalSince time.Time
	ttlDeadline   time.Time
}

// newRunner returns the runner of check c in container, timed by clk,
// which starts with the check's status (critical when it has none).
func newRunner(c catalog.Check, defKey, container string, clk clock.Clock, ran func(string, v1.CheckStatus)) *runner {
	rn := &runner{def: c, defKey: defKey, container: container, status: c.Status, ran: ran, clock: clk}
	if rn.status == "" {
		rn.status = v1.CheckCritical
	}
	if rn.status == v1.CheckCritical {
		rn.criticalSince = clk.Now()
	}
	return rn
}

func (r *runner) state() (v1.CheckStatus, string, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.output, r.criticalSince
}

// fill writes the runner's verdict into c, and reports whether c has been
// critical for longer than its DeregisterCriticalAfter.
func (r *runner) fill(c *catalog.Check) bool {
	st, out, since := r.state()
	c.Status, c.Output = st, out
	if st != v1.CheckCritical {
		return false
	}
	c.CriticalSince = since.UTC().Truncate(time.Second)
	return c.DeregisterCriticalAfter > 0 && !since.IsZero() && r.clock.Since(since) > c.DeregisterCriticalAfter
}

// record applies one result with the thresholds, and reports whether the
// verdict or output changed.
func (r *runner) record(result v1.CheckStatus, output string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	before, beforeOut := r.status, r.output
	r.output = probe.Truncate(output)
	switch result {
	case v1.CheckPassing:
		r.successes++
		r.failures = 0
		if r.successes >= max(1, r.def.SuccessBeforePassing) {
			r.status = v1.CheckPassing
		}
	case v1.CheckWarning:
		r.successes, r.failures = 0, 0
		r.status = v1.CheckWarning
	default:
		r.failures++
		r.successes = 0
		if r.failures >= max(1, r.def.FailuresBeforeCritical) {
			r.status = v1.CheckCritical
		}
	}
	if r.status == v1.CheckCritical {
		if before != v1.CheckCritical || r.criticalSince.IsZero() {
			r.criticalSince = r.clock.Now()
		}
	} else {
		r.criticalSince = time.Time{}
	}
	return before != r.status || beforeOut != r.output
}

// run probes until ctx ends; changed is called when the verdict or output
// moves.
func (r *runner) run(ctx context.Context, checker *probe.Checker, changed func()) {
	if r.def.Type == catalog.CheckTTL {
		r.runTTL(ctx, changed)
		return
	}
	s := probe.Schedule{
		Interval: atLeast(r.def.Interval, DefaultCheckInterval, v1.MinCheckInterval),
		Timeout:  atLeast(r.def.Timeout, DefaultCheckTimeout, v1.MinCheckTimeout),
		Clock:    r.clock,
	}
	probe.Loop(ctx, s, func(ctx context.Context) probe.Result { return r.probeOnce(ctx, checker) },
		func(res probe.Result) {
			r.ran(r.def.Type, res.Status)
			if r.record(res.Status, res.Output) {
				changed()
			}
		})
}

// probeOnce runs the check once, in the container resolve allows when it
// is set.
func (r *runner) probeOnce(ctx context.Context, checker *probe.Checker) probe.Result {
	container := r.container
	if r.resolve != nil && r.def.Type == catalog.CheckExec {
		var err error
		if container, err = r.resolve(ctx, r.container); err != nil {
			return probe.Result{Status: v1.CheckCritical, Output: err.Error()}
		}
	}
	c := r.def
	// Consul's checks do not verify certificates either, unless told to.
	return checker.Do(ctx, probe.Check{Type: probe.Type(c.Type), HTTP: c.HTTP, Method: c.Method, Header: c.Header, TLSSkipVerify: true,
		TCP: c.TCP, Exec: c.Exec, Container: container})
}

// atLeast is d, or def when d is not set, and never less than floor: the
// runner holds berth's floors whatever the definition says.
func atLeast(d, def, floor time.Duration) time.Duration {
	if d <= 0 {
		d = def
	}
	return max(d, floor)
}

// ttl is the check's TTL, at least v1.MinCheckInterval.
func (r *runner) ttl() time.Duration { return max(r.def.TTL, v1.MinCheckInterval) }

// runTTL turns the check critical when no update came within its TTL,
// and again every TTL after that while none comes.
func (r *runner) runTTL(ctx context.Context, changed func()) {
	r.mu.Lock()
	if r.ttlDeadline.IsZero() {
		r.ttlDeadline = r.clock.Now().Add(r.ttl())
	}
	r.mu.Unlock()
	for {
		r.mu.Lock()
		wait := r.ttlDeadline.Sub(r.clock.Now())
		r.mu.Unlock()
		t := r.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if r.expire() {
			changed()
		}
	}
}

// expire turns a TTL check whose deadline passed critical, and gives it
// another TTL; it reports whether the verdict or output changed. An
// update that came meanwhile moved the deadline: nothing expires.
func (r *runner) expire() bool {
	r.mu.Lock()
	expired := !r.ttlDeadline.After(r.clock.Now())
	r.mu.Unlock()
	if !expired {
		return false
	}
	r.ran(r.def.Type, v1.CheckCritical)
	changed := r.record(v1.CheckCritical, fmt.Sprintf("TTL expired: no update within %s", r.ttl()))
	r.mu.Lock()
	r.ttlDeadline = r.clock.Now().Add(r.ttl())
	r.mu.Unlock()
	return changed
}

// update sets a TTL check's status.
func (r *runner) update(status v1.CheckStatus, output string) bool {
	r.ran(r.def.Type, status)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ttlDeadline = r.clock.Now().Add(r.ttl())
	before, beforeOut := r.status, r.output
	r.status, r.output = status, probe.Truncate(output)
	if status == v1.CheckCritical {
		if before != v1.CheckCritical {
			r.criticalSince = r.clock.Now()
		}
	} else {
		r.criticalSince = time.Time{}
	}
	return before != r.status || beforeOut != r.output
}
