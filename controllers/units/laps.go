package units

import "time"

// laps times the steps of one reconcile that creates and starts a
// container, from the reconcile's start: listing the containers, planning,
// the image, each status and event written, the engine's create, start and
// inspect. They are logged at debug level ("container started") once the
// status after the start is written, so an operator sees where the time
// from apply to RUNNING goes.
type laps struct {
	start, last time.Time
	attrs       []any
}

func newLaps() *laps {
	now := time.Now()
	return &laps{start: now, last: now}
}

// lap ends the step named step: its time is what passed since the last
// lap. A step timed more than once (several events) is summed.
func (l *laps) lap(step string) {
	if l == nil {
		return
	}
	now := time.Now()
	d := now.Sub(l.last)
	l.last = now
	for i := 0; i < len(l.attrs); i += 2 {
		if l.attrs[i] == step {
			l.attrs[i+1] = l.attrs[i+1].(time.Duration) + d
			return
		}
	}
	l.attrs = append(l.attrs, step, d)
}

// logAttrs are the laps and their total, rounded, as slog's key-value
// pairs.
func (l *laps) logAttrs() []any {
	out := make([]any, 0, len(l.attrs)+2)
	for i := 0; i < len(l.attrs); i += 2 {
		out = append(out, l.attrs[i], l.attrs[i+1].(time.Duration).Round(10*time.Microsecond))
	}
	return append(out, "total", time.Since(l.start).Round(10*time.Microsecond))
}
