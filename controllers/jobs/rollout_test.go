package jobs

import (
	"maps"
	"slices"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// roll drives plan as the Jobs loop does: the binding each plan returns
// is the next one's current binding; statuses and the clock are the
// test's.
type roll struct {
	t        *testing.T
	job      *v1.Job
	hosts    []HostInfo
	b        v1.JobBinding
	statuses map[string]v1.InstanceStatus
	versions map[string]string
	now      time.Time
	requeue  time.Duration
}

func newRoll(t *testing.T, j *v1.Job, hosts ...string) *roll {
	r := &roll{t: t, job: j, statuses: map[string]v1.InstanceStatus{}, versions: versions(j), now: t0}
	for _, h := range hosts {
		r.hosts = append(r.hosts, HostInfo{Name: h, Labels: map[string]string{"role": "web"}, Up: true})
	}
	return r
}

// apply makes j the stored Job, its version's record stored too.
func (r *roll) apply(j *v1.Job) {
	r.job = j
	maps.Copy(r.versions, versions(j))
}

func (r *roll) plan(after time.Duration) v1.JobBinding {
	r.t.Helper()
	r.now = r.now.Add(after)
	r.b, r.requeue = plan(planInput{Job: r.job, Hosts: r.hosts, Current: r.b, Statuses: r.statuses, Versions: r.versions, Now: r.now})
	return r.b
}

// ready reports host running version j, Ready.
func (r *roll) ready(j *v1.Job, hosts ...string) {
	for _, h := range hosts {
		r.statuses[h] = running(j, h)
	}
}

// checking reports host running version j, its health check not passing.
func (r *roll) checking(j *v1.Job, hosts ...string) {
	for _, h := range hosts {
		r.statuses[h] = v1.InstanceStatus{Host: h, State: v1.StateHealthchecking, SpecHash: v1.TemplateHash(&j.Spec.Container),
			Message: "health check failing: GET /healthz: 500", Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionFalse}}}
	}
}

func (r *roll) want(what string, hosts map[string]string, state v1.RolloutState, message string) {
	r.t.Helper()
	ro := r.b.Rollout
	var got v1.RolloutState
	var msg string
	if ro != nil {
		got, msg = ro.State, ro.Message
	}
	if !maps.Equal(r.b.Hosts, hosts) || got != state || (message != "" && msg != message) {
		r.t.Fatalf("%s:\n hosts %v, rollout %s %q\nwant\n hosts %v, rollout %s %q", what, r.b.Hosts, got, msg, hosts, state, message)
	}
}

func onSelector(mod func(*v1.Rollout)) func(*v1.Job) {
	return func(j *v1.Job) {
		j.Spec.HostSelector = map[string]string{"role": "web"}
		j.Spec.Rollout.Timeout = &v1.Duration{Duration: time.Minute}
		if mod != nil {
			mod(&j.Spec.Rollout)
		}
	}
}

func hostsOn(ver string, hosts ...string) map[string]string {
	out := map[string]string{}
	for _, h := range hosts {
		out[h] = ver
	}
	return out
}

// A version that runs Ready everywhere is Stable. A canary of the next
// that is not healthy within healthyDeadline reverts every host to it,
// says so, and stays reverted, new hosts included; the hosts that never
// moved keep their instances.
func TestCanaryUnhealthyIsReverted(t *testing.T) {
	t.Parallel()
	v2 := job("2", onSelector(nil))
	r := newRoll(t, v2, "a", "b", "c")
	r.plan(0)
	if r.b.Stable != "" {
		t.Fatalf("stable before any instance is Ready: %q", r.b.Stable)
	}
	r.ready(v2, "a", "b", "c")
	if r.plan(time.Second); r.b.Stable != "2" {
		t.Fatalf("stable with version 2 Ready everywhere: %q", r.b.Stable)
	}

	v3 := job("3", onSelector(func(ro *v1.Rollout) {
		ro.Canary, ro.AutoRevert = 1, true
		ro.HealthyDeadline = &v1.Duration{Duration: 30 * time.Second}
	}))
	r.apply(v3)
	r.plan(time.Second)
	r.want("canary moved", map[string]string{"a": "3", "b": "2", "c": "2"}, v1.RolloutRollingOut, "canary: moving a to version 3; 0 done, 2 to go")
	if !slices.Equal(r.b.Rollout.Canaries, []string{"a"}) {
		t.Errorf("canaries %v, want [a]", r.b.Rollout.Canaries)
	}
	r.checking(v3, "a")
	r.plan(20 * time.Second)
	r.want("within the deadline", map[string]string{"a": "3", "b": "2", "c": "2"}, v1.RolloutRollingOut, "")
	r.plan(11 * time.Second)
	r.want("past healthyDeadline", hostsOn("2", "a", "b", "c"), v1.RolloutReverted,
		"version 3 unhealthy on a for 30s (healthyDeadline): reverted to 2; a: HEALTHCHECKING: health check failing: GET /healthz: 500")
	if ro := r.b.Rollout; ro.RevertedTo != "2" || !slices.Equal(ro.Failed, []string{"a"}) {
		t.Errorf("rollout %+v, want reverted to 2, failed on a", ro)
	}
	if want := map[string]string{"2": v1.FullTemplateHash(&v2.Spec.Container)}; !maps.Equal(r.b.Hashes, want) {
		t.Errorf("hashes %v, want version 2's only", r.b.Hashes)
	}

	// Reverted it stays, and a host that joins runs version 2 too.
	r.hosts = append(r.hosts, HostInfo{Name: "d", Labels: map[string]string{"role": "web"}, Up: true})
	r.plan(time.Minute)
	r.want("a host joins the reverted job", hostsOn("2", "a", "b", "c", "d"), v1.RolloutReverted, "")

	// A new version starts over from there.
	v4 := job("4", onSelector(func(ro *v1.Rollout) { ro.Canary = 1 }))
	r.apply(v4)
	r.plan(time.Second)
	r.want("version 4", map[string]string{"a": "4", "b": "2", "c": "2", "d": "2"}, v1.RolloutRollingOut, "")
	if r.b.Rollout.From != "2" {
		t.Errorf("version 4 rolls from %q, want 2", r.b.Rollout.From)
	}
}

