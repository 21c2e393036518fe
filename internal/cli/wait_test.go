package cli_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/cli"
	"berth.dev/berth/internal/events"
	"berth.dev/berth/internal/store"
)

// running is applyctl running in the background, its output read as it
// comes.
type running struct {
	t        *testing.T
	out, err *syncBuffer
	done     chan int
	cancel   context.CancelFunc
}

// start runs applyctl with stdin and args in the background; it is
// interrupted at the end of the test.
func (e *env) start(stdin string, args ...string) *running {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: e.t, out: newSyncBuffer(), err: newSyncBuffer(), done: make(chan int, 1), cancel: cancel}
	go func() {
		r.done <- cli.Main(ctx, append(args, "--etcd-endpoints", e.eps), cli.Streams{In: strings.NewReader(stdin), Out: r.out, Err: r.err}, nil)
	}()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			e.t.Error("applyctl did not return after its context ended")
		}
	})
	return r
}

// exit waits for the command to end and returns its exit code.
func (r *running) exit() int {
	r.t.Helper()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(20 * time.Second):
		r.t.Fatalf("applyctl did not end within 20s\nstdout:\n%s\nstderr:\n%s", r.out, r.err)
	}
	return -1
}

// running reports whether the command is still running, without waiting.
func (r *running) running() bool {
	select {
	case code := <-r.done:
		r.done <- code
		return false
	default:
		return true
	}
}

// status is an instance status at generation gen, Ready when state is
// RUNNING.
func status(host string, state v1.InstanceState, gen int64, msg string) v1.InstanceStatus {
	ready := v1.ConditionFalse
	if state == v1.StateRunning {
		ready = v1.ConditionTrue
	}
	return v1.InstanceStatus{Host: host, State: state, ObservedGeneration: gen, Message: msg,
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: ready, Reason: string(state), LastTransitionTime: time.Now()}}}
}

// setStatus writes the status of a Unit's instance as its host does; a
// host that writes a status has joined: it gets a record, Up, unless it
// has one.
func (e *env) setStatus(name string, st v1.InstanceStatus) {
	e.t.Helper()
	e.joined(st.Host)
	e.putJSON(store.StatusKey("Unit", name, st.Host), st)
}

// joined adds an Up host of that name unless there is one, Up or Down.
func (e *env) joined(host string) {
	e.t.Helper()
	if _, err := e.st.Get(context.Background(), store.HostKey(host)); errors.Is(err, store.ErrNotFound) {
		e.addHost(host, true, nil)
	} else if err != nil {
		e.t.Fatal(err)
	}
}

// addHost stores a host record, Up (with an alive key) when up.
func (e *env) addHost(name string, up bool, labels map[string]string) {
	e.t.Helper()
	e.putJSON(store.HostKey(name), v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost},
		Metadata: v1.ObjectMeta{Name: name, Labels: labels}})
	if up {
		e.putJSON(store.AliveKey(name), map[string]string{})
	}
}

func TestApplyWaitReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.start("", "apply", "-f", "testdata/todo.yaml", "-f", "testdata/job.yaml", "--wait")
	r.out.waitFor(t, "unit/todo created\njob/netcat created\nwaiting for unit/todo: 0/1 ready (no instance yet)\n")
	e.setStatus("todo", status("host-a", v1.StatePullingImage, 1, "pulling todo:1"))
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)\n")
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, ""))
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, r.out, r.err)
	}
	if !strings.HasSuffix(r.out.String(), "unit/todo ready\n") || strings.Contains(r.out.String(), "netcat ready") {
		t.Errorf("stdout:\n%s", r.out)
	}

	// Already ready: at once.
	wantEqual(t, "apply --wait of a ready unit", e.ok("apply", "-f", "testdata/todo.yaml", "--wait"), "unit/todo unchanged\nunit/todo ready\n")
}

