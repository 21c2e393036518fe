package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// volumeMsg is what a host says of a hostPath it cannot make.
const volumeMsg = "volumes[0].hostPath /var/lib/berth-volumes/todo: host host-a cannot create the allowed host path /var/lib/berth-volumes: permission denied; " +
	"create it (mkdir -p -m 0755 /var/lib/berth-volumes), or set controller --allowed-host-paths to a directory the controller can create"

// stuckStatus is an instance that is not progressing: its host reports
// state with msg and reason, Ready and Progressing False.
func stuckStatus(host string, state v1.InstanceState, gen int64, reason, msg string) v1.InstanceStatus {
	now := time.Now()
	return v1.InstanceStatus{Host: host, State: state, ObservedGeneration: gen, Message: msg, Conditions: []v1.Condition{
		{Type: v1.ConditionReady, Status: v1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: now},
		{Type: v1.ConditionProgressing, Status: v1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: now},
	}}
}

// progressingStatus is an instance on its way, with a message that is no
// news (a pull under way).
func progressingStatus(host string, state v1.InstanceState, gen int64, msg string) v1.InstanceStatus {
	now := time.Now()
	return v1.InstanceStatus{Host: host, State: state, ObservedGeneration: gen, Message: msg, Conditions: []v1.Condition{
		{Type: v1.ConditionReady, Status: v1.ConditionFalse, Reason: "Starting", LastTransitionTime: now},
		{Type: v1.ConditionProgressing, Status: v1.ConditionTrue, Reason: "Starting", LastTransitionTime: now},
	}}
}

// TestApplyWaitShowsWhy: apply --wait shows an instance's message in its
// progress line while the instance is not progressing, and only then: the
// lines of an instance on its way keep their shape.
func TestApplyWaitShowsWhy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.start("", "apply", "-f", "testdata/todo.yaml", "--wait")
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (no instance yet)\n")
	e.setStatus("todo", progressingStatus("host-a", v1.StatePullingImage, 1, "pulling todo:1"))
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)\n")
	e.setStatus("todo", stuckStatus("host-a", v1.StateCreating, 1, v1.ReasonHostPathUnavailable, volumeMsg))
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: CREATING: "+volumeMsg+")\n")
	e.setStatus("todo", stuckStatus("host-a", v1.StateStarting, 1, v1.ReasonError, "start container 998a1bd5a641: port is already allocated"))
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: STARTING: start container 998a1bd5a641: port is already allocated)\n")
	e.setStatus("todo", progressingStatus("host-a", v1.StateCreating, 1, ""))
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: CREATING)\n")
	if !r.running() {
		t.Fatalf("apply --wait ended while the unit was not ready:\n%s%s", r.out, r.err)
	}
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, ""))
	if code := r.exit(); code != 0 || !strings.HasSuffix(r.out.String(), "unit/todo ready\n") {
		t.Fatalf("exit %d\n%s%s", code, r.out, r.err)
	}
}

// TestWaitSaysWhy: wait, silent while things progress as kubectl wait
// is, says on standard error why an instance is not progressing, and
// keeps waiting: the host may be fixed meanwhile.
func TestWaitSaysWhy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/todo.yaml")
	e.setStatus("todo", progressingStatus("host-a", v1.StatePullingImage, 1, "pulling todo:1"))
	r := e.start("", "wait", "unit/todo", "--for=condition=Ready", "--timeout", "1m")
	e.setStatus("todo", stuckStatus("host-a", v1.StateCreating, 1, v1.ReasonHostPathUnavailable, volumeMsg))
	r.err.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: CREATING: "+volumeMsg+")\n")
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, ""))
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, r.out, r.err)
	}
	wantEqual(t, "stdout", r.out.String(), "unit/todo condition met\n")
	wantEqual(t, "stderr", r.err.String(), "waiting for unit/todo: 0/1 ready (host-a: CREATING: "+volumeMsg+")\n")
}