// A canary that is FAILED reverts at once.
func TestCanaryFailedIsRevertedAtOnce(t *testing.T) {
	t.Parallel()
	v1j := job("1", onSelector(nil))
	r := newRoll(t, v1j, "a", "b")
	r.ready(v1j, "a", "b")
	r.plan(0)
	v2 := job("2", onSelector(func(ro *v1.Rollout) { ro.Canary, ro.AutoRevert = 1, true }))
	r.apply(v2)
	r.plan(time.Second)
	r.statuses["a"] = v1.InstanceStatus{Host: "a", State: v1.StateFailed, SpecHash: v1.TemplateHash(&v2.Spec.Container), Message: "start request repeated too quickly"}
	r.plan(time.Second)
	r.want("failed canary", hostsOn("1", "a", "b"), v1.RolloutReverted,
		"version 2 failed on a: reverted to 1; a: FAILED: start request repeated too quickly")
}

// Healthy canaries wait for promotion, healthy meaning Ready for
// minHealthyTime without a break; the annotation promote=<version> lets
// the rest roll parallelism at a time, and the version that runs Ready
// everywhere becomes Stable.
func TestCanaryWaitsForPromotion(t *testing.T) {
	t.Parallel()
	v1j := job("1", onSelector(nil))
	r := newRoll(t, v1j, "a", "b", "c", "d")
	r.ready(v1j, "a", "b", "c", "d")
	r.plan(0)
	v2 := job("2", onSelector(func(ro *v1.Rollout) {
		ro.Canary, ro.Parallelism = 1, 2
		ro.MinHealthyTime = &v1.Duration{Duration: 10 * time.Second}
	}))
	r.apply(v2)
	r.plan(time.Second)
	r.ready(v2, "a")
	r.plan(time.Second)
	if r.requeue <= 0 || r.requeue > 10*time.Second {
		t.Errorf("requeue %v, want by the end of minHealthyTime", r.requeue)
	}
	r.plan(5 * time.Second)
	r.want("Ready for 5s of 10s", map[string]string{"a": "2", "b": "1", "c": "1", "d": "1"}, v1.RolloutRollingOut, "")
	// A break starts minHealthyTime over.
	r.checking(v2, "a")
	r.plan(time.Second)
	r.ready(v2, "a")
	r.plan(time.Second)
	r.plan(9 * time.Second)
	r.want("Ready for 9s since the break", map[string]string{"a": "2", "b": "1", "c": "1", "d": "1"}, v1.RolloutRollingOut, "")
	r.plan(time.Second)
	r.want("canary healthy", map[string]string{"a": "2", "b": "1", "c": "1", "d": "1"}, v1.RolloutWaitingForPromotion,
		"canaries a healthy on version 2; 3 host(s) wait for promotion (applyctl rollout promote job nc)")
	if r.requeue != 0 {
		t.Errorf("requeue %v while waiting for promotion, want none: the promotion is a change of the Job", r.requeue)
	}
	r.plan(time.Hour)
	r.want("still waiting an hour later", map[string]string{"a": "2", "b": "1", "c": "1", "d": "1"}, v1.RolloutWaitingForPromotion, "")

	promoted := job("2", onSelector(func(ro *v1.Rollout) {
		ro.Canary, ro.Parallelism = 1, 2
		ro.MinHealthyTime = &v1.Duration{Duration: 10 * time.Second}
	}))
	promoted.Metadata.Annotations = map[string]string{v1.AnnotationPromote: "2"}
	r.job = promoted
	r.plan(time.Second)
	r.want("promoted: two at a time", map[string]string{"a": "2", "b": "2", "c": "2", "d": "1"}, v1.RolloutRollingOut, "moving b, c to version 2; 1 done, 1 to go")
	if !r.b.Rollout.Promoted {
		t.Error("rollout not marked promoted")
	}
	r.ready(v2, "b", "c")
	r.plan(time.Second)
	r.plan(10 * time.Second)
	r.want("last host", hostsOn("2", "a", "b", "c", "d"), v1.RolloutRollingOut, "")
	r.ready(v2, "d")
	r.plan(time.Second)
	r.plan(10 * time.Second)
	r.want("done", hostsOn("2", "a", "b", "c", "d"), v1.RolloutDone, "version 2 runs on 4 host(s)")
	if r.b.Stable != "2" {
		t.Errorf("stable %q after version 2 rolled out Ready everywhere, want 2", r.b.Stable)
	}
}

