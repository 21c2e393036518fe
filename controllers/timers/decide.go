package timers

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/api/v1/schedule"
)

// HostInfo is what Decide needs to know of a host.
type HostInfo struct {
	Name   string
	Labels map[string]string
	Up     bool
}

// Input is what Decide decides from: the Timer (defaulted) and its
// schedule, the leader's record of it, the run bindings that exist, what
// hosts report of each run, the hosts, and the time.
type Input struct {
	Timer    *v1.Timer
	Schedule *schedule.Schedule
	// Status is the stored record; zero for a Timer never decided.
	Status v1.TimerStatus
	// Bindings are the run bindings that exist, by run.
	Bindings map[int64]v1.TimerRunBinding
	// Reports are the hosts' statuses of each run, by run and host.
	Reports map[int64]map[string]v1.InstanceStatus
	Hosts   []HostInfo
	Now     time.Time
}

// Event is an event Decide asks to record about the Timer.
type Event struct {
	Type    v1.EventType
	Reason  string
	Message string
}

// Output is what Decide wants written: the new record, the run bindings to
// create or change (Stop), those to delete, and when to decide again.
type Output struct {
	Status v1.TimerStatus
	Create []v1.TimerRunBinding
	Update []v1.TimerRunBinding
	Delete []int64
	Events []Event
	// Finished are the runs that ended in this decision, for metrics.
	Finished []v1.TimerRun
	// RequeueAfter is when something is next due (a tick, a deadline); 0
	// when nothing is.
	RequeueAfter time.Duration
}

// Decide is one decision of the leader about one Timer. It does no I/O and
// does not change its arguments. The rules, in order:
//
//   - Active runs take what their hosts report: a run ends when every host
//     of it has (EXITED, or FAILED when restarts are exhausted or the host
//     refused it, or STOPPED once asked to stop). It succeeds when every
//     host's container exited 0. A run on a host that is Down is failed
//     with HostLost and never run again. A run longer than activeDeadline
//     is asked to stop (its binding's Stop) and fails DeadlineExceeded.
//   - A request to run by hand (the berth.dev/run-requested-at annotation,
//     a value not served yet) starts a run now.
//   - The schedule's latest elapse after LastScheduleTime (the Timer's
//     creation for a new one), plus its randomized delay, that is due by
//     now is the tick decided: older missed ticks merge into it, as
//     systemd's Persistent= runs a missed timer once. A tick later than the
//     starting deadline (Timer.StartingDeadline: the spec's; else 1m, or
//     none for a persistent Timer) is skipped with MissedSchedule. A
//     suspended Timer decides nothing: its ticks wait for it.
//   - A tick due while runs are active: Forbid skips it (AlreadyActive),
//     Allow runs it beside them, Replace asks them to stop (Replaced) and
//     runs it.
//   - A run goes to every Up host that matches the placement (global), or
//     to one of them, spread by the run's number; with none it fails
//     NoHost.
//   - Finished runs beyond successfulRunsHistory and failedRunsHistory are
//     forgotten and their bindings deleted (their hosts remove their
//     containers).
//
// The record and the bindings it creates are written in one transaction
// that expects the record as read, so a run is decided once whichever
// controller leads.
func Decide(in Input) Output {
	d := &decider{in: in, out: Output{Status: copyStatus(in.Status)}}
	t := in.Timer
	d.out.Status.ObservedGeneration = t.Metadata.Generation
	d.observe()
	d.manual()
	d.scheduled()
	d.prune()
	d.next()
	return d.out
}

type decider struct {
	in  Input
	out Output
	due []time.Time // times something is next due
}

func copyStatus(s v1.TimerStatus) v1.TimerStatus {
	c := s
	c.Conditions = slices.Clone(s.Conditions)
	c.Runs = make([]v1.TimerRun, len(s.Runs))
	for i, r := range s.Runs {
		r.Hosts = slices.Clone(r.Hosts)
		r.Instances = slices.Clone(r.Instances)
		c.Runs[i] = r
	}
	return c
}

