package units

import (
	"fmt"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

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
	// PullFailed says why the last pull of the image failed ("" when it
	// did not); the next is not tried before PullDelay after PullFailedAt.
	PullFailed   string
	PullFailedAt time.Time
	PullDelay    time.Duration
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

// cause is why plan asks for an action. The executor decides by it (the
// event a removal records, whether a start counts as a restart); its
// text, with the action's detail, is what events and messages say.
type cause int

const (
	causeNone            cause = iota
	causeDeleted               // the object was deleted
	causeNotPlaced             // the object runs on other hosts now
	causeTemplateChanged       // the container is of another template
	causeDuplicate             // another container of the template stays
	causeRefused               // this host's policy refuses the template
	causeGoalStop              // the goal is stop
	causeDependency            // a unit it requires went down (detail says which)
	causeRestartAsked          // applyctl restart
	causeUnhealthy             // it fails its health check (detail: the check's output)
	causeNotStarted            // created but never started
	causeAllowedAgain          // stopped by berth, and its dependencies allow it again
	causeExited                // it exited and its restart policy restarts it (exitCode)
)

var causeText = [...]string{
	causeNone:            "",
	causeDeleted:         "unit deleted",
	causeNotPlaced:       "unit no longer placed on this host",
	causeTemplateChanged: "container template changed",
	causeDuplicate:       "duplicate container",
	causeRefused:         "refused by this host's policy",
	causeGoalStop:        "goal is stop",
	causeDependency:      "a unit it requires went down",
	causeRestartAsked:    "restart asked for",
	causeUnhealthy:       "unhealthy",
	causeNotStarted:      "created but not started",
	causeAllowedAgain:    "allowed to run again",
	causeExited:          "exited",
}

func (c cause) String() string { return causeText[c] }

type action struct {
	kind  actionKind
	id    string
	cause cause
	// detail says more of the cause when it comes from outside plan: the
	// dependency's verdict, the health check's output.
	detail string
	// exitCode of the exit that a causeExited start follows.
	exitCode int
}

// crash reports whether the action is a start after a crash, counted
// and backed off.
func (a action) crash() bool { return a.kind == actStart && a.cause == causeExited }

// why is the action's cause as events and messages say it.
func (a action) why() string {
	switch {
	case a.cause == causeExited:
		return fmt.Sprintf("exited with code %d", a.exitCode)
	case a.detail != "":
		return a.detail
	}
	return a.cause.String()
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
	// KeepTemplate: the instance's container is made once and kept
	// whatever the template becomes (a Timer's run: a changed Timer
	// applies to its next runs, never starts one under way again).
	KeepTemplate bool
}

// planOutput is what to do, and what to report once it is done.
type planOutput struct {
	Actions []action
	// State and Message are reported when no action changes them.
	State   v1.InstanceState
	Message string
	// RequeueAfter is when to look again (a restart waiting for its delay).
	RequeueAfter time.Duration
	// BackOff: the container is not started again before its restart
	// delay (RequeueAfter) is over.
	BackOff bool
	// Mem is the memory to keep.
	Mem memory
	// DeleteStatus: the instance is gone from this host.
	DeleteStatus bool
	// Current is the container that stays, when one does.
	Current *runtime.Container
	// Unhealthy: running, but its health check fails.
	Unhealthy bool
	// PullBackOff: the image's last pull failed, and the next waits out
	// its delay (RequeueAfter).
	PullBackOff bool
}

// StopOrderTimeout bounds how long a stop waits for the units that depend
// on the unit to stop first.
const StopOrderTimeout = 2 * time.Minute

// plan decides what to do about one Unit on this host. It does no I/O.
//
// A Unit deleted or placed elsewhere loses its containers and status;
// otherwise the container of its current template is kept (others are
// removed), and what happens to it depends on the goal and the container's
// state: refused by the policy (removed), goal stop (stopped), none yet
// (created), running (checked), created (started), exited (restarted as
// the restart policy says, after its delay).
func plan(in planInput) planOutput {
	p := &planner{in: in, u: in.Unit, out: planOutput{Mem: in.Mem}}
	if p.u == nil || !in.Placed {
		p.gone()
		return p.out
	}
	p.keepCurrent()
	switch {
	case in.Refused != "" && p.u.Spec.Goal != v1.GoalStop:
		p.refused()
	case p.u.Spec.Goal == v1.GoalStop:
		p.stop()
	default:
		p.start()
	}
	return p.out
}

// planner is one plan under way.
type planner struct {
	in  planInput
	u   *v1.Unit
	cur *runtime.Container // the container of the current template, nil when none
	out planOutput
	// restartAsked: a restart was asked for since the last one done.
	restartAsked bool
}

func (p *planner) act(kind actionKind, id string, why cause) {
	p.out.Actions = append(p.out.Actions, action{kind: kind, id: id, cause: why})
}

func (p *planner) show(state v1.InstanceState, msg string) {
	p.out.State, p.out.Message = state, msg
}

// gone removes every container of an object deleted or placed elsewhere.
func (p *planner) gone() {
	why := causeDeleted
	if p.u != nil {
		why = causeNotPlaced
	}
	for _, c := range p.in.Containers {
		p.act(actRemove, c.ID, why)
	}
	p.out.DeleteStatus = true
	p.out.Mem = memory{}
}

// keepCurrent keeps one container of the current template and removes the
// others. A new template gets a new chance, as a changed unit file does.
func (p *planner) keepCurrent() {
	hash := v1.TemplateHash(&p.u.Spec.Container)
	for i := range p.in.Containers {
		c := &p.in.Containers[i]
		switch {
		case c.Labels[v1.LabelSpecHash] != hash && !p.in.KeepTemplate:
			p.act(actRemove, c.ID, causeTemplateChanged)
		case p.cur != nil:
			p.act(actRemove, c.ID, causeDuplicate)
		default:
			p.cur = c
		}
	}
	p.out.Current = p.cur
	mem := &p.out.Mem
	if (mem.Failed != "" && mem.FailedGen != p.u.Metadata.Generation) || mem.Hash != hash {
		mem.Failed, mem.Starts, mem.Delay = "", nil, 0
		if mem.Hash != hash {
			mem.Restarts, mem.Hash = 0, hash // restarts count the current template's container
			mem.PullFailed, mem.PullFailedAt, mem.PullDelay = "", time.Time{}, 0
		}
	}
}

// refused: nothing runs that the host's policy refuses, even a container
// made before the policy changed. Not remembered as a failure: the next
// look decides again.
func (p *planner) refused() {
	if p.cur != nil {
		p.act(actRemove, p.cur.ID, causeRefused)
		p.out.Current = nil
	}
	p.show(v1.StateFailed, p.in.Refused)
}

// stop stops a running container once the units that depend on it have
// stopped, or StopOrderTimeout after it started waiting for them.
func (p *planner) stop() {
	mem := &p.out.Mem
	mem.Starts, mem.Delay, mem.Failed, mem.DepStopped = nil, 0, "", true
	if p.cur != nil && p.cur.State == runtime.StateRunning {
		if len(p.in.DependentsUp) > 0 {
			if mem.StopWait.IsZero() {
				mem.StopWait = p.in.Now
			}
			if p.in.Now.Sub(mem.StopWait) < StopOrderTimeout {
				p.show(v1.StateStopping, fmt.Sprintf("waiting for %s to stop first", strings.Join(p.in.DependentsUp, ", ")))
				p.out.RequeueAfter = time.Second
				return
			}
		}
		p.act(actStop, p.cur.ID, causeGoalStop)
	}
	mem.StopWait = time.Time{}
	p.show(v1.StateStopped, "")
}

// start runs the container: what that takes depends on its state.
func (p *planner) start() {
	mem := &p.out.Mem
	mem.StopWait = time.Time{}
	p.restartAsked = !p.in.RestartAt.IsZero() && p.in.RestartAt.After(mem.Restarted)
	if p.restartAsked && mem.Failed != "" {
		mem.Failed, mem.Starts, mem.Delay = "", nil, 0 // as systemctl restart resets a failed unit
	}
	if p.cur == nil {
		p.absent()
		return
	}
	switch p.cur.State {
	case runtime.StateRunning:
		p.running()
	case runtime.StateCreated:
		p.created()
	case runtime.StateExited, runtime.StateDead:
		p.exited()
	default:
		p.show(v1.StateUnknown, fmt.Sprintf("container is %s", p.cur.State))
		p.out.RequeueAfter = time.Second
	}
}

// absent creates the container, unless the instance failed, waits for
// its dependencies or waits out its restart delay.
func (p *planner) absent() {
	mem := &p.out.Mem
	if p.restartAsked {
		mem.Restarted = p.in.RestartAt
	}
	switch {
	case mem.Failed != "":
		p.show(v1.StateFailed, mem.Failed)
	case p.waitsForDeps():
	case p.backsOff(""):
	case p.pullBacksOff():
	case p.startLimitHit():
	default:
		p.act(actCreate, "", causeNone)
	}
}

// pullBacksOff reports PULLING_IMAGE, with why the last pull failed and
// the time left, while the delay after a failed pull is not over.
func (p *planner) pullBacksOff() bool {
	mem := &p.out.Mem
	if mem.PullFailed == "" {
		return false
	}
	wait := mem.PullFailedAt.Add(mem.PullDelay).Sub(p.in.Now)
	if wait <= 0 {
		return false
	}
	p.show(v1.StatePullingImage, pullBackOffMessage(mem.PullFailed, wait))
	p.out.RequeueAfter, p.out.PullBackOff = wait, true
	return true
}

// pullBackOffMessage says why a pull failed and when the next is.
func pullBackOffMessage(why string, wait time.Duration) string {
	return fmt.Sprintf("%s; pulling again in %s (back-off)", why, roundUp(wait))
}

// notePullFailure remembers a failed pull and doubles the delay before
// the next, from restart.delay up to restart.maxDelay, as restarts are
// delayed; it returns the delay.
func notePullFailure(mem *memory, u *v1.Unit, now time.Time, why string) time.Duration {
	first, most := v1.DefaultRestartDelay, v1.DefaultRestartMaxDelay
	if d := u.Spec.Restart.Delay; d != nil && d.Duration > 0 {
		first = d.Duration
	}
	if d := u.Spec.Restart.MaxDelay; d != nil && d.Duration > 0 {
		most = d.Duration
	}
	switch {
	case mem.PullDelay == 0:
		mem.PullDelay = first
	default:
		mem.PullDelay = min(2*mem.PullDelay, max(most, first))
	}
	mem.PullFailed, mem.PullFailedAt = why, now
	return mem.PullDelay
}

// running checks a running container: its dependencies, a restart asked
// for, its health.
func (p *planner) running() {
	in, mem, cur := p.in, &p.out.Mem, p.cur
	switch {
	case in.Deps.Stop != "":
		mem.DepStopped = true
		p.out.Actions = append(p.out.Actions, action{kind: actDepStop, id: cur.ID, cause: causeDependency, detail: in.Deps.Stop})
		p.show(v1.StateWaiting, in.Deps.Stop)
	case p.restartAsked && in.RestartAt.After(cur.StartedAt):
		mem.Restarted = in.RestartAt
		p.act(actRestart, cur.ID, causeRestartAsked)
	case in.Health.Unhealthy:
		p.out.Unhealthy = true
		p.show(v1.StateRunning, "unhealthy: "+in.Health.Output)
		if p.u.Spec.Restart.Policy != v1.RestartNever {
			mem.KilledSick = true
			p.out.Actions = append(p.out.Actions, action{kind: actKill, id: cur.ID, cause: causeUnhealthy, detail: in.Health.Output})
		}
	case in.Health.Configured && !in.Health.Passed:
		p.show(v1.StateHealthchecking, "")
		if in.Health.Failures > 0 {
			p.out.Message = fmt.Sprintf("health check not passed yet (%d failures): %s", in.Health.Failures, in.Health.Output)
		}
	default:
		p.show(v1.StateRunning, "")
	}
	if p.restartAsked && !in.RestartAt.After(cur.StartedAt) {
		mem.Restarted = in.RestartAt // it started after the restart was asked for
	}
}

// created starts a container created but never started (a crash between
// create and start), once its dependencies allow.
func (p *planner) created() {
	if !p.waitsForDeps() {
		p.act(actStart, p.cur.ID, causeNotStarted)
	}
}

// exited notes the exit of a container, then starts it again as its
// restart policy says: at once when berth stopped it, after its restart
// delay and within its start limit when it crashed.
func (p *planner) exited() {
	mem, cur := &p.out.Mem, p.cur
	if mem.DepStopped || p.restartAsked {
		// Stopped by berth, not by a crash: start it again once its
		// dependencies allow, without back-off.
		if p.waitsForDeps() {
			return
		}
		why := causeAllowedAgain
		if p.restartAsked {
			why, mem.Restarted = causeRestartAsked, p.in.RestartAt
		}
		mem.DepStopped = false
		p.act(actStart, cur.ID, why)
		return
	}
	p.noteExit()
	code := cur.ExitCode
	if !p.restarts() {
		p.show(v1.StateExited, fmt.Sprintf("exited with code %d; restart policy %s", code, p.u.Spec.Restart.Policy))
		return
	}
	if mem.Failed != "" {
		p.show(v1.StateFailed, mem.Failed)
		return
	}
	if mem.Delay == 0 {
		mem.Delay = p.u.Spec.Restart.Delay.Duration
	}
	switch {
	case p.waitsForDeps():
	case p.backsOff(fmt.Sprintf("exited with code %d; ", code)):
	case p.startLimitHit():
	default:
		p.out.Actions = append(p.out.Actions, action{kind: actStart, id: cur.ID, cause: causeExited, exitCode: code})
	}
}

// noteExit remembers an exit the first time it is seen.
func (p *planner) noteExit() {
	mem, cur := &p.out.Mem, p.cur
	if cur.FinishedAt.IsZero() || cur.FinishedAt.Equal(mem.SeenExit) {
		return
	}
	code := cur.ExitCode
	mem.SeenExit = cur.FinishedAt
	mem.LastExitCode, mem.LastExitTime = &code, cur.FinishedAt
	if !cur.StartedAt.IsZero() && cur.FinishedAt.Sub(cur.StartedAt) >= ResetBackoffAfter {
		mem.Delay = 0
	}
	p.act(actNoteExit, cur.ID, causeNone)
}

// restarts reports whether the restart policy starts the exited container
// again.
func (p *planner) restarts() bool {
	switch p.u.Spec.Restart.Policy {
	case v1.RestartAlways:
		return true
	case v1.RestartOnFailure:
		// Failing the health check is a failure, whatever the exit code.
		return p.cur.ExitCode != 0 || p.cur.OOMKilled || p.out.Mem.KilledSick
	}
	return false
}

// waitsForDeps reports WAITING when the dependencies do not allow a start.
func (p *planner) waitsForDeps() bool {
	if p.in.Deps.Wait == "" {
		return false
	}
	p.show(v1.StateWaiting, p.in.Deps.Wait)
	return true
}

// backsOff reports EXITED, with the time left after what the message
// starts with, while the restart delay after the last exit is not over.
func (p *planner) backsOff(msg string) bool {
	wait := nextStart(&p.out.Mem, p.in.Now)
	if wait <= 0 {
		return false
	}
	p.show(v1.StateExited, fmt.Sprintf("%srestarting in %s (back-off)", msg, roundUp(wait)))
	p.out.RequeueAfter, p.out.BackOff = wait, true
	return true
}

// startLimitHit fails the instance when another start now would break its
// start limit.
func (p *planner) startLimitHit() bool {
	reason := startLimitHit(&p.out.Mem, p.in.Now, p.u)
	if reason == "" {
		return false
	}
	mem := &p.out.Mem
	mem.Failed, mem.FailedGen = reason, p.u.Metadata.Generation
	p.show(v1.StateFailed, reason)
	return true
}