// TestGetUnitsShowsWhy: get units shows the reason of an instance its
// host cannot create in STATE, as kubectl shows ImagePullBackOff, and the
// message of every instance that is not progressing in a MESSAGE column
// that the table has only then.
func TestGetUnitsShowsWhy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/app.yaml")
	for _, h := range []string{"host-a", "host-b", "host-c"} {
		e.joined(h)
	}
	e.putJSON(store.StatusKey("unit", "server", "host-a"), v1.InstanceStatus{State: v1.StateRunning, ContainerID: "0123456789abcdef", ObservedGeneration: 1,
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue, Reason: "Running"}, {Type: v1.ConditionProgressing, Status: v1.ConditionFalse, Reason: "Running"}}})
	e.putJSON(store.StatusKey("unit", "server", "host-b"), progressingStatus("host-b", v1.StatePullingImage, 1, "pulling server:1"))
	age := regexp.MustCompile(`\b\d+s\b`)
	wantEqual(t, "get units, all progressing", age.ReplaceAllString(e.ok("get", "units"), "0s"), ""+
		"NAME    HOST    STATE          RESTARTS  CONTAINER     PORTS  AGE\n"+
		"db      -       -              0         -             -      0s\n"+
		"server  host-a  RUNNING        0         0123456789ab  -      0s\n"+
		"server  host-b  PULLING_IMAGE  0         -             -      0s\n")

	e.putJSON(store.StatusKey("unit", "db", "host-a"), stuckStatus("host-a", v1.StateCreating, 1, v1.ReasonHostPathUnavailable, volumeMsg))
	e.putJSON(store.StatusKey("unit", "server", "host-c"), stuckStatus("host-c", v1.StateFailed, 1, v1.ReasonPolicyDenied,
		"refused by host host-c's policy: securityContext.privileged is not allowed (controller --allow-privileged)"))
	want := "" +
		"NAME    HOST    STATE                           RESTARTS  CONTAINER     PORTS  AGE  MESSAGE\n" +
		"db      host-a  CREATING (HostPathUnavailable)  0         -             -      0s   " + volumeMsg + "\n" +
		"server  host-a  RUNNING                         0         0123456789ab  -      0s   -\n" +
		"server  host-b  PULLING_IMAGE                   0         -             -      0s   -\n" +
		"server  host-c  FAILED (PolicyDenied)           0         -             -      0s   refused by host host-c's policy: securityContext.privileged is not allowed (controller --allow-privileged)\n"
	wantEqual(t, "get units, two not progressing", age.ReplaceAllString(e.ok("get", "units"), "0s"), want)

	// -o wide has its MESSAGE column already, with every message.
	wide := e.ok("get", "units", "-o", "wide")
	if h := strings.Fields(strings.SplitN(wide, "\n", 2)[0]); strings.Join(h, " ") != "NAME HOST STATE RESTARTS CONTAINER PORTS AGE GOAL IMAGE GENERATION OBSERVED MESSAGE" {
		t.Errorf("get units -o wide header %q", h)
	}
	if !strings.Contains(wide, "pulling server:1") || !strings.Contains(wide, volumeMsg) {
		t.Errorf("get units -o wide lacks a message:\n%s", wide)
	}

	// get -w: the header has the column when a first row has a message.
	r := e.start("", "get", "units", "-w")
	r.out.waitFor(t, "AGE  MESSAGE\n")
	r.out.waitFor(t, volumeMsg+"\n")
	e.putJSON(store.StatusKey("unit", "db", "host-a"), progressingStatus("host-a", v1.StateCreating, 1, ""))
	r.out.waitFor(t, "db      host-a  CREATING                        0")
	lines := strings.Split(strings.TrimSpace(r.out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "db      host-a  CREATING    ") || !strings.HasSuffix(last, "s   -") {
		t.Errorf("get -w, the instance on its way again: %q, want its message cell %q", last, "-")
	}
}

// TestGetUnitsShowsPending: a Unit whose binding leaves replicas pending
// has a PENDING row, with the scheduler's reason as its message, beside
// the instances it has; describe says why too; a binding of an older
// generation says nothing of the Unit as it is.
func TestGetUnitsShowsPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/app.yaml")
	e.joined("host-a")
	reason := "1 of 2 replicas pending: no host can take one: host-b: not enough memory: asks 4Gi, 1Gi free of 8Gi"
	e.putJSON(store.BindingKey("unit", "server"), v1.Binding{Hosts: []string{"host-a"}, Generation: 1, Pending: 1, PendingReason: reason})
	e.putJSON(store.BindingKey("unit", "db"), v1.Binding{Hosts: []string{}, Generation: 0, Pending: 1, PendingReason: "stale"})
	e.putJSON(store.StatusKey("unit", "server", "host-a"), v1.InstanceStatus{State: v1.StateRunning, ContainerID: "0123456789abcdef", ObservedGeneration: 1,
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue, Reason: "Running"}, {Type: v1.ConditionProgressing, Status: v1.ConditionFalse, Reason: "Running"}}})
	age := regexp.MustCompile(`\b\d+s\b`)
	wantEqual(t, "get units", age.ReplaceAllString(e.ok("get", "units"), "0s"), ""+
		"NAME    HOST    STATE    RESTARTS  CONTAINER     PORTS  AGE  MESSAGE\n"+
		"db      -       -        0         -             -      0s   -\n"+
		"server  -       PENDING  0         -             -      0s   "+reason+"\n"+
		"server  host-a  RUNNING  0         0123456789ab  -      0s   -\n")
	if out := e.ok("describe", "unit", "server"); !strings.Contains(out, "Pending:          "+reason+"\n") {
		t.Errorf("describe unit server does not say what is pending:\n%s", out)
	}
	if out := e.ok("get", "unit", "server", "-o", "json"); !strings.Contains(out, `"pending": 1`) || !strings.Contains(out, `"pendingReason": "`+reason+`"`) {
		t.Errorf("get -o json lacks the pending replicas:\n%s", out)
	}
}