// autoPromote goes on past healthy canaries without waiting.
func TestCanaryAutoPromote(t *testing.T) {
	t.Parallel()
	v1j := job("1", onSelector(nil))
	r := newRoll(t, v1j, "a", "b", "c")
	r.ready(v1j, "a", "b", "c")
	r.plan(0)
	v2 := job("2", onSelector(func(ro *v1.Rollout) { ro.Canary, ro.AutoPromote = 2, true }))
	r.apply(v2)
	r.plan(time.Second)
	r.want("two canaries at once", map[string]string{"a": "2", "b": "2", "c": "1"}, v1.RolloutRollingOut, "canary: moving a, b to version 2; 0 done, 1 to go")
	r.ready(v2, "a", "b")
	r.plan(time.Second)
	r.want("promoted by itself", hostsOn("2", "a", "b", "c"), v1.RolloutRollingOut, "moving c to version 2; 2 done, 0 to go")
}

// A failing canary stops the rollout even under onFailure continue; with
// autoRevert but no version that ran healthy everywhere, it stops too and
// says why it could not revert.
func TestCanaryFailureStops(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		mod    func(*v1.Rollout)
		stable bool
		want   string
	}{
		{"onFailure continue", func(ro *v1.Rollout) { ro.Canary, ro.OnFailure = 1, v1.RolloutContinue }, true,
			"rollout stopped: version 2 unhealthy on a for 1m0s (timeout); a: HEALTHCHECKING: health check failing: GET /healthz: 500"},
		{"autoRevert without a stable version", func(ro *v1.Rollout) { ro.Canary, ro.AutoRevert = 1, true }, false,
			"rollout stopped: version 2 unhealthy on a for 1m0s (timeout): no version ran healthy on every host to revert to; a: HEALTHCHECKING: health check failing: GET /healthz: 500"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v1j := job("1", onSelector(nil))
			r := newRoll(t, v1j, "a", "b")
			if tt.stable {
				r.ready(v1j, "a", "b")
			}
			r.plan(0)
			v2 := job("2", onSelector(tt.mod))
			r.apply(v2)
			r.plan(time.Second)
			r.checking(v2, "a")
			r.plan(61 * time.Second)
			r.want("canary past the timeout", map[string]string{"a": "2", "b": "1"}, v1.RolloutFailed, tt.want)
		})
	}
}

// Ready but not for minHealthyTime by the deadline is unhealthy.
func TestMinHealthyTimeBeyondTheDeadlineFails(t *testing.T) {
	t.Parallel()
	v1j := job("1", onSelector(nil))
	r := newRoll(t, v1j, "a")
	r.ready(v1j, "a")
	r.plan(0)
	v2 := job("2", onSelector(func(ro *v1.Rollout) {
		ro.AutoRevert = true
		ro.MinHealthyTime = &v1.Duration{Duration: 20 * time.Second}
		ro.HealthyDeadline = &v1.Duration{Duration: 30 * time.Second}
	}))
	r.apply(v2)
	r.plan(time.Second)
	r.plan(25 * time.Second)
	r.ready(v2, "a")
	r.plan(time.Second)
	r.plan(5 * time.Second)
	r.want("Ready 5s of 20s at the deadline", hostsOn("1", "a"), v1.RolloutReverted,
		"version 2 unhealthy on a for 30s (healthyDeadline): reverted to 1; a: Ready for 5s only, under minHealthyTime 20s")
}

