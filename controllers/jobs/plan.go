package jobs

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// HostInfo is what the plan knows of a host.
type HostInfo struct {
	Name   string
	Labels map[string]string
	Up     bool
}

// planInput is everything a Job's binding is decided from.
type planInput struct {
	Job      *v1.Job
	Hosts    []HostInfo
	Current  v1.JobBinding
	Statuses map[string]v1.InstanceStatus // by host
	// Versions holds the FullTemplateHash of every version of the Job an
	// operator stored a template of (its version records, and its
	// current version), by version: the versions a host can run.
	Versions map[string]string
	Now      time.Time
}

// runnable reports whether a template of version ver is stored.
func (in planInput) runnable(ver string) bool {
	_, ok := in.Versions[ver]
	return ok || ver == in.Job.Spec.Version
}

// stay is the version a host that is not moved to the current version
// keeps: the one the binding gives it, unless no template of that one is
// stored (any more): then the current version.
func (in planInput) stay(host string) string {
	if ver, ok := in.Current.Hosts[host]; ok && in.runnable(ver) {
		return ver
	}
	return in.Job.Spec.Version
}

// targets returns the hosts the Job should run on now.
func targets(in planInput) []string { return Targets(in.Job, in.Hosts, in.Now) }

// Targets returns the hosts a Job runs on at now, sorted: those its
// deployments name, Up or not, and every Up host whose labels its
// hostSelector matches; none once it expired. It does no I/O.
func Targets(j *v1.Job, hosts []HostInfo, now time.Time) []string {
	if j.Spec.Expired(now) {
		return nil
	}
	set := map[string]bool{}
	for _, d := range j.Spec.Deployments {
		set[d.Host] = true
	}
	for _, h := range hosts {
		if h.Up && j.Spec.Allows(h.Name, h.Labels) {
			set[h.Name] = true
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// plan computes the Job's next binding and when to look again (0: when
// something changes).
func plan(in planInput) (v1.JobBinding, time.Duration) {
	j := in.Job
	v := j.Spec.Version
	cur := in.Current
	next := v1.JobBinding{Hosts: map[string]string{}, Hashes: map[string]string{}}
	var requeue time.Duration
	if j.Spec.Expires != nil && in.Now.Before(*j.Spec.Expires) {
		requeue = j.Spec.Expires.Sub(in.Now)
	}
	want := targets(in)
	ro := copyRollout(cur.Rollout)
	if ro != nil && ro.Version == v && ro.State == v1.RolloutReverted && in.runnable(ro.RevertedTo) {
		// The version failed and every host went back: they stay there,
		// new hosts included, until another version is applied.
		for _, h := range want {
			next.Hosts[h] = ro.RevertedTo
		}
		return finish(in, next, prune(ro, want), want), requeue
	}
	going := ro != nil && ro.Version == v && (ro.State == v1.RolloutRollingOut || ro.State == v1.RolloutWaitingForPromotion)
	// joins is the version a host new to the binding starts with: the
	// current one, or, while the current one's rollout is under way or
	// stopped, the one it replaces, and the host waits its turn.
	joins := v
	if ro != nil && ro.Version == v && (going || ro.State == v1.RolloutFailed) && ro.From != "" && in.runnable(ro.From) {
		joins = ro.From
	}
	var old []string
	for _, h := range want {
		have, ok := cur.Hosts[h]
		switch {
		case !ok && joins != v && !slices.Contains(ro.Done, h) && !slices.Contains(ro.Current, h):
			// New, or back after it left the targets (a selected host
			// Down for a while): it moves with the rollout.
			next.Hosts[h] = joins
			old = append(old, h)
			if going && !slices.Contains(ro.Pending, h) {
				ro.Pending = append(ro.Pending, h)
			}
		case !ok || have == v || !in.runnable(have):
			// A new host gets the current version at once, and so does
			// one whose version has no stored template (any more).
			next.Hosts[h] = v
		default:
			next.Hosts[h] = have
			old = append(old, h)
		}
	}
	if len(old) > 0 || going {
		if ro == nil || ro.Version != v {
			ro = start(in, want, old)
		}
		requeue = minPositive(requeue, step(in, ro, next))
	}
	return finish(in, next, prune(ro, want), want), requeue
}

// start begins the rollout of the current version over the hosts of want
// that run another one (old): its canaries, if any, move at once.
func start(in planInput, want, old []string) *v1.RolloutStatus {
	v := in.Job.Spec.Version
	ro := &v1.RolloutStatus{Version: v, From: in.Current.Hosts[first(old)], State: v1.RolloutRollingOut,
		Pending: slices.Clone(old), StartedAt: in.Now}
	for _, h := range want {
		if in.Current.Hosts[h] == v {
			ro.Done = append(ro.Done, h)
		}
	}
	if n := min(in.Job.Spec.Rollout.Canary, len(old)); n > 0 {
		ro.Canaries = slices.Clone(old[:n])
		ro.Current, ro.Pending = slices.Clone(ro.Canaries), ro.Pending[n:]
		ro.StepStartedAt = in.Now
	}
	return ro
}

// finish completes next: the rollout, the hashes of the versions it
// names, and the version that runs healthy everywhere.
func finish(in planInput, next v1.JobBinding, ro *v1.RolloutStatus, want []string) v1.JobBinding {
	next.Rollout = ro
	for _, ver := range next.Hosts {
		if hash, ok := in.Versions[ver]; ok {
			next.Hashes[ver] = hash
		}
	}
	next.Stable = stable(in, next, want)
	return next
}

// stable is the version every host of want runs RUNNING and Ready as
// next places it, or, when they do not all, the one the binding had. A
// version whose rollout is under way, or failed, is not stable yet: its
// hosts must be healthy for minHealthyTime, and all of them done.
func stable(in planInput, next v1.JobBinding, want []string) string {
	if ro := next.Rollout; ro != nil && ro.State != v1.RolloutDone && next.Hosts[first(want)] == ro.Version {
		return in.Current.Stable
	}
	ver := ""
	for _, h := range want {
		hv := next.Hosts[h]
		st, ok := in.Statuses[h]
		if (ver != "" && hv != ver) || !ready(st, ok, in.statusHash(hv)) {
			return in.Current.Stable
		}
		ver = hv
	}
	if ver == "" {
		return in.Current.Stable
	}
	return ver
}

// statusHash is the SpecHash a host reports for an instance of version
// ver: the short TemplateHash of its stored template.
func (in planInput) statusHash(ver string) string {
	if h, ok := in.Versions[ver]; ok && len(h) >= 12 {
		return h[:12]
	}
	if ver == in.Job.Spec.Version {
		return v1.TemplateHash(&in.Job.Spec.Container)
	}
	return ""
}

// ready reports an instance RUNNING and Ready from the template of hash.
func ready(st v1.InstanceStatus, ok bool, hash string) bool {
	if !ok || hash == "" || st.SpecHash != hash || st.State != v1.StateRunning {
		return false
	}
	c := v1.FindCondition(st.Conditions, v1.ConditionReady)
	return c != nil && c.Status == v1.ConditionTrue
}

// step moves a rollout on: it checks the hosts being moved, moves the next
// ones, and returns when to look again. The rules:
//
//   - A host being moved is healthy once it has been RUNNING and Ready on
//     the version for minHealthyTime; then it is done.
//   - It fails when its instance is FAILED, or when it is not healthy
//     within the deadline (healthyDeadline, or timeout when shorter).
//   - A failure with autoRevert returns every host to the last version
//     that ran healthy on all of them (JobBinding.Stable), if its template
//     is stored; otherwise, a failing canary, or onFailure stop, stops the
//     rollout where it is, and onFailure continue passes the host over.
//   - Canaries move first, all at once. Once they are healthy the rollout
//     goes on with autoPromote, or when the Job is annotated
//     berth.dev/promote=<version> (applyctl rollout promote); until then
//     it waits for promotion.
//   - The other hosts move parallelism at a time, each step once the
//     previous one is done.
func step(in planInput, ro *v1.RolloutStatus, next v1.JobBinding) time.Duration {
	if ro.State == v1.RolloutFailed || ro.State == v1.RolloutReverted {
		return 0 // stopped: the remaining hosts keep their version
	}
	wake, reverted := checkMoving(in, ro, next)
	if reverted {
		return 0
	}
	if ro.State == v1.RolloutFailed {
		// The hosts already moved keep the new version; the others stay.
		holdPending(in, ro, next)
		return 0
	}
	if waitsForPromotion(in, ro) {
		holdPending(in, ro, next)
		return 0
	}
	v := in.Job.Spec.Version
	if len(ro.Current) == 0 {
		moveNext(in, ro, next)
	}
	if len(ro.Current) == 0 && len(ro.Pending) == 0 {
		ro.State = v1.RolloutDone
		ro.Message = fmt.Sprintf("version %s runs on %d host(s)", v, len(ro.Done))
		return 0
	}
	what := "moving"
	if len(ro.Canaries) > 0 && !ro.Promoted {
		what = "canary: moving"
	}
	if len(ro.Failed) == 0 || ro.Message == "" || !strings.HasPrefix(ro.Message, "passed over") {
		ro.Message = fmt.Sprintf("%s %s to version %s; %d done, %d to go", what, strings.Join(ro.Current, ", "), v, len(ro.Done), len(ro.Pending))
	}
	holdPending(in, ro, next)
	deadline, _ := in.Job.Spec.Rollout.Deadline()
	left := deadline - in.Now.Sub(ro.StepStartedAt)
	if left <= 0 {
		left = time.Millisecond
	}
	return minPositive(minPositive(left, time.Second), wake)
}

// checkMoving checks the hosts being moved (ro.Current) against step's
// rules: a host healthy for minHealthyTime is done, one that failed is
// handed to fail, the others go on moving. It returns when the first of
// those still short of minHealthyTime reaches it, and reports whether
// every host was reverted (ro is then final).
func checkMoving(in planInput, ro *v1.RolloutStatus, next v1.JobBinding) (wake time.Duration, reverted bool) {
	v := in.Job.Spec.Version
	hash := in.statusHash(v)
	deadline, which := in.Job.Spec.Rollout.Deadline()
	minHealthy := in.Job.Spec.Rollout.MinHealthy()
	late := in.Now.Sub(ro.StepStartedAt) > deadline
	unhealthy := func(h string) string {
		return fmt.Sprintf("version %s unhealthy on %s for %s (%s)", v, h, deadline, which)
	}
	var still []string
	for _, h := range ro.Current {
		next.Hosts[h] = v
		st, ok := in.Statuses[h]
		switch {
		case ok && st.SpecHash == hash && st.State == v1.StateFailed:
			if fail(in, ro, next, h, fmt.Sprintf("version %s failed on %s", v, h), notReady(st, ok)) {
				return 0, true
			}
		case ready(st, ok, hash):
			since := healthySince(in, ro, h)
			left := minHealthy - in.Now.Sub(since)
			switch {
			case left <= 0:
				delete(ro.HealthySince, h)
				ro.Done = append(ro.Done, h)
			case late:
				if fail(in, ro, next, h, unhealthy(h),
					fmt.Sprintf("Ready for %s only, under minHealthyTime %s", in.Now.Sub(since), minHealthy)) {
					return 0, true
				}
			default:
				still = append(still, h)
				wake = minPositive(wake, left)
			}
		case late:
			if fail(in, ro, next, h, unhealthy(h), notReady(st, ok)) {
				return 0, true
			}
		default:
			delete(ro.HealthySince, h)
			still = append(still, h)
		}
	}
	ro.UpdatedAt = in.Now
	ro.Current = still
	return wake, false
}

// healthySince returns since when host h has been seen RUNNING and Ready
// on the rollout's version, recording now when it was not seen so before.
func healthySince(in planInput, ro *v1.RolloutStatus, h string) time.Time {
	if since, seen := ro.HealthySince[h]; seen {
		return since
	}
	if ro.HealthySince == nil {
		ro.HealthySince = map[string]time.Time{}
	}
	ro.HealthySince[h] = in.Now
	return in.Now
}

// waitsForPromotion reports whether the rollout waits for its canaries to
// be promoted, and marks it so; canaries that are done and promoted (by
// autoPromote or the Job's promote annotation) let it roll on.
func waitsForPromotion(in planInput, ro *v1.RolloutStatus) bool {
	if len(ro.Current) > 0 || len(ro.Canaries) == 0 || ro.Promoted {
		return false
	}
	j, v := in.Job, in.Job.Spec.Version
	if !j.Spec.Rollout.AutoPromote && j.Metadata.Annotations[v1.AnnotationPromote] != v {
		ro.State = v1.RolloutWaitingForPromotion
		ro.Message = fmt.Sprintf("canaries %s healthy on version %s; %d host(s) wait for promotion (applyctl rollout promote job %s)",
			strings.Join(ro.Canaries, ", "), v, len(ro.Pending), j.Metadata.Name)
		return true
	}
	ro.Promoted, ro.State = true, v1.RolloutRollingOut
	return false
}

// moveNext starts the next step: up to parallelism pending hosts that are
// still targets move to the current version.
func moveNext(in planInput, ro *v1.RolloutStatus, next v1.JobBinding) {
	for n := in.Job.Spec.Rollout.Parallelism; n > 0 && len(ro.Pending) > 0; {
		h := ro.Pending[0]
		ro.Pending = ro.Pending[1:]
		if _, still := next.Hosts[h]; !still {
			continue // no longer a target
		}
		ro.Current = append(ro.Current, h)
		next.Hosts[h] = in.Job.Spec.Version
		n--
	}
	ro.StepStartedAt = in.Now
}

// holdPending keeps the hosts still to move on the version they have (a
// host new to the binding on the one plan gave it).
func holdPending(in planInput, ro *v1.RolloutStatus, next v1.JobBinding) {
	for _, h := range ro.Pending {
		_, placed := next.Hosts[h]
		if _, had := in.Current.Hosts[h]; placed && had {
			next.Hosts[h] = in.stay(h)
		}
	}
}

// fail records that host failed the version (msg, with why), and decides
// what the rollout does: revert every host, stop, or pass the host over.
// It reports whether every host was reverted.
func fail(in planInput, ro *v1.RolloutStatus, next v1.JobBinding, host, msg, why string) (reverted bool) {
	r := &in.Job.Spec.Rollout
	ro.Failed = append(ro.Failed, host)
	detail := "; " + host + ": " + why
	if r.AutoRevert {
		if to := in.Current.Stable; to != "" && to != ro.Version && in.runnable(to) {
			ro.State, ro.RevertedTo = v1.RolloutReverted, to
			ro.Message = msg + ": reverted to " + to + detail
			for h := range next.Hosts {
				next.Hosts[h] = to
			}
			ro.Current, ro.Pending = nil, nil
			ro.UpdatedAt = in.Now
			return true
		}
		msg += ": no version ran healthy on every host to revert to"
	}
	canary := slices.Contains(ro.Canaries, host) && !ro.Promoted
	if r.OnFailure == v1.RolloutStop || canary || r.AutoRevert {
		ro.State = v1.RolloutFailed
		ro.Message = "rollout stopped: " + msg + detail
		return false
	}
	ro.Message = "passed over: " + msg + detail
	return false
}

// copyRollout returns a copy of ro that shares nothing with it.
func copyRollout(ro *v1.RolloutStatus) *v1.RolloutStatus {
	if ro == nil {
		return nil
	}
	c := *ro
	c.Done, c.Current, c.Pending = slices.Clone(ro.Done), slices.Clone(ro.Current), slices.Clone(ro.Pending)
	c.Failed, c.Canaries = slices.Clone(ro.Failed), slices.Clone(ro.Canaries)
	c.HealthySince = maps.Clone(ro.HealthySince)
	return &c
}

// prune drops hosts that are no longer targets from a rollout's lists.
func prune(ro *v1.RolloutStatus, want []string) *v1.RolloutStatus {
	if ro == nil {
		return nil
	}
	keep := func(list []string) []string {
		var out []string
		for _, h := range list {
			if slices.Contains(want, h) {
				out = append(out, h)
			}
		}
		return out
	}
	ro.Pending, ro.Current = keep(ro.Pending), keep(ro.Current)
	return ro
}

// first is the first of list, "" when it is empty.
func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	case a < b:
		return a
	}
	return b
}

// notReady says why an instance is not RUNNING and healthy: its state and
// message, and, when its container has exited since it was created, how
// often and with what code, which a state caught between two restarts of
// a crash loop would not show.
func notReady(st v1.InstanceStatus, ok bool) string {
	if !ok {
		return "no status yet"
	}
	why := string(st.State)
	if st.Message != "" {
		why += ": " + st.Message
	}
	if st.LastExitCode != nil {
		why += fmt.Sprintf("; %d restarts, last exited with code %d", st.Restarts, *st.LastExitCode)
	}
	return why
}
