package units

import (
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

func inst(state v1.InstanceState, ready bool, exit *int) v1.InstanceStatus {
	st := v1.InstanceStatus{Host: "h1", State: state, LastExitCode: exit}
	r := v1.ConditionFalse
	if ready {
		r = v1.ConditionTrue
	}
	st.Conditions = []v1.Condition{{Type: v1.ConditionReady, Status: r}}
	if state == v1.StateExited {
		st.Conditions = append(st.Conditions, v1.Condition{Type: v1.ConditionProgressing, Status: v1.ConditionFalse})
	}
	return st
}

func restarting() v1.InstanceStatus {
	code := 1
	st := inst(v1.StateExited, false, &code)
	st.Conditions = []v1.Condition{{Type: v1.ConditionProgressing, Status: v1.ConditionTrue, Reason: "BackOff"}}
	return st
}

func TestJudgeDeps(t *testing.T) {
	zero, one := 0, 1
	up := depInfo{Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateRunning, true, nil)}}
	tests := []struct {
		name     string
		unit     func(*v1.Unit)
		info     map[string]depInfo
		wantWait string
		wantStop string
	}{
		{"no dependencies", nil, nil, "", ""},
		{"required and running", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} }, map[string]depInfo{"db": up}, "", ""},
		{"required unit missing", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} }, nil,
			"waiting for unit db, which does not exist", "required unit db does not exist"},
		{"required unit stopped", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} },
			map[string]depInfo{"db": {Exists: true, Goal: v1.GoalStop}},
			"waiting for unit db, which is stopped", "required unit db was stopped"},
		{"required unit starting", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} },
			map[string]depInfo{"db": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StatePullingImage, false, nil)}}},
			"waiting for db to be started (PULLING_IMAGE on h1)", ""},
		{"required unit without an instance yet", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} },
			map[string]depInfo{"db": {Exists: true, Goal: v1.GoalStart}}, "waiting for db to be started (no instance yet)", ""},
		{"healthy condition, still checking", func(u *v1.Unit) {
			u.Spec.Requires = []string{"db"}
			u.Spec.StartCondition = map[string]v1.StartCondition{"db": v1.StartConditionHealthy}
		}, map[string]depInfo{"db": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateHealthchecking, false, nil)}}},
			"waiting for db to be healthy (HEALTHCHECKING on h1)", ""},
		{"started condition met while checking", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} },
			map[string]depInfo{"db": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateHealthchecking, false, nil)}}}, "", ""},
		{"healthy condition met", func(u *v1.Unit) {
			u.Spec.Requires = []string{"db"}
			u.Spec.StartCondition = map[string]v1.StartCondition{"db": v1.StartConditionHealthy}
		}, map[string]depInfo{"db": up}, "", ""},
		{"completed condition met", func(u *v1.Unit) {
			u.Spec.Requires = []string{"init"}
			u.Spec.StartCondition = map[string]v1.StartCondition{"init": v1.StartConditionCompleted}
		}, map[string]depInfo{"init": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateExited, false, &zero)}}}, "", ""},
		{"completed condition: failed one-shot blocks and stops", func(u *v1.Unit) {
			u.Spec.Requires = []string{"init"}
			u.Spec.StartCondition = map[string]v1.StartCondition{"init": v1.StartConditionCompleted}
		}, map[string]depInfo{"init": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateExited, false, &one)}}},
			"waiting for init to be completed (EXITED on h1)", "required unit init exited"},
		{"required unit restarting after a crash: dependents keep running", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} },
			map[string]depInfo{"db": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{restarting()}}},
			"waiting for db to be started (EXITED on h1)", ""},
		{"required unit failed: dependents stop", func(u *v1.Unit) { u.Spec.Requires = []string{"db"} },
			map[string]depInfo{"db": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{{Host: "h1", State: v1.StateFailed, Message: "too quick"}}}},
			"waiting for db to be started (FAILED on h1)", "required unit db failed: too quick"},
		{"required unit down through what it requires: dependents stop though it still runs", func(u *v1.Unit) { u.Spec.Requires = []string{"api"} },
			map[string]depInfo{"api": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateRunning, true, nil)},
				Down: "requires db, which was stopped"}},
			"waiting for unit api, which requires db, which was stopped", "required unit api, which requires db, which was stopped"},
		{"wanted unit down through what it requires: never blocks", func(u *v1.Unit) { u.Spec.Wants = []string{"api"} },
			map[string]depInfo{"api": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateWaiting, false, nil)},
				Down: "requires db, which was stopped"}}, "", ""},
		{"wants a missing unit: never blocks", func(u *v1.Unit) { u.Spec.Wants = []string{"cache"} }, nil, "", ""},
		{"wants a failed unit: never blocks", func(u *v1.Unit) { u.Spec.Wants = []string{"cache"} },
			map[string]depInfo{"cache": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{{State: v1.StateFailed}}}}, "", ""},
		{"after a unit on its way up: waits", func(u *v1.Unit) { u.Spec.After = []string{"log"} },
			map[string]depInfo{"log": {Exists: true, Goal: v1.GoalStart, Instances: []v1.InstanceStatus{inst(v1.StateStarting, false, nil)}}},
			"waiting for log to finish starting (STARTING on h1)", ""},
		{"after a running unit", func(u *v1.Unit) { u.Spec.After = []string{"log"} }, map[string]depInfo{"log": up}, "", ""},
		{"after a stopped unit", func(u *v1.Unit) { u.Spec.After = []string{"log"} }, map[string]depInfo{"log": {Exists: true, Goal: v1.GoalStop}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := testUnit(tt.unit)
			got := judgeDeps(u, tt.info)
			if got.Wait != tt.wantWait || got.Stop != tt.wantStop {
				t.Errorf("got wait %q stop %q\nwant wait %q stop %q", got.Wait, got.Stop, tt.wantWait, tt.wantStop)
			}
		})
	}
}