func TestRolloutEvents(t *testing.T) {
	t.Parallel()
	ro := func(state v1.RolloutState, mod func(*v1.RolloutStatus)) v1.JobBinding {
		r := &v1.RolloutStatus{Version: "3", From: "2", State: state, Current: []string{"a"}, Pending: []string{"b", "c"}, Message: "m"}
		if mod != nil {
			mod(r)
		}
		return v1.JobBinding{Rollout: r}
	}
	canaries := func(r *v1.RolloutStatus) { r.Canaries = []string{"a"} }
	tests := []struct {
		name      string
		was, next v1.JobBinding
		want      []string
	}{
		{"no rollout", v1.JobBinding{}, v1.JobBinding{}, nil},
		{"started with canaries", v1.JobBinding{}, ro(v1.RolloutRollingOut, canaries),
			[]string{"Normal RolloutStarted: version 3 rolls out over 3 host(s) from version 2; canaries: a"}},
		{"a step", ro(v1.RolloutRollingOut, nil), ro(v1.RolloutRollingOut, nil), nil},
		{"waiting", ro(v1.RolloutRollingOut, canaries), ro(v1.RolloutWaitingForPromotion, canaries), []string{"Normal WaitingForPromotion: m"}},
		{"promoted", ro(v1.RolloutWaitingForPromotion, canaries), ro(v1.RolloutRollingOut, func(r *v1.RolloutStatus) { canaries(r); r.Promoted = true }),
			[]string{"Normal Promoted: canaries a healthy on version 3: the other hosts follow"}},
		{"reverted", ro(v1.RolloutRollingOut, nil), ro(v1.RolloutReverted, nil), []string{"Warning RolloutReverted: m"}},
		{"stopped", ro(v1.RolloutRollingOut, nil), ro(v1.RolloutFailed, nil), []string{"Warning RolloutStopped: m"}},
		{"passed over", ro(v1.RolloutRollingOut, nil), ro(v1.RolloutRollingOut, func(r *v1.RolloutStatus) { r.Failed = []string{"a"} }),
			[]string{"Warning HostPassedOver: m"}},
		{"done", ro(v1.RolloutRollingOut, nil), ro(v1.RolloutDone, nil), []string{"Normal RolloutDone: m"}},
		{"reverted, again", ro(v1.RolloutReverted, nil), ro(v1.RolloutReverted, nil), nil},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range RolloutEvents(tt.was, tt.next) {
			got = append(got, string(e.Type)+" "+e.Reason+": "+e.Message)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A selected host that leaves the targets during a rollout (Down a while)
// and comes back, or a host that joins, starts on the version being
// replaced and waits its turn: canaries not yet promoted are not
// bypassed. A host that was done keeps the new version.
func TestHostBackDuringRolloutWaitsItsTurn(t *testing.T) {
	t.Parallel()
	v1j := job("1", onSelector(nil))
	r := newRoll(t, v1j, "a", "b", "c")
	r.ready(v1j, "a", "b", "c")
	r.plan(0)
	v2 := job("2", onSelector(func(ro *v1.Rollout) { ro.Canary = 1 }))
	r.apply(v2)
	r.plan(time.Second)
	r.ready(v2, "a")
	r.plan(time.Second)
	r.want("waiting", map[string]string{"a": "2", "b": "1", "c": "1"}, v1.RolloutWaitingForPromotion, "")

	r.hosts[1].Up = false // b
	r.plan(time.Second)
	r.want("b Down", map[string]string{"a": "2", "c": "1"}, v1.RolloutWaitingForPromotion, "")
	r.hosts[1].Up = true
	r.hosts = append(r.hosts, HostInfo{Name: "d", Labels: map[string]string{"role": "web"}, Up: true})
	r.plan(time.Second)
	r.want("b back, d joins", map[string]string{"a": "2", "b": "1", "c": "1", "d": "1"}, v1.RolloutWaitingForPromotion, "")
	r.hosts[0].Up = false // a, the canary, done
	r.plan(time.Second)
	r.hosts[0].Up = true
	r.plan(time.Second)
	r.want("the canary back", map[string]string{"a": "2", "b": "1", "c": "1", "d": "1"}, v1.RolloutWaitingForPromotion, "")

	r.job.Metadata.Annotations = map[string]string{v1.AnnotationPromote: "2"}
	r.plan(time.Second)
	r.want("promoted: c first, then b and d, which came back", map[string]string{"a": "2", "b": "1", "c": "2", "d": "1"}, v1.RolloutRollingOut, "")
	if !slices.Equal(r.b.Rollout.Pending, []string{"b", "d"}) {
		t.Errorf("pending %v, want [b d]", r.b.Rollout.Pending)
	}
	for range 3 {
		r.ready(v2, "b", "c", "d")
		r.plan(time.Second)
	}
	r.want("done", hostsOn("2", "a", "b", "c", "d"), v1.RolloutDone, "version 2 runs on 4 host(s)")
}
