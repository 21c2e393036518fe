package probe_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/probe"
)

// Loop runs the check at once, hands over each result in order, bounds
// each run by the timeout, and reports nothing once its context ended.
func TestLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := make(chan context.Context)
	answer := make(chan probe.Result)
	reported := make(chan probe.Result, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe.Loop(ctx, probe.Schedule{Interval: time.Millisecond, Timeout: time.Hour},
			func(rctx context.Context) probe.Result { runs <- rctx; return <-answer },
			func(r probe.Result) { reported <- r })
	}()
	for i := range 3 {
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

// A run that outlives its timeout is ended by its context.
func TestLoopTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	probe.Loop(ctx, probe.Schedule{Interval: time.Hour, Timeout: 10 * time.Millisecond},
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
