package probe

import (
	"context"
	"time"
)

// Schedule is when a check runs: the first time at once, then Interval
// after each run ends, each run bounded by Timeout. Both are to be
// positive: callers raise them to berth's floors (v1.MinCheckInterval,
// v1.MinCheckTimeout) first, as a Timeout of 0 would end every run at
// once and an Interval of 0 run them back to back.
type Schedule struct {
	Interval time.Duration
	Timeout  time.Duration
}

// Loop runs once by s until ctx ends, and hands each result to report.
// A run is given a context that ends after s.Timeout; a result that comes
// back after ctx ended is dropped, so report is never called once Loop is
// on its way out. Runs never overlap: the next waits for the one before
// (a hung exec that ignores its context holds the loop, it does not pile
// up). Loop returns when ctx ends; run it in a goroutine its caller owns.
func Loop(ctx context.Context, s Schedule, once func(context.Context) Result, report func(Result)) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.Timeout)
		res := once(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		report(res)
		t.Reset(s.Interval)
	}
}
