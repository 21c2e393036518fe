package probe

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Schedule is when a check runs: the first time at once, then Interval
// after each run ends, each run bounded by Timeout. Both are to be
// positive: callers raise them to berth's floors (v1.MinCheckInterval,
// v1.MinCheckTimeout) first, as a Timeout of 0 would end every run at
// once and an Interval of 0 run them back to back.
//
// StartInterval, when positive, brings the runs closer until one passes,
// as Kubernetes' startup probes and compose's start_interval do: a run
// that fails before any passed is followed StartInterval after it ends,
// the next twice as long after, and so on up to Interval. Once a run
// passed, every run waits Interval, whatever comes after. A check whose
// target takes a while to answer is found passing about when it first
// answers, not up to an Interval later; one that never answers is probed
// a few more times in its first Interval or so (log2(Interval /
// StartInterval) more), then as before.
type Schedule struct {
	Interval      time.Duration
	Timeout       time.Duration
	StartInterval time.Duration

	// Clock is what the waits between runs are measured by (nil: the
	// real clock). A run's Timeout is always real time.
	Clock clock.Clock
}

// delays returns the wait before the run after each run, given whether it
// passed: StartInterval doubling up to Interval until a run passes, then
// Interval (see Schedule).
func (s Schedule) delays() func(passed bool) time.Duration {
	fast := s.StartInterval
	return func(passed bool) time.Duration {
		if passed || fast <= 0 || fast >= s.Interval {
			fast = 0
			return s.Interval
		}
		d := fast
		fast *= 2
		return d
	}
}

// Loop runs once by s until ctx ends, and hands each result to report.
// A run is given a context that ends after s.Timeout; a result that comes
// back after ctx ended is dropped, so report is never called once Loop is
// on its way out. Runs never overlap: the next waits for the one before
// (a hung exec that ignores its context holds the loop, it does not pile
// up). Loop returns when ctx ends; run it in a goroutine its caller owns.
func Loop(ctx context.Context, s Schedule, once func(context.Context) Result, report func(Result)) {
	clk := s.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	next := s.delays()
	var t clock.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, s.Timeout)
		res := once(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		report(res)
		d := next(res.Passing())
		if t == nil {
			t = clk.NewTimer(d)
		} else {
			t.Reset(d)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}
