package units

import (
	"fmt"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// ResetBackoffAfter is how long a container must run before its restart
// delay starts again from restart.delay.
const ResetBackoffAfter = time.Minute

// memory is what the controller remembers of an instance between
// reconciles: what the engine cannot tell it.
type memory struct {
	Restarts     int
	Starts       []time.Time // start attempts, for the start limit
	Delay        time.Duration
	SeenExit     time.Time // FinishedAt of the last exit counted
	LastExitCode *int
	LastExitTime time.Time
	Failed       string    // why the instance is FAILED, "" when it is not
	FailedGen    int64     // the generation it failed at
	Hash         string    // the template the counts above are about
	DepStopped   bool      // berth stopped the container (goal stop, or a unit it requires went down): not a crash
	StopWait     time.Time // since when a stop has waited for the units that depend on this one
	Restarted    time.Time // the last restart asked for (berth.dev/restarted-at) that was done
	KilledSick   bool      // berth stopped the container for failing its health check
}

// actionKind is what plan asks the executor to do.
type actionKind int

const (
	actRemove   actionKind = iota // stop and remove a container
	actStop                       // stop a container, keeping it
	actCreate                     // pull if needed, create and start a new container
	actStart                      // start the existing (exited or created) container
	actNoteExit                   // record an exit seen for the first time
	actKill                       // stop a container so that its restart policy takes over (unhealthy)
	actRestart                    // stop and start a container (applyctl restart)
	actDepStop                    // stop a container because a unit it requires went down
)

type action struct {
	kind   actionKind
	id     string
	reason string
	// restart: a start after a crash, counted and backed off.
	restart bool
}

// planInput is everything plan decides from.
type planInput struct {
	Unit       *v1.Unit // nil: deleted
	Placed     bool     // the Unit runs on this host
	Containers []runtime.Container
	Mem        memory
	Now        time.Time
	// Deps is what the Unit's dependencies allow.
	Deps depVerdict
	// DependentsUp are units that depend on this one, are going down with
	// it, and still run: a stop waits for them (stop order is the reverse of
	// start order).
	DependentsUp []string
	// Health is what the current container's health check has seen.
	Health health
	// RestartAt is when a restart was asked for (zero: never).
	RestartAt time.Time
	// Refused says why this host's policy refuses the template ("": it
	// does not).
	Refused string
}

// planOutput is what to do, and what to report once it is done.
type planOutput struct {
	Actions []action
	// State and Message are reported when no action changes them.
	State   v1.InstanceState
	Message string
	// RequeueAfter is when to look again (a restart waiting for its delay).
	RequeueAfter time.Duration
	// Mem is the memory to keep.
	Mem memory
	// DeleteStatus: the instance is gone from this host.
	DeleteStatus bool
	// Current is the container that stays, when one does.
	Current *runtime.Container
	// Unhealthy: running, but its health check fails.
	Unhealthy bool
}

// StopOrderTimeout bounds how long a stop waits for the units that depend
// on the unit to stop first.
const StopOrderTimeout = 2 * time.Minute

// plan decides what to do about one Unit on this host. It does no I/O.
func plan(in planInput) planOutput {
	out := planOutput{Mem: in.Mem}
	u := in.Unit
	if u == nil || !in.Placed {
		for _, c := range in.Containers {
			reason := "unit deleted"
			if u != nil {
				reason = "unit no longer placed on this host"
			}
			out.Actions = append(out.Actions, action{kind: actRemove, id: c.ID, reason: reason})
		}
		out.DeleteStatus = true
		out.Mem = memory{}
		return out
	}
	hash := v1.TemplateHash(&u.Spec.Container)
	var cur *runtime.Container
	for i := range in.Containers {
		c := &in.Containers[i]
		switch {
		case c.Labels[v1.LabelSpecHash] != hash:
			out.Actions = append(out.Actions, action{kind: actRemove, id: c.ID, reason: "container template changed"})
		case cur != nil:
			out.Actions = append(out.Actions, action{kind: actRemove, id: c.ID, reason: "duplicate container"})
		default:
			cur = c
		}
	}
	if cur != nil && cur.Labels[v1.LabelSpecHash] == hash {
		out.Current = cur
	}
	mem := &out.Mem
	if (mem.Failed != "" && mem.FailedGen != u.Metadata.Generation) || mem.Hash != hash {
		// A new spec gets a new chance, as a changed unit file does.
		mem.Failed, mem.Starts, mem.Delay = "", nil, 0
		if mem.Hash != hash {
			mem.Restarts, mem.Hash = 0, hash // restarts count the current template's container
		}
	}

	if in.Refused != "" && u.Spec.Goal != v1.GoalStop {
		// Nothing runs that the host's policy refuses, even a container
		// made before the policy changed. Not remembered as a failure: the
		// next look decides again.
		if cur != nil {
			out.Actions = append(out.Actions, action{kind: actRemove, id: cur.ID, reason: "refused by this host's policy"})
			out.Current = nil
		}
		out.State, out.Message = v1.StateFailed, in.Refused
		return out
	}

	if u.Spec.Goal == v1.GoalStop {
		mem.Starts, mem.Delay, mem.Failed, mem.DepStopped = nil, 0, "", true
		if cur != nil && cur.State == runtime.StateRunning {
			if len(in.DependentsUp) > 0 {
				if mem.StopWait.IsZero() {
					mem.StopWait = in.Now
				}
				if in.Now.Sub(mem.StopWait) < StopOrderTimeout {
					out.State = v1.StateStopping
					out.Message = fmt.Sprintf("waiting for %s to stop first", strings.Join(in.DependentsUp, ", "))
					out.RequeueAfter = time.Second
					return out
				}
			}
			out.Actions = append(out.Actions, action{kind: actStop, id: cur.ID, reason: "goal is stop"})
		}
		mem.StopWait = time.Time{}
		out.State = v1.StateStopped
		return out
	}
	mem.StopWait = time.Time{}
	restartAsked := !in.RestartAt.IsZero() && in.RestartAt.After(mem.Restarted)
	if restartAsked && mem.Failed != "" {
		mem.Failed, mem.Starts, mem.Delay = "", nil, 0 // as systemctl restart resets a failed unit
	}

	if cur == nil {
		if restartAsked {
			mem.Restarted = in.RestartAt
		}
		if mem.Failed != "" {
			out.State, out.Message = v1.StateFailed, mem.Failed
			return out
		}
		if in.Deps.Wait != "" {
			out.State, out.Message = v1.StateWaiting, in.Deps.Wait
			return out
		}
		if wait := nextStart(mem, in.Now, u); wait > 0 {
			out.State = v1.StateExited
			out.Message = fmt.Sprintf("restarting in %s (back-off)", roundUp(wait))
			out.RequeueAfter = wait
			return out
		}
		if reason := startLimitHit(mem, in.Now, u); reason != "" {
			mem.Failed, mem.FailedGen = reason, u.Metadata.Generation
			out.State, out.Message = v1.StateFailed, reason
			return out
		}
		out.Actions = append(out.Actions, action{kind: actCreate})
		return out
	}

	switch cur.State {
	case runtime.StateRunning:
		switch {
		case in.Deps.Stop != "":
			mem.DepStopped = true
			out.Actions = append(out.Actions, action{kind: actDepStop, id: cur.ID, reason: in.Deps.Stop})
			out.State, out.Message = v1.StateWaiting, in.Deps.Stop
		case restartAsked && in.RestartAt.After(cur.StartedAt):
			mem.Restarted = in.RestartAt
			out.Actions = append(out.Actions, action{kind: actRestart, id: cur.ID, reason: "restart asked for"})
		case in.Health.Unhealthy:
			out.Unhealthy = true
			out.State, out.Message = v1.StateRunning, "unhealthy: "+in.Health.Output
			if u.Spec.Restart.Policy != v1.RestartNever {
				mem.KilledSick = true
				out.Actions = append(out.Actions, action{kind: actKill, id: cur.ID, reason: in.Health.Output})
			}
		case in.Health.Configured && !in.Health.Passed:
			out.State = v1.StateHealthchecking
			if in.Health.Failures > 0 {
				out.Message = fmt.Sprintf("health check not passed yet (%d failures): %s", in.Health.Failures, in.Health.Output)
			}
		default:
			out.State = v1.StateRunning
		}
		if restartAsked && !in.RestartAt.After(cur.StartedAt) {
			mem.Restarted = in.RestartAt // it started after the restart was asked for
		}
		return out
	case runtime.StateCreated:
		// Created but never started (a crash between create and start).
		if in.Deps.Wait != "" {
			out.State, out.Message = v1.StateWaiting, in.Deps.Wait
			return out
		}
		out.Actions = append(out.Actions, action{kind: actStart, id: cur.ID, reason: "created but not started"})
		return out
	case runtime.StateExited, runtime.StateDead:
	default:
		out.State, out.Message = v1.StateUnknown, fmt.Sprintf("container is %s", cur.State)
		out.RequeueAfter = time.Second
		return out
	}

	// The container exited.
	if mem.DepStopped || restartAsked {
		// Stopped by berth, not by a crash: start it again once its
		// dependencies allow, without back-off.
		if in.Deps.Wait != "" {
			out.State, out.Message = v1.StateWaiting, in.Deps.Wait
			return out
		}
		reason := "allowed to run again"
		if restartAsked {
			reason = "restart asked for"
			mem.Restarted = in.RestartAt
		}
		mem.DepStopped = false
		out.Actions = append(out.Actions, action{kind: actStart, id: cur.ID, reason: reason})
		return out
	}
	if !cur.FinishedAt.IsZero() && !cur.FinishedAt.Equal(mem.SeenExit) {
		code := cur.ExitCode
		mem.SeenExit = cur.FinishedAt
		mem.LastExitCode, mem.LastExitTime = &code, cur.FinishedAt
		if !cur.StartedAt.IsZero() && cur.FinishedAt.Sub(cur.StartedAt) >= ResetBackoffAfter {
			mem.Delay = 0
		}
		out.Actions = append(out.Actions, action{kind: actNoteExit, id: cur.ID})
	}
	code := cur.ExitCode
	restart := false
	switch u.Spec.Restart.Policy {
	case v1.RestartAlways:
		restart = true
	case v1.RestartOnFailure:
		// Failing the health check is a failure, whatever the exit code.
		restart = code != 0 || cur.OOMKilled || mem.KilledSick
	}
	if !restart {
		out.State = v1.StateExited
		out.Message = fmt.Sprintf("exited with code %d; restart policy %s", code, u.Spec.Restart.Policy)
		return out
	}
	if mem.Failed != "" {
		out.State, out.Message = v1.StateFailed, mem.Failed
		return out
	}
	if mem.Delay == 0 {
		mem.Delay = u.Spec.Restart.Delay.Duration
	}
	if in.Deps.Wait != "" {
		out.State, out.Message = v1.StateWaiting, in.Deps.Wait
		return out
	}
	if wait := nextStart(mem, in.Now, u); wait > 0 {
		out.State = v1.StateExited
		out.Message = fmt.Sprintf("exited with code %d; restarting in %s (back-off)", code, roundUp(wait))
		out.RequeueAfter = wait
		return out
	}
	if reason := startLimitHit(mem, in.Now, u); reason != "" {
		mem.Failed, mem.FailedGen = reason, u.Metadata.Generation
		out.State, out.Message = v1.StateFailed, reason
		return out
	}
	out.Actions = append(out.Actions, action{kind: actStart, id: cur.ID, reason: fmt.Sprintf("exited with code %d", code), restart: true})
	return out
}

// nextStart returns how long until the next start is allowed: the delay
// after the last exit.
func nextStart(mem *memory, now time.Time, u *v1.Unit) time.Duration {
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