func TestPlanDependenciesHealthRestart(t *testing.T) {
	u := testUnit(func(u *v1.Unit) { u.Spec.Requires = []string{"db"} })
	hash := v1.TemplateHash(&u.Spec.Container)
	running := ctr(u, "a", runtime.StateRunning, func(c *runtime.Container) { c.StartedAt = t0.Add(-time.Minute) })
	stoppedByUs := ctr(u, "a", runtime.StateExited, exited(143, t0.Add(-time.Minute), t0.Add(-time.Second)))
	stoppedUnit := testUnit(func(u *v1.Unit) { u.Spec.Goal = v1.GoalStop })
	never := testUnit(func(u *v1.Unit) { u.Spec.Restart.Policy = v1.RestartNever })

	tests := []struct {
		name        string
		in          planInput
		wantActions string
		wantState   v1.InstanceState
		wantMsg     string
		check       func(*testing.T, planOutput)
	}{
		{name: "waits to be created",
			in:        planInput{Unit: u, Placed: true, Now: t0, Deps: depVerdict{Wait: "waiting for db"}},
			wantState: v1.StateWaiting, wantMsg: "waiting for db"},
		{name: "a required unit went down: stop and wait",
			in:          planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Containers: []runtime.Container{running}, Deps: depVerdict{Wait: "w", Stop: "required unit db was stopped"}},
			wantActions: "dep-stop:a", wantState: v1.StateWaiting, wantMsg: "required unit db was stopped",
			check: func(t *testing.T, out planOutput) {
				if !out.Mem.DepStopped {
					t.Error("DepStopped not remembered")
				}
				if a := out.Actions[0]; a.cause != causeDependency || a.why() != "required unit db was stopped" {
					t.Errorf("action %+v says %q", a, a.why())
				}
			}},
		{name: "stopped for its dependencies and they are back: started without back-off or count",
			in:          planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash, DepStopped: true, Restarts: 2}, Containers: []runtime.Container{stoppedByUs}},
			wantActions: "start:a",
			check: func(t *testing.T, out planOutput) {
				if out.Mem.DepStopped || out.Mem.Restarts != 2 {
					t.Errorf("mem %+v", out.Mem)
				}
			}},
		{name: "stopped for its dependencies, still waiting",
			in:        planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash, DepStopped: true}, Containers: []runtime.Container{stoppedByUs}, Deps: depVerdict{Wait: "w"}},
			wantState: v1.StateWaiting, wantMsg: "w"},
		{name: "a crashed container is not restarted while its dependencies are missing",
			in: planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash, SeenExit: t0.Add(-time.Second)}, Deps: depVerdict{Wait: "w"},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(1, t0.Add(-time.Minute), t0.Add(-time.Second)))}},
			wantState: v1.StateWaiting, wantMsg: "w"},
		{name: "health not passed yet: HEALTHCHECKING",
			in:        planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Containers: []runtime.Container{running}, Health: health{Configured: true}},
			wantState: v1.StateHealthchecking},
		{name: "health failing before the first pass: says why",
			in:        planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Containers: []runtime.Container{running}, Health: health{Configured: true, Failures: 2, Output: "connection refused"}},
			wantState: v1.StateHealthchecking, wantMsg: "health check not passed yet (2 failures): connection refused"},
		{name: "healthy: RUNNING",
			in:        planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Containers: []runtime.Container{running}, Health: health{Configured: true, Passed: true}},
			wantState: v1.StateRunning},
		{name: "unhealthy: killed for its restart policy",
			in:          planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Containers: []runtime.Container{running}, Health: health{Configured: true, Passed: true, Unhealthy: true, Output: "503"}},
			wantActions: "kill:a", wantState: v1.StateRunning, wantMsg: "unhealthy: 503",
			check: func(t *testing.T, out planOutput) {
				if !out.Unhealthy {
					t.Error("not reported unhealthy")
				}
				if a := out.Actions[0]; a.cause != causeUnhealthy || a.why() != "503" {
					t.Errorf("action %+v says %q", a, a.why())
				}
			}},
		{name: "killed for failing its health check: on-failure restarts it even after exit 0",
			in: planInput{Unit: testUnit(func(u *v1.Unit) { u.Spec.Restart.Policy = v1.RestartOnFailure }), Placed: true, Now: t0,
				Mem:        memory{Hash: hash, KilledSick: true, Starts: []time.Time{t0.Add(-time.Minute)}},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(0, t0.Add(-time.Minute), t0))}},
			wantActions: "note-exit:a", wantState: v1.StateExited, wantMsg: "exited with code 0; restarting in 1s (back-off)",
			check: func(t *testing.T, out planOutput) {
				if !out.BackOff {
					t.Error("not backing off")
				}
			}},
		{name: "unhealthy with restart never: left running, not ready",
			in: planInput{Unit: never, Placed: true, Now: t0, Mem: memory{Hash: v1.TemplateHash(&never.Spec.Container)},
				Containers: []runtime.Container{ctr(never, "a", runtime.StateRunning, nil)}, Health: health{Configured: true, Unhealthy: true, Output: "503"}},
			wantState: v1.StateRunning, wantMsg: "unhealthy: 503"},
		{name: "restart asked for after the container started",
			in:          planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Containers: []runtime.Container{running}, RestartAt: t0.Add(-time.Second)},
			wantActions: "restart:a",
			check: func(t *testing.T, out planOutput) {
				if !out.Mem.Restarted.Equal(t0.Add(-time.Second)) {
					t.Error("restart not remembered")
				}
			}},
		{name: "restart asked for before the container started: done already",
			in:        planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Containers: []runtime.Container{running}, RestartAt: t0.Add(-time.Hour)},
			wantState: v1.StateRunning},
		{name: "restart resets FAILED",
			in: planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash, Failed: "too quick", FailedGen: 1, SeenExit: t0.Add(-time.Second)}, RestartAt: t0,
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(1, t0.Add(-time.Minute), t0.Add(-time.Second)))}},
			wantActions: "start:a"},
		{name: "stop waits for the units that depend on it",
			in: planInput{Unit: stoppedUnit, Placed: true, Now: t0, Containers: []runtime.Container{ctr(stoppedUnit, "a", runtime.StateRunning, nil)},
				DependentsUp: []string{"proxy"}},
			wantState: v1.StateStopping, wantMsg: "waiting for proxy to stop first"},
		{name: "stop does not wait for ever",
			in: planInput{Unit: stoppedUnit, Placed: true, Now: t0, Mem: memory{StopWait: t0.Add(-StopOrderTimeout)},
				Containers: []runtime.Container{ctr(stoppedUnit, "a", runtime.StateRunning, nil)}, DependentsUp: []string{"proxy"}},
			wantActions: "stop:a", wantState: v1.StateStopped},
		{name: "started again after a goal stop: not counted as a restart",
			in: planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash, DepStopped: true, Restarts: 0, SeenExit: t0.Add(-time.Second)},
				Containers: []runtime.Container{stoppedByUs}},
			wantActions: "start:a",
			check: func(t *testing.T, out planOutput) {
				if out.Mem.Restarts != 0 {
					t.Errorf("restarts %d", out.Mem.Restarts)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := plan(tt.in)
			if got := kinds(out.Actions); got != tt.wantActions {
				t.Errorf("actions = %q, want %q", got, tt.wantActions)
			}
			if tt.wantState != "" && out.State != tt.wantState {
				t.Errorf("state = %q, want %q", out.State, tt.wantState)
			}
			if tt.wantMsg != "" && out.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", out.Message, tt.wantMsg)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

// TestChainDown: a unit is down through what it requires when a unit
// down its chain of requires is missing, stopped, failed or exited for
// good, whatever its own instances show; not while one is on its way up
// or restarting after a crash, nor through wants; a cycle ends.
func TestChainDown(t *testing.T) {
	zero := 0
	running := []v1.InstanceStatus{inst(v1.StateRunning, true, nil)}
	waiting := []v1.InstanceStatus{inst(v1.StateWaiting, false, nil)}
	unit := func(name string, goal v1.Goal, requires ...string) *v1.Unit {
		return testUnit(func(u *v1.Unit) { u.Metadata.Name, u.Spec.Goal, u.Spec.Requires = name, goal, requires })
	}
	type known struct {
		u     *v1.Unit
		insts []v1.InstanceStatus
	}
	tests := []struct {
		name  string
		units []known
		want  string // of chainDown("web")
	}{
		{"every unit up", []known{{unit("web", "", "api"), running}, {unit("api", "", "db"), running}, {unit("db", ""), running}}, ""},
		{"a requirement stopped", []known{{unit("web", "", "api"), running}, {unit("api", "", "db"), waiting}, {unit("db", v1.GoalStop), nil}},
			"requires api, which requires db, which was stopped"},
		{"a requirement's requirement stopped, the requirement running yet",
			[]known{{unit("web", "", "api"), running}, {unit("api", "", "db"), running}, {unit("db", "", "disk"), running}, {unit("disk", v1.GoalStop), nil}},
			"requires api, which requires db, which requires disk, which was stopped"},
		{"a requirement deleted", []known{{unit("web", "", "api"), running}, {unit("api", "", "db"), waiting}}, "requires api, which requires db, which does not exist"},
		{"a requirement failed", []known{{unit("web", "", "api"), running}, {unit("api", "", "db"), waiting},
			{unit("db", ""), []v1.InstanceStatus{{Host: "h1", State: v1.StateFailed, Message: "start limit"}}}},
			"requires api, which requires db, which failed: start limit"},
		{"a requirement restarting after a crash", []known{{unit("web", "", "api"), running}, {unit("api", "", "db"), waiting},
			{unit("db", ""), []v1.InstanceStatus{restarting()}}}, ""},
		{"a requirement on its way up", []known{{unit("web", "", "api"), running}, {unit("api", "", "db"), waiting},
			{unit("db", ""), []v1.InstanceStatus{inst(v1.StateStarting, false, nil)}}}, ""},
		{"a one-shot requirement completed", []known{{unit("web", "", "api"), running},
			{testUnit(func(u *v1.Unit) {
				u.Metadata.Name, u.Spec.Requires = "api", []string{"init"}
				u.Spec.StartCondition = map[string]v1.StartCondition{"init": v1.StartConditionCompleted}
			}), running},
			{unit("init", ""), []v1.InstanceStatus{inst(v1.StateExited, false, &zero)}}}, ""},
		{"a wanted unit stopped", []known{{unit("web", "", "api"), running},
			{testUnit(func(u *v1.Unit) { u.Metadata.Name, u.Spec.Wants = "api", []string{"db"} }), running}, {unit("db", v1.GoalStop), nil}}, ""},
		{"a cycle", []known{{unit("web", "", "api"), running}, {unit("api", "", "db"), running}, {unit("db", "", "api"), running}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			look := func(name string) (*v1.Unit, depInfo) {
				for _, k := range tt.units {
					if k.u.Metadata.Name == name {
						return k.u, depInfo{Exists: true, Goal: k.u.Spec.Goal, Instances: k.insts}
					}
				}
				return nil, depInfo{}
			}
			if got := chainDown("web", look, map[string]bool{"web": true}); got != tt.want {
				t.Errorf("chainDown(web) = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDepIndexRelated: a change of a unit looks again at the units that
// require it, at those that require them, and at what it depends on.
func TestDepIndexRelated(t *testing.T) {
	x := newDepIndex()
	x.set("web", testUnit(func(u *v1.Unit) { u.Metadata.Name, u.Spec.Requires = "web", []string{"api"} }))
	x.set("api", testUnit(func(u *v1.Unit) {
		u.Metadata.Name, u.Spec.Requires, u.Spec.After = "api", []string{"db"}, []string{"log"}
	}))
	x.set("db", testUnit(func(u *v1.Unit) { u.Metadata.Name = "db" }))
	x.set("other", testUnit(func(u *v1.Unit) { u.Metadata.Name = "other" }))
	for _, tt := range []struct{ name, want string }{
		{"db", "api web"},
		{"api", "db log web"},
		{"web", "api"},
		{"other", ""},
	} {
		if got := strings.Join(x.related(tt.name), " "); got != tt.want {
			t.Errorf("related(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