func (d *decider) event(typ v1.EventType, reason, format string, args ...any) {
	d.out.Events = append(d.out.Events, Event{Type: typ, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (d *decider) up(host string) bool {
	for _, h := range d.in.Hosts {
		if h.Name == host {
			return h.Up
		}
	}
	return false
}

// observe folds the hosts' reports into the active runs.
func (d *decider) observe() {
	now := d.in.Now
	t := d.in.Timer
	for i := range d.out.Status.Runs {
		r := &d.out.Status.Runs[i]
		if r.Result != v1.RunActive {
			continue
		}
		reports := d.in.Reports[r.Run]
		r.Instances = r.Instances[:0]
		done, failed, lost := 0, "", ""
		var last time.Time
		for _, h := range r.Hosts {
			st, ok := reports[h]
			inst := v1.RunInstance{Host: h, State: v1.StateUnknown}
			if ok {
				inst.State, inst.ExitCode, inst.Restarts, inst.Message = st.State, st.LastExitCode, st.Restarts, st.Message
				inst.Finished = st.LastExitTime
			}
			switch fin, ok2 := finished(st, ok, r.Stop, t); {
			case fin:
				done++
				if !ok2 && failed == "" {
					failed = h
				}
				last = later(last, cmp.Or(inst.Finished, now))
			case !d.up(h):
				done++
				lost = h
				inst.Message = "host " + h + " is down: the run is lost with it"
				last = later(last, now)
			}
			r.Instances = append(r.Instances, inst)
		}
		if done < len(r.Hosts) {
			if dl := t.Spec.ActiveDeadline; dl != nil && !r.Stop {
				end := r.StartTime.Add(dl.Duration)
				if !now.Before(end) {
					r.Stop, r.StopReason = true, v1.ReasonDeadlineExceeded
					d.stop(r)
					d.event(v1.EventWarning, v1.ReasonDeadlineExceeded, "run %d ran longer than activeDeadline %s: stopping it", r.Run, dl.Duration)
				} else {
					d.due = append(d.due, end)
				}
			}
			continue
		}
		r.CompletionTime = last
		switch {
		case lost != "":
			r.Result, r.Reason, r.Message = v1.RunFailed, v1.ReasonHostLost, "host "+lost+" went down during the run"
		case r.Stop:
			r.Result, r.Reason, r.Message = v1.RunFailed, r.StopReason, "stopped: "+r.StopReason
		case failed != "":
			r.Result, r.Reason, r.Message = v1.RunFailed, v1.ReasonExitCode, failure(r.Instances, failed)
		default:
			r.Result, r.Reason, r.Message = v1.RunSucceeded, "", ""
			d.out.Status.LastSuccessfulTime = later(d.out.Status.LastSuccessfulTime, last)
		}
		if r.Result == v1.RunSucceeded {
			d.event(v1.EventNormal, v1.ReasonRunSucceeded, "run %d succeeded on %s", r.Run, joinHosts(r.Hosts))
		} else {
			d.event(v1.EventWarning, v1.ReasonRunFailed, "run %d failed: %s", r.Run, r.Message)
		}
		d.out.Finished = append(d.out.Finished, *r)
		d.finish(r)
	}
}

// finish tells the hosts of a run that ended that it is over: nothing
// starts it again, and its exited containers stay, with their logs, until
// the run is forgotten.
func (d *decider) finish(r *v1.TimerRun) {
	b, ok := d.in.Bindings[r.Run]
	if !ok || b.Stop {
		return
	}
	b.Hosts = slices.Clone(b.Hosts)
	b.Stop, b.Reason = true, v1.ReasonRunFinished
	d.out.Update = append(d.out.Update, b)
}

// finished says whether a host's report ends its part of a run, and
// whether it succeeded there.
func finished(st v1.InstanceStatus, reported, stopping bool, t *v1.Timer) (done, ok bool) {
	if !reported {
		return false, false
	}
	switch st.State {
	case v1.StateExited:
		if st.LastExitCode == nil && !stopping {
			return false, false // seen exiting as it started: its code comes with the next report
		}
		exit0 := st.LastExitCode != nil && *st.LastExitCode == 0
		if exit0 || stopping || t.Spec.Restart.Policy != v1.RestartOnFailure {
			return true, exit0 && !stopping
		}
		return false, false // on-failure: it starts again
	case v1.StateFailed:
		return true, false
	case v1.StateStopped:
		return stopping, false
	}
	return false, false
}

func failure(insts []v1.RunInstance, host string) string {
	for _, in := range insts {
		if in.Host != host {
			continue
		}
		if in.ExitCode != nil {
			return fmt.Sprintf("exit code %d on %s", *in.ExitCode, host)
		}
		if in.Message != "" {
			return fmt.Sprintf("%s on %s: %s", in.State, host, in.Message)
		}
		return fmt.Sprintf("%s on %s", in.State, host)
	}
	return "failed on " + host
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func joinHosts(h []string) string {
	if len(h) == 0 {
		return "no host"
	}
	s := h[0]
	for _, x := range h[1:] {
		s += ", " + x
	}
	return s
}

// stop asks the hosts of r to stop it.
func (d *decider) stop(r *v1.TimerRun) {
	b, ok := d.in.Bindings[r.Run]
	if !ok {
		return
	}
	b.Hosts = slices.Clone(b.Hosts)
	b.Stop, b.Reason = true, r.StopReason
	d.out.Update = append(d.out.Update, b)
}

func (d *decider) active() []*v1.TimerRun {
	var out []*v1.TimerRun
	for i := range d.out.Status.Runs {
		if d.out.Status.Runs[i].Result == v1.RunActive {
			out = append(out, &d.out.Status.Runs[i])
		}
	}
	return out
}

// manual starts a run asked for by hand.
func (d *decider) manual() {
	req := d.in.Timer.Metadata.Annotations[v1.AnnotationRunRequestedAt]
	if req == "" || req == d.out.Status.LastManualRun {
		return
	}
	d.out.Status.LastManualRun = req
	if act := d.active(); len(act) > 0 && d.in.Timer.Spec.ConcurrencyPolicy != v1.ConcurrencyAllow {
		// As systemctl start of a service that runs: nothing more.
		d.event(v1.EventNormal, v1.ReasonConcurrentSkipped, "the run asked for by hand is not started: run %d is still active", act[0].Run)
		return
	}
	d.start(time.Time{}, true)
}

// scheduled decides the tick that is due, if any.
func (d *decider) scheduled() {
	t, now := d.in.Timer, d.in.Now
	st := &d.out.Status
	if t.Spec.Suspend || d.in.Schedule == nil {
		return
	}
	from := st.LastScheduleTime
	if from.IsZero() {
		from = t.Metadata.CreationTimestamp
		if from.IsZero() || from.After(now) {
			from = now
		}
		st.LastScheduleTime = from
	}
	tick, ok := d.dueTick(from, now)
	if !ok {
		return
	}
	st.LastScheduleTime = tick
	at := tick.Add(delay(t, tick))
	if dl := t.StartingDeadline(); dl > 0 && now.Sub(at) > dl {
		d.event(v1.EventWarning, v1.ReasonMissedSchedule, "the run of %s was not started by its starting deadline (%s): skipped", fmtTime(tick), dl)
		return
	}
	if act := d.active(); len(act) > 0 {
		switch t.Spec.ConcurrencyPolicy {
		case v1.ConcurrencyForbid:
			d.event(v1.EventNormal, v1.ReasonConcurrentSkipped, "the run of %s is skipped: run %d is still active (concurrencyPolicy Forbid)", fmtTime(tick), act[0].Run)
			return
		case v1.ConcurrencyReplace:
			for _, r := range act {
				if !r.Stop {
					r.Stop, r.StopReason = true, v1.ReasonReplaced
					d.stop(r)
				}
			}
		}
	}
	d.start(tick, false)
}

// dueTick is the latest elapse in (from, now] whose randomized delay has
// passed.
func (d *decider) dueTick(from, now time.Time) (time.Time, bool) {
	t, s := d.in.Timer, d.in.Schedule
	until := now
	for range 3 {
		tick, ok := s.Latest(from, until)
		if !ok {
			return time.Time{}, false
		}
		if !tick.Add(delay(t, tick)).After(now) {
			return tick, true
		}
		until = tick.Add(-time.Microsecond) // its delay has not passed: the one before may have
	}
	return time.Time{}, false
}

// delay is the randomized delay of a tick: the same on every controller.
func delay(t *v1.Timer, tick time.Time) time.Duration {
	rd := t.Spec.RandomizedDelay
	if rd == nil || rd.Duration <= 0 {
		return 0
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", t.Metadata.Name, t.Metadata.UID, tick.UnixMicro())
	return time.Duration(h.Sum64() % uint64(rd.Duration))
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// start decides a new run.
func (d *decider) start(tick time.Time, manual bool) {
	t := d.in.Timer
	st := &d.out.Status
	st.LastRun++
	n := st.LastRun
	run := v1.TimerRun{Run: n, Tick: tick, Manual: manual, StartTime: d.in.Now, Result: v1.RunActive}
	run.Hosts = d.place(n)
	if len(run.Hosts) == 0 {
		run.Result, run.Reason, run.CompletionTime = v1.RunFailed, v1.ReasonNoHost, d.in.Now
		run.Message = "no Up host matches the placement"
		st.Runs = append(st.Runs, run)
		d.event(v1.EventWarning, v1.ReasonNoHost, "run %d: no Up host matches the placement", n)
		d.out.Finished = append(d.out.Finished, run)
		return
	}
	st.Runs = append(st.Runs, run)
	d.out.Create = append(d.out.Create, v1.TimerRunBinding{Timer: t.Metadata.Name, Run: n, Tick: tick, Created: d.in.Now, Hosts: slices.Clone(run.Hosts)})
	what := "of " + fmtTime(tick)
	if manual {
		what = "asked for by hand"
	}
	d.event(v1.EventNormal, v1.ReasonRunStarted, "run %d %s on %s", n, what, joinHosts(run.Hosts))
}

// place chooses the hosts of run n.
func (d *decider) place(n int64) []string {
	p := &d.in.Timer.Spec.Placement
	var cands []string
	for _, h := range d.in.Hosts {
		if h.Up && p.Candidate(h.Name, h.Labels) {
			cands = append(cands, h.Name)
		}
	}
	slices.Sort(cands)
	if p.Global || len(cands) == 0 {
		return cands
	}
	// Spread runs over the candidates: rendezvous hashing on the run.
	best, bestScore := "", uint64(0)
	for _, c := range cands {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%d/%s", d.in.Timer.Metadata.Name, n, c)
		if s := h.Sum64(); best == "" || s > bestScore {
			best, bestScore = c, s
		}
	}
	return []string{best}
}

// prune forgets finished runs beyond the histories, and deletes bindings
// of runs the record does not hold.
func (d *decider) prune() {
	st := &d.out.Status
	keepOK, keepFailed := *d.in.Timer.Spec.SuccessfulRunsHistory, *d.in.Timer.Spec.FailedRunsHistory
	var kept []v1.TimerRun
	for i := len(st.Runs) - 1; i >= 0; i-- {
		r := st.Runs[i]
		switch r.Result {
		case v1.RunSucceeded:
			if keepOK == 0 {
				continue
			}
			keepOK--
		case v1.RunFailed:
			if keepFailed == 0 {
				continue
			}
			keepFailed--
		}
		kept = append(kept, r)
	}
	slices.Reverse(kept)
	st.Runs = kept
	held := map[int64]bool{}
	for _, r := range kept {
		held[r.Run] = true
	}
	for _, b := range d.out.Create {
		held[b.Run] = true
	}
	for n := range d.in.Bindings {
		if !held[n] {
			d.out.Delete = append(d.out.Delete, n)
		}
	}
	slices.Sort(d.out.Delete)
}

// next sets NextScheduleTime and when to decide again.
func (d *decider) next() {
	t, now, st := d.in.Timer, d.in.Now, &d.out.Status
	st.NextScheduleTime = time.Time{}
	if d.in.Schedule != nil && !t.Spec.Suspend {
		if n, ok := d.in.Schedule.Next(later(st.LastScheduleTime, now)); ok {
			st.NextScheduleTime = n.Add(delay(t, n))
			d.due = append(d.due, st.NextScheduleTime)
		}
	}
	for _, at := range d.due {
		wait := at.Sub(now)
		if wait <= 0 {
			wait = time.Millisecond
		}
		if d.out.RequeueAfter == 0 || wait < d.out.RequeueAfter {
			d.out.RequeueAfter = wait
		}
	}
}
