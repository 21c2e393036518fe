package probe_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/probe"
	"berth.dev/berth/internal/testenv"
)

// Loop runs the check at once, then an interval after each run ends and
// not before, hands over each result in order, bounds each run by the
// timeout, and reports nothing once its context ended.
func TestLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const interval = 10 * time.Second
	clk := testingclock.NewFakeClock(time.Now())
	runs := make(chan context.Context)
	answer := make(chan probe.Result)
	reported := make(chan probe.Result, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe.Loop(ctx, probe.Schedule{Interval: interval, Timeout: time.Hour, Clock: clk},
			func(rctx context.Context) probe.Result { runs <- rctx; return <-answer },
			func(r probe.Result) { reported <- r })
	}()
	for i := range 3 {
		if i > 0 {
			// The next run waits out the interval on the loop's clock.
			testenv.Eventually(t, 10*time.Second, "the loop waits for its interval", clk.HasWaiters)
			clk.Step(interval - time.Nanosecond)
			if !clk.HasWaiters() {
				t.Fatalf("run %d came before the interval had passed", i+1)
			}
			clk.Step(time.Nanosecond)
		}
		rctx := <-runs // the first run comes without waiting an interval
		if dl, ok := rctx.Deadline(); !ok || time.Until(dl) < 59*time.Minute {
			t.Errorf("run %d: deadline %v (set: %v), want about an hour from now", i+1, dl, ok)
		}
		want := probe.Result{Status: v1.CheckPassing, Output: fmt.Sprint("run ", i+1)}
		answer <- want
		if got := <-reported; got != want {
			t.Errorf("reported %+v, want %+v", got, want)
		}
	}
	// A run under way when ctx ends: its result is dropped.
	testenv.Eventually(t, 10*time.Second, "the loop waits for its interval", clk.HasWaiters)
	clk.Step(interval)
	<-runs
	cancel()
	answer <- probe.Result{Status: v1.CheckCritical, Output: "late"}
	<-done
	select {
	case r := <-reported:
		t.Errorf("reported %+v after the loop's context ended", r)
	default:
	}
}

// A loop whose context ends while it waits for the next run returns
// without running again.
func TestLoopEndsWhileWaiting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	clk := testingclock.NewFakeClock(time.Now())
	runs := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe.Loop(ctx, probe.Schedule{Interval: time.Minute, Timeout: time.Second, Clock: clk},
			func(context.Context) probe.Result { runs++; return probe.Result{Status: v1.CheckPassing} },
			func(probe.Result) {})
	}()
	testenv.Eventually(t, 10*time.Second, "the loop waits for its interval", clk.HasWaiters)
	cancel()
	<-done
	if runs != 1 {
		t.Errorf("%d runs, want the first one only", runs)
	}
}

// A run that outlives its timeout is ended by its context.
func TestLoopTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	probe.Loop(ctx, probe.Schedule{Interval: time.Hour, Timeout: 10 * time.Millisecond, Clock: testingclock.NewFakeClock(time.Now())},
		func(rctx context.Context) probe.Result {
			<-rctx.Done()
			got <- rctx.Err()
			return probe.Result{Status: v1.CheckCritical, Output: rctx.Err().Error()}
		},
		func(probe.Result) { cancel() })
	if err := <-got; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the run ended with %v, want its deadline", err)
	}
}

// With a StartInterval, a run that fails before any passed is followed
// sooner: StartInterval, then twice as long each time up to Interval; once
// a run passed, every run waits Interval, a failure after it too.
func TestLoopStartInterval(t *testing.T) {
	t.Parallel()
	pass := probe.Result{Status: v1.CheckPassing}
	fail := probe.Result{Status: v1.CheckCritical, Output: "connection refused"}
	t.Run("never passing", func(t *testing.T) {
		t.Parallel()
		checkSchedule(t, 100*time.Millisecond, []scheduled{
			{fail, 100 * time.Millisecond},
			{fail, 200 * time.Millisecond},
			{fail, 400 * time.Millisecond},
			{fail, 800 * time.Millisecond},
			{fail, time.Second}, // 1.6s is past Interval
			{fail, time.Second},
		})
	})
	t.Run("passing on the third run", func(t *testing.T) {
		t.Parallel()
		checkSchedule(t, 100*time.Millisecond, []scheduled{
			{fail, 100 * time.Millisecond},
			{fail, 200 * time.Millisecond},
			{pass, time.Second},
			{fail, time.Second}, // passed once: no quick runs any more
			{fail, time.Second},
		})
	})
	t.Run("a StartInterval of Interval or more changes nothing", func(t *testing.T) {
		t.Parallel()
		checkSchedule(t, 2*time.Second, []scheduled{{fail, time.Second}, {fail, time.Second}, {fail, time.Second}})
	})
}

// scheduled is one run's result and the wait until the next run.
type scheduled struct {
	r    probe.Result
	wait time.Duration
}

// checkSchedule runs a Loop of Interval 1s and the StartInterval given
// whose runs return the results of steps in turn, and checks on a fake
// clock that each is followed by the next after exactly its wait.
func checkSchedule(t *testing.T, startInterval time.Duration, steps []scheduled) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := testingclock.NewFakeClock(time.Unix(1e9, 0))
	runs := make(chan int)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		probe.Loop(ctx, probe.Schedule{Interval: time.Second, Timeout: time.Hour, StartInterval: startInterval, Clock: clk},
			func(context.Context) probe.Result {
				runs <- n
				n++
				return steps[min(n, len(steps))-1].r
			},
			func(probe.Result) {})
	}()
	if n := nextRun(t, runs); n != 0 { // the first run comes at once, without the clock
		t.Fatalf("first run is number %d", n)
	}
	for i, s := range steps {
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("the loop waiting after run %d", i+1), clk.HasWaiters)
		clk.Step(s.wait - time.Millisecond)
		if !clk.HasWaiters() {
			t.Fatalf("run %d (%s) was followed before %s", i+1, s.r.Status, s.wait)
		}
		clk.Step(time.Millisecond)
		if n := nextRun(t, runs); n != i+1 {
			t.Fatalf("after run %d came run %d", i+1, n+1)
		}
	}
	cancel()
	<-done
}

// nextRun returns what the next run sends, and fails the test when none
// comes within 10s (the loop waits on the fake clock, which only the test
// moves: a run comes at once or not at all).
func nextRun(t *testing.T, runs <-chan int) int {
	t.Helper()
	select {
	case n := <-runs:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no run came after the clock reached its time")
		return 0
	}
}
