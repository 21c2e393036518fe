package jobs

import (
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func job(version string, mod func(*v1.Job)) *v1.Job {
	j := &v1.Job{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob}, Metadata: v1.ObjectMeta{Name: "nc"},
		Spec: v1.JobSpec{Version: version, Container: v1.ContainerTemplate{Image: "nc:" + version}}}
	if mod != nil {
		mod(j)
	}
	v1.Default(j)
	return j
}

func deployed(hosts ...string) func(*v1.Job) {
	return func(j *v1.Job) {
		for _, h := range hosts {
			j.Spec.Deployments = append(j.Spec.Deployments, v1.Deployment{Host: h})
		}
	}
}

func running(j *v1.Job, host string) v1.InstanceStatus {
	return v1.InstanceStatus{Host: host, State: v1.StateRunning, SpecHash: v1.TemplateHash(&j.Spec.Container),
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue}}}
}

// versions are the version hashes of jobs, as their records give them.
func versions(jobs ...*v1.Job) map[string]string {
	out := map[string]string{}
	for _, j := range jobs {
		out[j.Spec.Version] = v1.FullTemplateHash(&j.Spec.Container)
	}
	return out
}

func TestTargets(t *testing.T) {
	hosts := []HostInfo{{Name: "a", Labels: map[string]string{"zone": "x"}, Up: true}, {Name: "b", Labels: map[string]string{"zone": "x"}},
		{Name: "c", Labels: map[string]string{"zone": "y"}, Up: true}}
	past := t0.Add(-time.Minute)
	tests := []struct {
		name string
		job  *v1.Job
		want []string
	}{
		{"deployments, Up or not", job("1", deployed("b", "z")), []string{"b", "z"}},
		{"selector: Up matching hosts", job("1", func(j *v1.Job) { j.Spec.HostSelector = map[string]string{"zone": "x"} }), []string{"a"}},
		{"both", job("1", func(j *v1.Job) { deployed("c")(j); j.Spec.HostSelector = map[string]string{"zone": "x"} }), []string{"a", "c"}},
		{"expired", job("1", func(j *v1.Job) { deployed("a")(j); j.Spec.Expires = &past }), []string{}},
	}
	for _, tt := range tests {
		got := targets(planInput{Job: tt.job, Hosts: hosts, Now: t0})
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRollout follows a new version across three hosts, one at a time.
func TestRollout(t *testing.T) {
	v1j := job("1", deployed("a", "b", "c"))
	b, _ := plan(planInput{Job: v1j, Now: t0})
	if !reflect.DeepEqual(b.Hosts, map[string]string{"a": "1", "b": "1", "c": "1"}) || b.Rollout != nil {
		t.Fatalf("first deploy: %+v", b)
	}
	v2 := job("2", deployed("a", "b", "c"))
	st := map[string]v1.InstanceStatus{}
	now := t0
	vers := versions(v1j, v2)
	b, _ = plan(planInput{Job: v2, Current: b, Statuses: st, Versions: vers, Now: now})
	if !reflect.DeepEqual(b.Hosts, map[string]string{"a": "2", "b": "1", "c": "1"}) || b.Rollout.State != v1.RolloutRollingOut {
		t.Fatalf("step 1: %+v %+v", b.Hosts, b.Rollout)
	}
	if !reflect.DeepEqual(b.Hashes, vers) {
		t.Fatalf("hashes %v, want those of versions 1 and 2 %v, as hosts still run both", b.Hashes, vers)
	}
	// a is up at version 2: b moves.
	st["a"] = running(v2, "a")
	now = now.Add(time.Second)
	b, _ = plan(planInput{Job: v2, Current: b, Statuses: st, Versions: vers, Now: now})
	if !reflect.DeepEqual(b.Hosts, map[string]string{"a": "2", "b": "2", "c": "1"}) {
		t.Fatalf("step 2: %+v %+v", b.Hosts, b.Rollout)
	}
	// b fails: the rollout stops; c stays on version 1.
	st["b"] = v1.InstanceStatus{Host: "b", State: v1.StateFailed, SpecHash: v1.TemplateHash(&v2.Spec.Container), Message: "start request repeated too quickly"}
	b, _ = plan(planInput{Job: v2, Current: b, Statuses: st, Versions: vers, Now: now.Add(time.Second)})
	if b.Rollout.State != v1.RolloutFailed || !strings.Contains(b.Rollout.Message, "version 2 failed on b; b: FAILED: start request repeated too quickly") ||
		b.Hosts["c"] != "1" || len(b.Rollout.Current) != 0 {
		t.Fatalf("after a failure: %+v %+v", b.Hosts, b.Rollout)
	}
	// A timeout with onFailure continue passes over the host.
	v3 := job("3", func(j *v1.Job) {
		deployed("a", "b")(j)
		j.Spec.Rollout.OnFailure = v1.RolloutContinue
		j.Spec.Rollout.Timeout = &v1.Duration{Duration: time.Minute}
	})
	cur := v1.JobBinding{Hosts: map[string]string{"a": "2", "b": "2"}}
	vers = versions(v2, v3)
	b, _ = plan(planInput{Job: v3, Current: cur, Statuses: map[string]v1.InstanceStatus{}, Versions: vers, Now: t0})
	b, _ = plan(planInput{Job: v3, Current: b, Statuses: map[string]v1.InstanceStatus{}, Versions: vers, Now: t0.Add(2 * time.Minute)})
	if b.Rollout.State != v1.RolloutRollingOut || len(b.Rollout.Failed) != 1 || b.Hosts["b"] != "3" {
		t.Fatalf("continue after a timeout: %+v %+v", b.Hosts, b.Rollout)
	}
}

func TestNewHostGetsCurrentVersionAtOnce(t *testing.T) {
	j := job("2", func(j *v1.Job) { j.Spec.HostSelector = map[string]string{"zone": "x"} })
	hosts := []HostInfo{{Name: "a", Labels: map[string]string{"zone": "x"}, Up: true}, {Name: "d", Labels: map[string]string{"zone": "x"}, Up: true}}
	cur := v1.JobBinding{Hosts: map[string]string{"a": "2"}}
	b, _ := plan(planInput{Job: j, Hosts: hosts, Current: cur, Now: t0})
	if !reflect.DeepEqual(b.Hosts, map[string]string{"a": "2", "d": "2"}) || b.Rollout != nil {
		t.Errorf("join: %+v %+v", b.Hosts, b.Rollout)
	}
}

func TestExpiresRequeuesAtExpiry(t *testing.T) {
	at := t0.Add(time.Hour)
	j := job("1", func(j *v1.Job) { deployed("a")(j); j.Spec.Expires = &at })
	b, requeue := plan(planInput{Job: j, Now: t0})
	if b.Hosts["a"] != "1" || requeue != time.Hour {
		t.Errorf("before expiry: %+v, requeue %v", b.Hosts, requeue)
	}
	b, _ = plan(planInput{Job: j, Current: b, Now: at})
	if len(b.Hosts) != 0 {
		t.Errorf("after expiry: %+v", b.Hosts)
	}
}

// A host bound to a version that has no stored template (pruned, or
// stored before version records were kept) can run nothing of it: it
// moves to the current version at once, rollout or not, and a rollout
// that had it pending does not move it back.
func TestHostOnAVersionWithoutTemplateMovesAtOnce(t *testing.T) {
	v2 := job("2", deployed("a", "b", "c"))
	cur := v1.JobBinding{Hosts: map[string]string{"a": "1", "b": "1", "c": "0"}}
	vers := versions(job("1", nil), v2)
	b, _ := plan(planInput{Job: v2, Current: cur, Versions: vers, Now: t0})
	if !reflect.DeepEqual(b.Hosts, map[string]string{"a": "2", "b": "1", "c": "2"}) {
		t.Fatalf("step 1: %+v %+v", b.Hosts, b.Rollout)
	}
	if !reflect.DeepEqual(b.Hashes, vers) {
		t.Errorf("hashes %v, want %v", b.Hashes, vers)
	}
	// Version 1's record goes too: b moves at once, and the rollout
	// does not hold it back.
	b, _ = plan(planInput{Job: v2, Current: b, Versions: versions(v2), Now: t0.Add(time.Second)})
	if !reflect.DeepEqual(b.Hosts, map[string]string{"a": "2", "b": "2", "c": "2"}) {
		t.Fatalf("step 2: %+v %+v", b.Hosts, b.Rollout)
	}
	if _, ok := b.Hashes["1"]; ok || len(b.Hashes) != 1 {
		t.Errorf("hashes %v, want version 2's only", b.Hashes)
	}
}

// A rollout that times out on a crash-looping host says how often it
// exited and with what code, whichever state the host was caught in.
func TestNotReadySaysHowTheContainerExited(t *testing.T) {
	code := 3
	tests := []struct {
		name string
		st   v1.InstanceStatus
		ok   bool
		want string
	}{
		{"no status", v1.InstanceStatus{}, false, "no status yet"},
		{"starting", v1.InstanceStatus{State: v1.StateStarting}, true, "STARTING"},
		{"checking, never exited", v1.InstanceStatus{State: v1.StateHealthchecking, Message: "health check not passed yet"}, true,
			"HEALTHCHECKING: health check not passed yet"},
		{"between two restarts", v1.InstanceStatus{State: v1.StateHealthchecking, Message: "health check not passed yet", Restarts: 2, LastExitCode: &code}, true,
			"HEALTHCHECKING: health check not passed yet; 2 restarts, last exited with code 3"},
	}
	for _, tt := range tests {
		if got := notReady(tt.st, tt.ok); got != tt.want {
			t.Errorf("%s: notReady = %q, want %q", tt.name, got, tt.want)
		}
	}
}