func TestApplyWaitForCurrentGeneration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/todo.yaml")
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, ""))
	r := e.start("", "apply", "-f", "testdata/todo-v2.yaml", "--wait")
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: RUNNING at generation 1)\n")
	// Still generation 1, another change: still waiting.
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, "still the old one"))
	e.setStatus("todo", status("host-a", v1.StatePullingImage, 2, ""))
	r.out.waitFor(t, "waiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)\n")
	if !r.running() {
		t.Fatalf("apply --wait ended before generation 2 was ready:\n%s%s", r.out, r.err)
	}
	e.setStatus("todo", status("host-a", v1.StateRunning, 2, ""))
	if code := r.exit(); code != 0 || !strings.HasSuffix(r.out.String(), "unit/todo ready\n") {
		t.Fatalf("exit %d\n%s%s", code, r.out, r.err)
	}
}

func TestApplyWaitFailsFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.start("", "apply", "-f", "testdata/todo.yaml", "--wait")
	r.out.waitFor(t, "0/1 ready (no instance yet)")
	e.setStatus("todo", status("host-a", v1.StateFailed, 1, "start limit hit: exited 5 times within 10s (last exit code 1)"))
	if code := r.exit(); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, r.out, r.err)
	}
	want := "Error: unit/todo failed on host-a: start limit hit: exited 5 times within 10s (last exit code 1)\n" +
		"unit/todo: 0/1 ready at generation 1\n" +
		"  host-a: FAILED: start limit hit: exited 5 times within 10s (last exit code 1)\n"
	wantEqual(t, "stderr", r.err.String(), want)
}

func TestApplyWaitTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/todo.yaml")
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, ""))
	e.setStatus("todo", status("host-b", v1.StatePullingImage, 2, "pulling image todo:2"))
	stdin := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: db}\nspec: {container: {image: db:1}}\n---\n" +
		"apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: todo}\nspec:\n  container: {image: todo:2}\n  placement: {replicas: 2}\n"
	r := e.run(stdin, "apply", "-f", "-", "--wait", "--timeout", "200ms")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %+v", r.code, r)
	}
	wantEqual(t, "stderr", r.err, "Error: timed out after 200ms waiting for 2 units to be ready\n"+
		"unit/db: 0/1 ready at generation 1\n"+
		"  no instance yet\n"+
		"unit/todo: 0/2 ready at generation 2\n"+
		"  host-a: RUNNING, observed generation 1\n"+
		"  host-b: PULLING_IMAGE: pulling image todo:2\n")
	if !strings.HasPrefix(r.out, "unit/db created\nunit/todo configured\n") {
		t.Errorf("stdout:\n%s", r.out)
	}
}

func TestApplyWaitExpectedInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addHost("host-a", true, map[string]string{"zone": "a"})
	e.addHost("host-b", true, map[string]string{"zone": "a"})
	e.addHost("host-c", false, map[string]string{"zone": "a"}) // down
	e.addHost("host-d", true, map[string]string{"zone": "b"})  // does not match

	global := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: agent}\nspec:\n  container: {image: agent:1}\n  placement: {global: true, hostSelector: {zone: a}}\n"
	r := e.start(global, "apply", "-f", "-", "--wait")
	r.out.waitFor(t, "waiting for unit/agent: 0/2 ready (no instance yet)\n")
	e.setStatus("agent", status("host-d", v1.StateRunning, 1, "")) // not a host it runs on
	e.setStatus("agent", status("host-c", v1.StateRunning, 1, "")) // down
	e.setStatus("agent", status("host-a", v1.StateRunning, 1, ""))
	r.out.waitFor(t, "waiting for unit/agent: 1/2 ready (host-a: RUNNING)\n")
	e.setStatus("agent", status("host-b", v1.StateRunning, 1, ""))
	if code := r.exit(); code != 0 || !strings.HasSuffix(r.out.String(), "unit/agent ready\n") {
		t.Fatalf("global: exit %d\n%s%s", code, r.out, r.err)
	}

	pinned := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: pinned}\nspec:\n  container: {image: pinned:1}\n  placement: {hosts: [host-a, host-c]}\n"
	r = e.start(pinned, "apply", "-f", "-", "--wait")
	r.out.waitFor(t, "waiting for unit/pinned: 0/2 ready (no instance yet)\n")
	e.setStatus("pinned", status("host-b", v1.StateRunning, 1, "")) // not named
	e.setStatus("pinned", status("host-a", v1.StateRunning, 1, ""))
	r.out.waitFor(t, "waiting for unit/pinned: 1/2 ready (host-a: RUNNING)\n")
	// A pinned unit counts the hosts it names, Up or not.
	e.setStatus("pinned", status("host-c", v1.StateRunning, 1, ""))
	if code := r.exit(); code != 0 || !strings.HasSuffix(r.out.String(), "unit/pinned ready\n") {
		t.Fatalf("pinned: exit %d\n%s%s", code, r.out, r.err)
	}

	// A global unit waits for the hosts that come up meanwhile.
	e.putJSON(store.AliveKey("host-c"), map[string]string{})
	r = e.start(global, "apply", "-f", "-", "--wait")
	if code := r.exit(); code != 0 || !strings.HasSuffix(r.out.String(), "unit/agent ready\n") {
		t.Fatalf("host-c up, ready there: exit %d\n%s%s", code, r.out, r.err)
	}
	e.addHost("host-e", true, map[string]string{"zone": "a"})
	r = e.start(global, "apply", "-f", "-", "--wait")
	r.out.waitFor(t, "waiting for unit/agent: 3/4 ready (host-a: RUNNING, host-b: RUNNING, host-c: RUNNING)\n")
	e.setStatus("agent", status("host-e", v1.StateRunning, 1, ""))
	if code := r.exit(); code != 0 {
		t.Fatalf("host-e: exit %d\n%s%s", code, r.out, r.err)
	}
}

func TestApplyWaitUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{
		{"apply", "-f", "testdata/todo.yaml", "--wait", "--dry-run"},
		{"apply", "-f", "testdata/todo.yaml", "--timeout", "1m"},
	} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("applyctl %v: exit %d, want 2: %+v", args, r.code, r)
		}
	}
	// Jobs and Services are not waited for.
	wantEqual(t, "only a job", e.ok("apply", "-f", "testdata/job.yaml", "--wait"), "job/netcat created\n")
}

func TestWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/app.yaml")
	r := e.start("", "wait", "unit/db", "unit/server", "--for=condition=Ready")
	e.setStatus("db", status("host-a", v1.StateRunning, 1, ""))
	r.out.waitFor(t, "unit/db condition met\n")
	e.setStatus("server", status("host-a", v1.StateRunning, 1, ""))
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, r.out, r.err)
	}
	wantEqual(t, "wait output", r.out.String(), "unit/db condition met\nunit/server condition met\n")

	res := e.run("", "wait", "unit", "db", "--for", "condition=ready=true", "--timeout", "0")
	wantEqual(t, "already met, checked once", res.out, "unit/db condition met\n")

	e.ok("apply", "-f", "testdata/todo.yaml")
	res = e.run("", "wait", "unit/todo", "unit/db", "--for=condition=Ready", "--timeout", "100ms")
	if res.code != 1 || res.err != "error: timed out waiting for the condition on unit/todo\n" || res.out != "unit/db condition met\n" {
		t.Errorf("wait timed out: %+v", res)
	}
	if res := e.run("", "wait", "unit/nope", "--for=condition=Ready"); res.code != 1 || res.err != "Error: unit \"nope\" not found\n" {
		t.Errorf("wait for an absent unit: %+v", res)
	}

	r = e.start("", "wait", "unit/todo", "job/netcat", "--for=delete")
	e.ok("delete", "unit", "todo")
	r.out.waitFor(t, "unit/todo deleted\n")
	e.ok("delete", "job", "netcat")
	if code := r.exit(); code != 0 {
		t.Fatalf("wait --for=delete: exit %d\n%s%s", code, r.out, r.err)
	}
	wantEqual(t, "wait --for=delete", r.out.String(), "unit/todo deleted\njob/netcat deleted\n")
	res = e.run("", "wait", "unit/db", "--for=delete", "--timeout", "100ms")
	if res.code != 1 || res.err != "error: timed out waiting for the condition on unit/db\n" {
		t.Errorf("wait --for=delete timed out: %+v", res)
	}
	wantEqual(t, "wait --for=delete of an absent unit", e.ok("wait", "unit/nope", "--for=delete"), "unit/nope deleted\n")

	for _, args := range [][]string{
		{"wait", "unit/db"},
		{"wait", "unit/db", "--for=condition=Healthy"},
		{"wait", "job/netcat", "--for=condition=Ready"},
		{"wait", "host/host-a", "--for=delete"},
		{"wait", "unit", "--for=delete"},
	} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("applyctl %v: exit %d, want 2: %+v", args, r.code, r)
		}
	}
}

func TestGetEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.run("", "get", "events"); r.code != 0 || r.err != "No events found.\n" {
		t.Errorf("no events: %+v", r)
	}
	rec := events.NewRecorder(e.st, "host-a", nil)
	ctx := context.Background()
	rec.Event(ctx, "Unit", "todo", v1.EventNormal, "Pulled", "pulled image todo:1")
	rec.Event(ctx, "Job", "netcat", v1.EventNormal, "Deployed", "deployed netcat:1")
	rec.Event(ctx, "Unit", "todo", v1.EventWarning, "BackOff", "back-off restarting")
	rec.Event(ctx, "Unit", "todo", v1.EventWarning, "BackOff", "back-off restarting")
	wantEqual(t, "get events", e.ok("get", "events"), ""+
		"LAST SEEN  TYPE     REASON    OBJECT      HOST    MESSAGE\n"+
		"0s         Normal   Pulled    unit/todo   host-a  pulled image todo:1\n"+
		"0s         Normal   Deployed  job/netcat  host-a  deployed netcat:1\n"+
		"0s         Warning  BackOff   unit/todo   host-a  back-off restarting\n")
	if out := e.ok("get", "ev", "-o", "wide"); !strings.Contains(out, "FIRST SEEN  COUNT\n") || !strings.Contains(out, "back-off restarting  0s          2\n") {
		t.Errorf("get ev -o wide:\n%s", out)
	}
	if out := e.ok("get", "event", "-o", "json"); !strings.Contains(out, `"kind": "List"`) || !strings.Contains(out, `"reason": "BackOff"`) || !strings.Contains(out, `"count": 2`) {
		t.Errorf("get event -o json:\n%s", out)
	}
	e.ok("apply", "-f", "testdata/todo.yaml")
	out := e.ok("describe", "unit", "todo")
	if !strings.Contains(out, "  Warning  BackOff  0s (x2 over 0s)  host-a  back-off restarting\n") {
		t.Errorf("describe of recorded events:\n%s", out)
	}

	r := e.start("", "get", "events", "-w")
	r.out.waitFor(t, "back-off restarting\n")
	rec.Event(ctx, "Unit", "db", v1.EventWarning, "Died", "exit code 1")
	r.out.waitFor(t, "0s         Warning  Died      unit/db     host-a  exit code 1\n")
	rec.Event(ctx, "Unit", "todo", v1.EventWarning, "BackOff", "back-off restarting")
	r.out.waitFor(t, "Died      unit/db     host-a  exit code 1\n0s         Warning  BackOff   unit/todo   host-a  back-off restarting\n")

	for _, args := range [][]string{{"get", "events", "x"}, {"describe", "events", "x"}, {"delete", "events", "x"}} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("applyctl %v: exit %d, want 2", args, r.code)
		}
	}
}

func TestGetWatchDeletedAndHostCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/app.yaml")
	e.setStatus("server", status("host-a", v1.StateRunning, 1, ""))
	r := e.start("", "get", "units", "-w")
	r.out.waitFor(t, "server  host-a  RUNNING")
	e.ok("delete", "unit", "server")
	r.out.waitFor(t, "server  -       deleted  0")
	// The status the controller removes later prints nothing more.
	if _, err := e.st.Delete(context.Background(), store.StatusKey("unit", "server", "host-a")); err != nil {
		t.Fatal(err)
	}
	e.ok("delete", "unit", "db")
	r.out.waitFor(t, "db      -       deleted  0")
	if n := strings.Count(r.out.String(), "deleted"); n != 2 {
		t.Errorf("%d deleted rows, want 2:\n%s", n, r.out)
	}

	e.addHost("host-a", true, nil)
	h := e.start("", "get", "hosts", "-w")
	h.out.waitFor(t, "host-a  UP      0         0")
	e.ok("apply", "-f", "testdata/todo.yaml")
	e.setStatus("todo", status("host-a", v1.StatePullingImage, 1, ""))
	h.out.waitFor(t, "host-a  UP      1         0")
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, ""))
	h.out.waitFor(t, "host-a  UP      1         1")
}
