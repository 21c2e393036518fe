package v1

import (
	"time"

	"berth.dev/berth/api/v1/schedule"
)

func defaultTimer(t *Timer) {
	s := &t.Spec
	defaultTemplate(&s.Container)
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = ConcurrencyForbid
	}
	setInt(&s.SuccessfulRunsHistory, DefaultSuccessfulRunsHistory)
	setInt(&s.FailedRunsHistory, DefaultFailedRunsHistory)
	if s.Restart.Policy == "" {
		s.Restart.Policy = RestartNever
	}
	if s.Restart.Policy == RestartOnFailure {
		setInt(&s.Restart.Limit, DefaultRunRestartLimit)
	}
}

func setInt(p **int, v int) {
	if *p == nil {
		*p = &v
	}
}

// Schedule reads the Timer's schedule in its time zone.
func (t *Timer) Schedule() (*schedule.Schedule, error) {
	loc, err := schedule.LoadLocation(t.Spec.TimeZone)
	if err != nil {
		return nil, err
	}
	return schedule.Parse(t.Spec.Schedule, loc)
}

// StartingDeadline is how late a run may start: the spec's, else
// DefaultStartingDeadline, else (persistent) 0 for no limit.
func (t *Timer) StartingDeadline() time.Duration {
	switch {
	case t.Spec.StartingDeadline != nil:
		return t.Spec.StartingDeadline.Duration
	case t.Spec.Persistent:
		return 0
	}
	return DefaultStartingDeadline
}

// validateTimer checks a Timer; a schedule is checked to fire after now.
func validateTimer(e *errs, t *Timer, now time.Time) {
	s := &t.Spec
	if _, err := schedule.LoadLocation(s.TimeZone); err != nil {
		e.add("spec.timeZone", "%v", err)
	}
	switch {
	case s.Schedule == "":
		e.add("spec.schedule", "is required: a systemd calendar expression (\"daily\", \"Mon..Fri *-*-* 02:00\", \"*:0/5\") or cron's five fields (\"*/5 * * * *\")")
	default:
		if sch, err := t.Schedule(); err == nil {
			if err := sch.Fires(now); err != nil {
				e.add("spec.schedule", "%v", err)
			}
		} else if _, zerr := schedule.LoadLocation(s.TimeZone); zerr == nil {
			e.add("spec.schedule", "%v", err)
		}
	}
	for _, d := range []struct {
		field string
		v     *Duration
	}{{"spec.startingDeadline", s.StartingDeadline}, {"spec.activeDeadline", s.ActiveDeadline}} {
		if d.v != nil && d.v.Duration <= 0 {
			e.add(d.field, "must be longer than 0")
		}
	}
	switch s.ConcurrencyPolicy {
	case ConcurrencyForbid, ConcurrencyAllow, ConcurrencyReplace:
	default:
		e.add("spec.concurrencyPolicy", "unsupported value %q: supported: Forbid, Allow, Replace", s.ConcurrencyPolicy)
	}
	for field, n := range map[string]*int{"spec.successfulRunsHistory": s.SuccessfulRunsHistory, "spec.failedRunsHistory": s.FailedRunsHistory} {
		if n != nil && (*n < 0 || *n > MaxRunsHistory) {
			e.add(field, "%d is outside 0..%d", *n, MaxRunsHistory)
		}
	}
	validatePlacement(e, &s.Placement)
	if s.Placement.Replicas != 0 {
		e.add("spec.placement.replicas", "cannot be set on a Timer: each run goes to one host (or, with global, to every matching host)")
	}
	validateTemplate(e, "spec.container", &s.Container)
	switch s.Restart.Policy {
	case RestartNever:
		if s.Restart.Limit != nil {
			e.add("spec.restart.limit", "is only for policy on-failure")
		}
	case RestartOnFailure:
		if s.Restart.Limit != nil && (*s.Restart.Limit < 0 || *s.Restart.Limit > 100) {
			e.add("spec.restart.limit", "%d is outside 0..100", *s.Restart.Limit)
		}
	default:
		e.add("spec.restart.policy", "unsupported value %q: supported: never, on-failure", s.Restart.Policy)
	}
}
