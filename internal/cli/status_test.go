package cli_test

import (
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

const todoWithDeps = `apiVersion: berth.dev/v1
kind: Unit
metadata: {name: todo}
spec:
  description: To-do list web application
  container:
    image: berth/todo:latest
    command: [/todo, --listen, ":8000"]
    ports: [{name: http, containerPort: 8000}]
    healthCheck: {http: {path: /healthz, port: http}}
  requires: [db]
  wants: [cache]
---
`

func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vm := newFakeController(t)
	e.addHostAt("vm", vm.addr())
	e.applyDocs(todoWithDeps, unitDoc("db"))
	e.setStatus("db", status("vm", v1.StateRunning, 1, ""))
	since := time.Now().Add(-3*time.Minute - 10*time.Second).UTC().Truncate(time.Second)
	exited := since.Add(2 * time.Second)
	code := 137
	in := status("vm", v1.StateRunning, 1, "")
	in.Since, in.ContainerID, in.Restarts, in.LastExitCode, in.LastExitTime = since, "11cb9f0fa986d1e2f3", 1, &code, exited
	e.setStatus("todo", in)
	var lines []string
	for i := 1; i <= 12; i++ {
		lines = append(lines, "GET /items "+strings.Repeat("x", i))
	}
	vm.setLogs("todo", lines...)

	want := "● todo - To-do list web application\n" +
		"     Goal: start\n" +
		"    State: RUNNING since " + since.Format("Mon 2006-01-02 15:04:05 MST") + "; 3min ago\n" +
		"     Host: vm\n" +
		"Container: 11cb9f0fa986 (berth/todo:latest)\n" +
		"  Command: /todo --listen :8000\n" +
		" Restarts: 1 (last exit code 137 at " + exited.Format("15:04:05") + ")\n" +
		" Requires: db (RUNNING on vm)\n" +
		"    Wants: cache (not found)\n" +
		"    After: -\n" +
		"   Health: passing\n" +
		"\n" + strings.Join(lines[2:], "\n") + "\n"
	wantEqual(t, "status", e.ok("status", "unit", "todo"), want)
	wantEqual(t, "query", vm.lastQuery(), "tail=10")

	out := e.ok("status", "unit/todo", "-n", "2", "--no-pager")
	if !strings.HasSuffix(out, "   Health: passing\n\n"+strings.Join(lines[10:], "\n")+"\n") {
		t.Errorf("status -n 2:\n%s", out)
	}
	out = e.ok("status", "unit", "todo", "-n", "0")
	if !strings.HasSuffix(out, "   Health: passing\n") {
		t.Errorf("status -n 0:\n%s", out)
	}

	// Checking, then failing.
	in.State = v1.StateHealthchecking
	e.setStatus("todo", in)
	if out := e.ok("status", "unit", "todo"); !strings.Contains(out, "   Health: checking\n") {
		t.Errorf("healthchecking:\n%s", out)
	}
	in.State = v1.StateRunning
	in.Conditions = []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionFalse, Reason: "Unhealthy", Message: "GET /healthz: 500"}}
	e.setStatus("todo", in)
	if out := e.ok("status", "unit", "todo"); !strings.Contains(out, "   Health: failing: GET /healthz: 500\n") {
		t.Errorf("unhealthy:\n%s", out)
	}
}

func TestStatusSeveralHostsAndNoLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vm := newFakeController(t)
	down := closedAddr(t)
	e.addHostAt("vm", vm.addr())
	e.addHostAt("vm2", down)
	e.applyDocs(unitDoc("db"), unitDoc("web", "db"))
	e.setStatus("web", status("vm", v1.StateRunning, 1, ""))
	e.setStatus("web", status("vm2", v1.StateWaiting, 1, "waiting for unit/db"))
	vm.setLogs("web", "hello")

	r := e.run("", "status", "unit", "web")
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d: %+v", r.code, r)
	}
	want := "● web\n" +
		"     Goal: start\n" +
		"    State: RUNNING\n" +
		"     Host: vm\n" +
		"Container: -\n" +
		"  Command: (the image's)\n" +
		" Restarts: 0\n" +
		" Requires: db (no instance)\n" +
		"    Wants: -\n" +
		"    After: -\n" +
		"   Health: -\n" +
		"\n" +
		"hello\n" +
		"\n" +
		"● web\n" +
		"     Goal: start\n" +
		"    State: WAITING (waiting for unit/db)\n" +
		"     Host: vm2\n" +
		"Container: -\n" +
		"  Command: (the image's)\n" +
		" Restarts: 0\n" +
		" Requires: db (no instance)\n" +
		"    Wants: -\n" +
		"    After: -\n" +
		"   Health: -\n" +
		"\n" +
		"(logs unavailable: host vm2 (" + down + ") did not answer: dial tcp " + down + ": connect: connection refused)\n"
	wantEqual(t, "status", r.out, want)

	// No instance at all; a Unit that does not exist.
	wantEqual(t, "no instance", e.ok("status", "unit", "db"), "● db\n"+
		"     Goal: start\n"+
		"    State: no instance yet\n"+
		"     Host: -\n"+
		"  Command: (the image's)\n"+
		" Requires: -\n"+
		"    Wants: -\n"+
		"    After: -\n")
	if r := e.run("", "status", "unit", "nope"); r.code != 1 || r.err != "Error: unit \"nope\" not found\n" {
		t.Errorf("unknown unit: %+v", r)
	}
}
