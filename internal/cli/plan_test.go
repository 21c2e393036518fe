package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

const gi = int64(1) << 30

// sizedHost stores a host record with cpus CPUs and mem bytes of memory,
// of which reserved is kept for the system, Up when up.
func (e *env) sizedHost(name string, up bool, labels map[string]string, cpus int, mem, reserved int64) {
	e.t.Helper()
	e.putJSON(store.HostKey(name), v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost},
		Metadata: v1.ObjectMeta{Name: name, Labels: labels},
		Status:   v1.HostStatus{CPUs: cpus, MemoryBytes: mem, ReservedMemory: reserved}})
	if up {
		e.putJSON(store.AliveKey(name), map[string]string{})
	}
}

const planDB = `apiVersion: berth.dev/v1
kind: Unit
metadata: {name: db}
spec:
  container: {image: db:1, resources: {memory: 13Gi}}
  placement: {hostSelector: {zone: a}}
`

const planWeb = `apiVersion: berth.dev/v1
kind: Unit
metadata: {name: web}
spec:
  container:
    image: web:1
    resources: {memory: 4Gi, cpus: 1}
    ports: [{containerPort: 80, hostPort: 8080}]
  placement: {hostSelector: {zone: a}, replicas: 2}
`

// TestPlan: plan names, host by host, where a Unit would run and why every
// other host was rejected, with the figures; a Job's new version says
// which hosts it replaces and how it rolls; exit codes are nomad job
// plan's; nothing is written.
func TestPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	zoneA := map[string]string{"zone": "a"}
	e.sizedHost("host-a", true, zoneA, 4, 8*gi, 6*gi)
	e.sizedHost("host-b", true, zoneA, 4, 16*gi, 0)
	e.sizedHost("host-c", false, zoneA, 4, 16*gi, 0)
	e.sizedHost("host-d", true, map[string]string{"zone": "b"}, 4, 16*gi, 0)
	e.sizedHost("host-e", true, zoneA, 4, 16*gi, 0)
	e.sizedHost("host-f", true, zoneA, 4, 16*gi, 0)
	if r := e.run(planDB, "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("apply db: %d %s", r.code, r.err)
	}
	e.putJSON(store.BindingKey("unit", "db"), v1.Binding{Hosts: []string{"host-b"}, Generation: 1})
	// Something on host-e holds host port 8080.
	e.putJSON(store.StatusKey("unit", "other", "host-e"), v1.InstanceStatus{State: v1.StateRunning,
		Ports: []v1.PortStatus{{ContainerPort: 80, HostPort: 8080, Protocol: v1.ProtocolTCP}}})

	rev := e.revision()
	r := e.run(planWeb+"---\n"+planDB, "plan", "-f", "-")
	if r.code != 1 {
		t.Fatalf("plan of a new unit: exit %d, want 1\n%s%s", r.code, r.out, r.err)
	}
	wantEqual(t, "plan", r.out, ""+
		"unit/web created\n"+
		"  +  host-f  create\n"+
		"  ! 1 replica(s) pending: no host can take one\n"+
		"  rejected:\n"+
		"     host-a  not enough memory: asks 4Gi, 2Gi free of 8Gi (6Gi reserved)\n"+
		"     host-b  not enough memory: asks 4Gi, 3Gi free of 16Gi\n"+
		"     host-c  host is Down\n"+
		"     host-d  labels do not match hostSelector zone=a\n"+
		"     host-e  host port 8080/tcp taken\n"+
		"unit/db unchanged\n"+
		"  =  host-b  keep\n"+
		"Plan: 1 to create, 0 to replace, 0 to stop, 1 pending.\n")
	if after := e.revision(); after != rev {
		t.Errorf("plan wrote to etcd: revision %d -> %d", rev, after)
	}

	// Nothing to change: exit 0.
	r = e.run(planDB, "plan", "-f", "-")
	if r.code != 0 || !strings.HasSuffix(r.out, "Plan: 0 to create, 0 to replace, 0 to stop, 0 pending: no change.\n") {
		t.Errorf("plan of the stored unit: exit %d, want 0\n%s%s", r.code, r.out, r.err)
	}
	// A bad manifest: exit 2, with the problem.
	r = e.run("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: x}\nspec: {container: {image: a, resources: {memory: lots}}}\n", "plan", "-f", "-")
	if r.code != 2 || !strings.Contains(r.err, "memory") {
		t.Errorf("plan of a bad manifest: exit %d, want 2\n%s%s", r.code, r.out, r.err)
	}

	// -o json has every host's change and reason.
	r = e.run(planWeb, "plan", "-f", "-", "-o", "json")
	var res struct {
		Changes bool
		Objects []struct {
			Kind, Name, Action string
			Pending            int
			Hosts              []struct{ Host, Change string }
			Rejected           []struct{ Host, Reason, Message string }
		}
	}
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || r.code != 1 {
		t.Fatalf("plan -o json: exit %d, %v\n%s%s", r.code, err, r.out, r.err)
	}
	if o := res.Objects[0]; !res.Changes || o.Pending != 1 || len(o.Hosts) != 1 || o.Hosts[0].Host != "host-f" ||
		len(o.Rejected) != 5 || o.Rejected[0].Reason != "NotEnoughMemory" || o.Rejected[4].Reason != "HostPortTaken" {
		t.Errorf("plan -o json: %+v", res)
	}
}

