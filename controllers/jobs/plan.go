package jobs

import (
	"fmt"
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
	var old []string
	for _, h := range want {
		have, ok := cur.Hosts[h]
		switch {
		case !ok || have == v || !in.runnable(have):
			// A new host gets the current version at once, and so does
			// one whose version has no stored template (any more).
			next.Hosts[h] = v
		default:
			next.Hosts[h] = have
			old = append(old, h)
		}
	}
	var ro *v1.RolloutStatus
	if cur.Rollout != nil {
		c := *cur.Rollout
		ro = &c
	}
	if len(old) > 0 || (ro != nil && ro.Version == v && ro.State == v1.RolloutRollingOut) {
		if ro == nil || ro.Version != v {
			ro = &v1.RolloutStatus{Version: v, From: cur.Hosts[old0(old)], State: v1.RolloutRollingOut,
				Pending: old, StartedAt: in.Now}
			for _, h := range want {
				if cur.Hosts[h] == v {
					ro.Done = append(ro.Done, h)
				}
			}
		}
		requeue = minPositive(requeue, step(in, ro, next, old))
	}
	ro = prune(ro, want)
	next.Rollout = ro
	for _, ver := range next.Hosts {
		if hash, ok := in.Versions[ver]; ok {
			next.Hashes[ver] = hash
		}
	}
	return next, requeue
}

// step moves a rollout on: it checks the hosts being moved, moves the next
// ones, and returns when to look again.
func step(in planInput, ro *v1.RolloutStatus, next v1.JobBinding, old []string) time.Duration {
	j := in.Job
	v := j.Spec.Version
	if ro.State != v1.RolloutRollingOut {
		return 0 // failed and stopped: the remaining hosts keep their version
	}
	hash := v1.TemplateHash(&j.Spec.Container)
	timeout := j.Spec.Rollout.Timeout.Duration
	var still []string
	for _, h := range ro.Current {
		next.Hosts[h] = v
		st, ok := in.Statuses[h]
		ready := false
		if ok && st.SpecHash == hash && st.State == v1.StateRunning {
			c := v1.FindCondition(st.Conditions, v1.ConditionReady)
			ready = c != nil && c.Status == v1.ConditionTrue
		}
		switch {
		case ready:
			ro.Done = append(ro.Done, h)
		case ok && st.SpecHash == hash && st.State == v1.StateFailed:
			fail(ro, j, h, fmt.Sprintf("host %s: %s", h, st.Message))
		case in.Now.Sub(ro.StepStartedAt) > timeout:
			fail(ro, j, h, fmt.Sprintf("host %s: not RUNNING and healthy within %s (%s)", h, timeout, notReady(st, ok)))
		default:
			still = append(still, h)
		}
	}
	ro.Current = still
	ro.UpdatedAt = in.Now
	if ro.State == v1.RolloutFailed {
		// The hosts already moved keep the new version; the others stay.
		for _, h := range ro.Pending {
			if _, ok := next.Hosts[h]; ok && contains(old, h) {
				next.Hosts[h] = in.stay(h)
			}
		}
		return 0
	}
	if len(ro.Current) == 0 {
		n := j.Spec.Rollout.Parallelism
		for n > 0 && len(ro.Pending) > 0 {
			h := ro.Pending[0]
			ro.Pending = ro.Pending[1:]
			if _, still := next.Hosts[h]; !still {
				continue // no longer a target
			}
			ro.Current = append(ro.Current, h)
			next.Hosts[h] = v
			n--
		}
		ro.StepStartedAt = in.Now
	}
	if len(ro.Current) == 0 && len(ro.Pending) == 0 {
		ro.State = v1.RolloutDone
		ro.Message = fmt.Sprintf("version %s runs on %d host(s)", v, len(ro.Done))
		return 0
	}
	ro.Message = fmt.Sprintf("moving %s to version %s; %d done, %d to go", strings.Join(ro.Current, ", "), v, len(ro.Done), len(ro.Pending))
	for _, h := range ro.Pending {
		if _, ok := next.Hosts[h]; ok {
			next.Hosts[h] = in.stay(h)
		}
	}
	left := timeout - in.Now.Sub(ro.StepStartedAt)
	if left <= 0 {
		left = time.Millisecond
	}
	return minPositive(left, time.Second)
}

func fail(ro *v1.RolloutStatus, j *v1.Job, host, msg string) {
	ro.Failed = append(ro.Failed, host)
	if j.Spec.Rollout.OnFailure == v1.RolloutStop {
		ro.State = v1.RolloutFailed
		ro.Message = "rollout stopped: " + msg
		return
	}
	ro.Message = "passed over: " + msg
}

// prune drops hosts that are no longer targets from a rollout's lists.
func prune(ro *v1.RolloutStatus, want []string) *v1.RolloutStatus {
	if ro == nil {
		return nil
	}
	keep := func(list []string) []string {
		var out []string
		for _, h := range list {
			if contains(want, h) {
				out = append(out, h)
			}
		}
		return out
	}
	ro.Pending, ro.Current = keep(ro.Pending), keep(ro.Current)
	return ro
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func old0(old []string) string {
	if len(old) == 0 {
		return ""
	}
	return old[0]
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
