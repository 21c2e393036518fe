package units

import (
	"context"
	"fmt"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// ResetBackoffAfter is how long a container must run before its restart
// delay starts again from restart.delay.
const ResetBackoffAfter = time.Minute

// nextStart returns how long until the next start is allowed: the delay
// after the last exit.
func nextStart(mem *memory, now time.Time) time.Duration {
	if mem.LastExitTime.IsZero() || len(mem.Starts) == 0 || mem.Delay == 0 {
		return 0
	}
	at := mem.LastExitTime.Add(mem.Delay)
	if last := mem.Starts[len(mem.Starts)-1]; last.After(mem.LastExitTime) {
		return 0 // already restarted since that exit
	}
	if at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// startLimitHit says why another start now would break the start limit, or "".
func startLimitHit(mem *memory, now time.Time, u *v1.Unit) string {
	sl := u.Spec.Restart.StartLimit
	if sl == nil || sl.Burst <= 0 || sl.Interval == nil || sl.Interval.Duration <= 0 {
		return ""
	}
	n := 0
	for _, t := range mem.Starts {
		if now.Sub(t) < sl.Interval.Duration {
			n++
		}
	}
	if n >= sl.Burst {
		return fmt.Sprintf("start request repeated too quickly: %d starts within %s (startLimit.burst %d)", n, sl.Interval.Duration, sl.Burst)
	}
	return ""
}

// noteStart records a start attempt and moves the delay for the next one.
func noteStart(mem *memory, now time.Time, u *v1.Unit, restart bool) {
	cutoff := now.Add(-time.Hour)
	kept := mem.Starts[:0]
	for _, t := range mem.Starts {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	mem.Starts = append(kept, now)
	mem.KilledSick = false
	if restart {
		mem.Restarts++
		if mem.Delay == 0 {
			mem.Delay = u.Spec.Restart.Delay.Duration
		} else {
			mem.Delay = min(mem.Delay*2, u.Spec.Restart.MaxDelay.Duration)
		}
	}
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// noteBackOff records a BackOff event once per exit when the plan waits
// before restarting the container.
func (r *run) noteBackOff(ctx context.Context, out planOutput) {
	if !out.BackOff {
		return
	}
	exit := r.in.mem.SeenExit
	if r.in.timing.backOffSet && r.in.timing.backOff.Equal(exit) {
		return
	}
	r.in.timing.backOff, r.in.timing.backOffSet = exit, true
	r.event(ctx, v1.EventWarning, "BackOff", "back-off restarting the container: %s", out.Message)
}