const planJob = `apiVersion: berth.dev/v1
kind: Job
metadata: {name: nc}
spec:
  version: "%[1]s"
  container: {image: "nc:%[1]s", resources: {memory: 1Gi}}
  deployments: %[2]s
  rollout: {parallelism: 1, timeout: 1m%[3]s}
`

// TestPlanJob: a Job's new version replaces it host by host, and plan
// says how it would roll; a host it is deployed to that lacks room is a
// warning (the Job goes there anyway); one it leaves is stopped.
func TestPlanJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sizedHost("host-a", true, nil, 4, 8*gi, 0)
	e.sizedHost("host-b", true, nil, 4, 8*gi, 0)
	e.sizedHost("host-c", true, nil, 1, gi/2, 0)
	job := func(v, hosts, rollout string) string { return fmt.Sprintf(planJob, v, hosts, rollout) }
	if r := e.run(job("1", "[{host: host-a}, {host: host-b}]", ""), "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.err)
	}
	e.putJSON(store.BindingKey("job", "nc"), v1.JobBinding{Hosts: map[string]string{"host-a": "1", "host-b": "1"}})

	r := e.run(job("2", "[{host: host-b}, {host: host-c}]", ""), "plan", "-f", "-")
	if r.code != 1 {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.out, r.err)
	}
	wantEqual(t, "plan of version 2", r.out, ""+
		"job/nc configured\n"+
		"  -  host-a  stop: no longer placed there\n"+
		"  ~  host-b  replace: version 1 -> 2\n"+
		"  +  host-c  create\n"+
		"  rollout: 1 host(s) move to version 2; 1 at a time, each RUNNING and Ready within 1m0s (timeout); onFailure: stop\n"+
		"  ! host-c: not enough memory: asks 1Gi, 512Mi free of 512Mi (placed there anyway)\n"+
		"Plan: 1 to create, 1 to replace, 1 to stop, 0 pending.\n")

	// Canaries, health and autoRevert, with version 1 healthy everywhere.
	e.putJSON(store.BindingKey("job", "nc"), v1.JobBinding{Hosts: map[string]string{"host-a": "1", "host-b": "1"}, Stable: "1"})
	r = e.run(job("2", "[{host: host-a}, {host: host-b}]", ", canary: 1, minHealthyTime: 10s, healthyDeadline: 30s, autoRevert: true"), "plan", "-f", "-")
	wantEqual(t, "plan of a canary", r.out, ""+
		"job/nc configured\n"+
		"  ~  host-a  replace: version 1 -> 2\n"+
		"  ~  host-b  replace: version 1 -> 2\n"+
		"  rollout: 2 host(s) move to version 2; canary 1 first, then waits for applyctl rollout promote; "+
		"1 at a time, each Ready for 10s within 30s (healthyDeadline); a failure reverts every host to version 1\n"+
		"Plan: 0 to create, 2 to replace, 0 to stop, 0 pending.\n")
}
