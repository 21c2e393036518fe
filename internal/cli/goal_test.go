package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// unitDoc is a Unit manifest requiring others.
func unitDoc(name string, requires ...string) string {
	doc := fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  container: {image: %s:1}\n", name, name)
	if len(requires) > 0 {
		doc += "  requires: [" + strings.Join(requires, ", ") + "]\n"
	}
	return doc + "---\n"
}

// applyDocs applies manifests given as text.
func (e *env) applyDocs(docs ...string) {
	e.t.Helper()
	if r := e.run(strings.Join(docs, ""), "apply", "-f", "-"); r.code != 0 {
		e.t.Fatalf("apply: %+v", r)
	}
}

// unitMeta returns a Unit's goal, generation and restarted-at annotation.
func (e *env) unitMeta(name string) (v1.Goal, int64, string) {
	e.t.Helper()
	var u v1.Unit
	e.getJSON("unit", name, &u)
	return u.Spec.Goal, u.Metadata.Generation, u.Metadata.Annotations[v1.AnnotationRestartedAt]
}

// wantGoals checks the goal and generation of Units, by name.
func (e *env) wantGoals(want map[string]string) {
	e.t.Helper()
	for name, w := range want {
		goal, gen, _ := e.unitMeta(name)
		if got := fmt.Sprintf("%s %d", goal, gen); got != w {
			e.t.Errorf("unit/%s: goal and generation %q, want %q", name, got, w)
		}
	}
}

func TestStopStartChain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// c requires b requires a.
	e.applyDocs(unitDoc("a"), unitDoc("b", "a"), unitDoc("c", "b"), unitDoc("other"))

	wantEqual(t, "stop a", e.ok("stop", "unit", "a"),
		"unit/a stopped\nunit/b stopped (requires a)\nunit/c stopped (requires b)\n")
	e.wantGoals(map[string]string{"a": "stop 2", "b": "stop 2", "c": "stop 2", "other": "start 1"})

	rev := e.revision()
	wantEqual(t, "stop a again", e.ok("stop", "unit/a"),
		"unit/a already stopped\nunit/b already stopped (requires a)\nunit/c already stopped (requires b)\n")
	if got := e.revision(); got != rev {
		t.Errorf("stopping stopped units wrote: revision %d -> %d", rev, got)
	}

	wantEqual(t, "start c", e.ok("start", "unit", "c"),
		"unit/c started\nunit/b started (required by c)\nunit/a started (required by b)\n")
	e.wantGoals(map[string]string{"a": "start 3", "b": "start 3", "c": "start 3"})

	wantEqual(t, "stop c", e.ok("stop", "unit", "c"), "unit/c stopped\n")
	e.wantGoals(map[string]string{"a": "start 3", "b": "start 3", "c": "stop 4"})

	wantEqual(t, "start b", e.ok("start", "unit", "b"), "unit/b already started\nunit/a already started (required by b)\n")
	e.wantGoals(map[string]string{"c": "stop 4"})

	// Several names: each once, named ones without a reason.
	wantEqual(t, "stop b a", e.ok("stop", "unit", "b", "a"),
		"unit/b stopped\nunit/a stopped\nunit/c already stopped (requires b)\n")
}

func TestStopStartDiamond(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// top requires left and right, which both require base.
	e.applyDocs(unitDoc("base"), unitDoc("left", "base"), unitDoc("right", "base"), unitDoc("top", "left", "right"))
	wantEqual(t, "stop base", e.ok("stop", "unit", "base"),
		"unit/base stopped\nunit/left stopped (requires base)\nunit/right stopped (requires base)\nunit/top stopped (requires left)\n")
	e.wantGoals(map[string]string{"base": "stop 2", "left": "stop 2", "right": "stop 2", "top": "stop 2"})
	wantEqual(t, "start top", e.ok("start", "unit", "top"),
		"unit/top started\nunit/left started (required by top)\nunit/right started (required by top)\nunit/base started (required by left)\n")
	e.wantGoals(map[string]string{"base": "start 3", "left": "start 3", "right": "start 3", "top": "start 3"})
	wantEqual(t, "stop left", e.ok("stop", "unit", "left"), "unit/left stopped\nunit/top stopped (requires left)\n")
	e.wantGoals(map[string]string{"base": "start 3", "right": "start 3", "left": "stop 4", "top": "stop 4"})
}

func TestStartMissingDependency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.applyDocs(unitDoc("db"), unitDoc("app", "db", "ghost"))
	e.ok("stop", "unit", "db")
	r := e.run("", "start", "unit", "app")
	if r.code != 0 {
		t.Fatalf("exit %d: %+v", r.code, r)
	}
	wantEqual(t, "stdout", r.out, "unit/app started\nunit/db started (required by app)\n")
	wantEqual(t, "stderr", r.err, "unit/app requires unit/ghost, which does not exist: app will wait for it\n")
	e.wantGoals(map[string]string{"app": "start 3", "db": "start 3"}) // stopping db stopped app
}

func TestRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.applyDocs(unitDoc("db"), unitDoc("app", "db"))
	before := time.Now().UTC()
	wantEqual(t, "restart app", e.ok("restart", "unit", "app"), "unit/app restarted\nunit/db already started (required by app)\n")
	goal, gen, at := e.unitMeta("app")
	ts, err := time.Parse(time.RFC3339Nano, at)
	if goal != v1.GoalStart || gen != 1 || err != nil || ts.Before(before.Add(-time.Second)) || ts.Location() != time.UTC || !strings.HasSuffix(at, "Z") {
		t.Errorf("after restart: goal %s generation %d restarted-at %q (%v), want start, 1 and a UTC time after %s", goal, gen, at, err, before)
	}
	if _, _, dbAt := e.unitMeta("db"); dbAt != "" {
		t.Errorf("restart of app annotated db: %q", dbAt)
	}
	// Again: a new time, still no new generation.
	e.ok("restart", "unit", "app")
	if _, gen, at2 := e.unitMeta("app"); gen != 1 || at2 == at {
		t.Errorf("second restart: generation %d, restarted-at %q (was %q)", gen, at2, at)
	}
	// A stopped Unit: restart starts it, a spec change.
	e.ok("stop", "unit", "app")
	e.ok("restart", "unit", "app")
	e.wantGoals(map[string]string{"app": "start 3"})
}

func TestGoalErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.applyDocs(unitDoc("a"))
	rev := e.revision()
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"stop", "unit", "nope"}, 1, "Error: unit \"nope\" not found\n"},
		{[]string{"start", "unit", "a", "nope"}, 1, "Error: unit \"nope\" not found\n"},
		{[]string{"restart", "unit/nope"}, 1, "Error: unit \"nope\" not found\n"},
		{[]string{"stop", "job", "a"}, 2, "Error: stop job needs the job and its hosts: stop job JOB HOST [HOST...]\nSee 'applyctl stop --help' for usage.\n"},
		{[]string{"stop", "service", "a"}, 2, "Error: stop is for units, not services\nSee 'applyctl stop --help' for usage.\n"},
		{[]string{"stop", "unit", "a", "-o", "json"}, 2, "Error: -o is for jobs: stop job JOB HOST... -o json\nSee 'applyctl stop --help' for usage.\n"},
		{[]string{"start", "job", "a", "host-a", "--wait"}, 2, "Error: --wait is for units: applyctl status --job JOB shows a job's instances\nSee 'applyctl start --help' for usage.\n"},
		{[]string{"start", "unit"}, 2, "Error: start needs the name of a unit: start unit NAME\nSee 'applyctl start --help' for usage.\n"},
	} {
		r := e.run("", tc.args...)
		if r.code != tc.code || r.err != tc.err || r.out != "" {
			t.Errorf("applyctl %s: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", strings.Join(tc.args, " "), r.code, r.out, r.err, tc.code, tc.err)
		}
	}
	if got := e.revision(); got != rev {
		t.Errorf("a failed command wrote: revision %d -> %d", rev, got)
	}
}

func TestGoalWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.applyDocs(unitDoc("db"), unitDoc("app", "db"))
	e.setStatus("db", status("host-a", v1.StateRunning, 1, ""))
	e.setStatus("app", status("host-a", v1.StateRunning, 1, ""))

	// stop --wait: until every instance is STOPPED.
	r := e.start("", "stop", "unit", "db", "--wait")
	r.out.waitFor(t, "unit/db stopped\nunit/app stopped (requires db)\n")
	e.setStatus("db", status("host-a", v1.StateStopped, 2, ""))
	if !r.running() {
		t.Fatalf("stop --wait ended while app still runs:\n%s%s", r.out, r.err)
	}
	e.setStatus("app", status("host-a", v1.StateStopped, 2, ""))
	if code := r.exit(); code != 0 {
		t.Fatalf("stop --wait: exit %d\n%s%s", code, r.out, r.err)
	}

	// start --wait: until Ready at the new generation.
	r = e.start("", "start", "unit", "app", "--wait")
	r.out.waitFor(t, "unit/app started\nunit/db started (required by app)\n")
	e.setStatus("db", status("host-a", v1.StateRunning, 3, ""))
	e.setStatus("app", status("host-a", v1.StateRunning, 3, ""))
	if code := r.exit(); code != 0 || !strings.Contains(r.out.String(), "unit/app ready\n") {
		t.Fatalf("start --wait: exit %d\n%s%s", code, r.out, r.err)
	}

	// restart --wait: Ready is not enough, the instance must run again
	// since the restart.
	old := status("host-a", v1.StateRunning, 3, "")
	old.Since = time.Now().Add(-time.Minute)
	e.setStatus("app", old)
	r = e.start("", "restart", "unit", "app", "--wait")
	r.out.waitFor(t, "unit/app restarted\n")
	e.setStatus("app", status("host-a", v1.StateStopping, 3, ""))
	if !r.running() {
		t.Fatalf("restart --wait ended before the restart:\n%s%s", r.out, r.err)
	}
	again := status("host-a", v1.StateRunning, 3, "")
	again.Since = time.Now().Add(time.Second)
	e.setStatus("app", again)
	if code := r.exit(); code != 0 || !strings.Contains(r.out.String(), "unit/app ready\n") {
		t.Fatalf("restart --wait: exit %d\n%s%s", code, r.out, r.err)
	}

	// A timeout says what still runs.
	res := e.run("", "stop", "unit", "app", "--wait", "--timeout", "100ms")
	if res.code != 1 || res.err != "unit/app: host-a: RUNNING\nError: timed out after 100ms waiting for 1 unit to stop\n" {
		t.Errorf("stop --wait timeout: %+v", res)
	}
}
