package jobs

import (
	"fmt"
	"strings"

	v1 "berth.dev/berth/api/v1"
)

// Event is one step of a rollout worth telling operators, as recorded on
// the Job (applyctl describe job, get events).
type Event struct {
	Type    v1.EventType
	Reason  string
	Message string
}

// RolloutEvents returns what happened to a Job's rollout between its
// binding was and next: a rollout started (with its canaries), canaries
// healthy and waiting for promotion, promoted, a host passed over, the
// rollout stopped, reverted or done. It does no I/O.
func RolloutEvents(was, next v1.JobBinding) []Event {
	ro := next.Rollout
	if ro == nil {
		return nil
	}
	old := was.Rollout
	if old != nil && old.Version != ro.Version {
		old = nil // another version's rollout
	}
	var out []Event
	add := func(typ v1.EventType, reason, format string, args ...any) {
		out = append(out, Event{typ, reason, fmt.Sprintf(format, args...)})
	}
	if old == nil {
		from := ro.From
		if from == "" {
			from = "-"
		}
		msg := fmt.Sprintf("version %s rolls out over %d host(s) from version %s", ro.Version,
			len(ro.Pending)+len(ro.Current)+len(ro.Done), from)
		if len(ro.Canaries) > 0 {
			msg += "; canaries: " + strings.Join(ro.Canaries, ", ")
		}
		add(v1.EventNormal, "RolloutStarted", "%s", msg)
	}
	state := func(r *v1.RolloutStatus) v1.RolloutState {
		if r == nil {
			return ""
		}
		return r.State
	}
	if ro.Promoted && (old == nil || !old.Promoted) && len(ro.Canaries) > 0 {
		add(v1.EventNormal, "Promoted", "canaries %s healthy on version %s: the other hosts follow",
			strings.Join(ro.Canaries, ", "), ro.Version)
	}
	if state(old) != ro.State || (old != nil && len(old.Failed) != len(ro.Failed)) {
		switch ro.State {
		case v1.RolloutWaitingForPromotion:
			add(v1.EventNormal, "WaitingForPromotion", "%s", ro.Message)
		case v1.RolloutDone:
			add(v1.EventNormal, "RolloutDone", "%s", ro.Message)
		case v1.RolloutFailed:
			add(v1.EventWarning, "RolloutStopped", "%s", ro.Message)
		case v1.RolloutReverted:
			add(v1.EventWarning, "RolloutReverted", "%s", ro.Message)
		case v1.RolloutRollingOut:
			if old != nil && len(ro.Failed) > len(old.Failed) {
				add(v1.EventWarning, "HostPassedOver", "%s", ro.Message)
			}
		}
	}
	return out
}
