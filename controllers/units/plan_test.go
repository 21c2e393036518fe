package units

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testUnit(mod func(*v1.Unit)) *v1.Unit {
	u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit},
		Metadata: v1.ObjectMeta{Name: "web", Generation: 1},
		Spec:     v1.UnitSpec{Container: v1.ContainerTemplate{Image: "berth/testapp"}}}
	if mod != nil {
		mod(u)
	}
	v1.Default(u)
	return u
}

func ctr(u *v1.Unit, id string, state runtime.ContainerState, mod func(*runtime.Container)) runtime.Container {
	c := runtime.Container{ID: id, State: state, Labels: map[string]string{
		v1.LabelHost: "h", v1.LabelKind: v1.KindUnit, v1.LabelName: u.Metadata.Name,
		v1.LabelSpecHash: v1.TemplateHash(&u.Spec.Container)}}
	if mod != nil {
		mod(&c)
	}
	return c
}

func exited(code int, started, finished time.Time) func(*runtime.Container) {
	return func(c *runtime.Container) { c.ExitCode, c.StartedAt, c.FinishedAt = code, started, finished }
}

func kinds(acts []action) string {
	var s []string
	for _, a := range acts {
		k := [...]string{"remove", "stop", "create", "start", "note-exit", "kill", "restart", "dep-stop"}[a.kind]
		if a.crash() {
			k = "crash-" + k
		}
		s = append(s, k+":"+a.id)
	}
	return strings.Join(s, ",")
}

func TestPlan(t *testing.T) {
	u := testUnit(nil)
	never := testUnit(func(u *v1.Unit) { u.Spec.Restart.Policy = v1.RestartNever })
	onFailure := testUnit(func(u *v1.Unit) { u.Spec.Restart.Policy = v1.RestartOnFailure })
	stopped := testUnit(func(u *v1.Unit) { u.Spec.Goal = v1.GoalStop })
	changed := testUnit(func(u *v1.Unit) { u.Spec.Container.Args = []string{"--new"} })
	hash := v1.TemplateHash(&u.Spec.Container)
	limit := testUnit(func(u *v1.Unit) {
		u.Spec.Restart.StartLimit = &v1.StartLimit{Burst: 3, Interval: &v1.Duration{Duration: time.Minute}}
	})
	code1 := 1

	tests := []struct {
		name        string
		in          planInput
		wantActions string
		wantState   v1.InstanceState
		wantMsg     string
		wantRequeue time.Duration
		wantDelete  bool
		wantBackOff bool
		// wantCauses, when set, are the causes of the actions.
		wantCauses []cause
		check      func(t *testing.T, out planOutput)
	}{
		{name: "new unit is created",
			in:          planInput{Unit: u, Placed: true, Now: t0},
			wantActions: "create:"},
		{name: "running container is left alone",
			in:        planInput{Unit: u, Placed: true, Containers: []runtime.Container{ctr(u, "a", runtime.StateRunning, nil)}, Now: t0, Mem: memory{Hash: hash}},
			wantState: v1.StateRunning},
		{name: "deleted unit: containers removed, status deleted",
			in:          planInput{Unit: nil, Containers: []runtime.Container{ctr(u, "a", runtime.StateRunning, nil)}, Now: t0},
			wantActions: "remove:a", wantDelete: true, wantCauses: []cause{causeDeleted}},
		{name: "unit placed elsewhere is removed from this host",
			in:          planInput{Unit: u, Placed: false, Containers: []runtime.Container{ctr(u, "a", runtime.StateRunning, nil)}, Now: t0},
			wantActions: "remove:a", wantDelete: true, wantCauses: []cause{causeNotPlaced}},
		{name: "orphan with nothing stored",
			in:          planInput{Unit: nil, Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, nil)}, Now: t0},
			wantActions: "remove:a", wantDelete: true},
		{name: "template changed: old removed, new created",
			in:          planInput{Unit: changed, Placed: true, Containers: []runtime.Container{ctr(u, "old", runtime.StateRunning, nil)}, Now: t0},
			wantActions: "remove:old,create:", wantCauses: []cause{causeTemplateChanged, causeNone}},
		{name: "a run's container is kept whatever the template became (KeepTemplate)",
			in:        planInput{Unit: changed, Placed: true, KeepTemplate: true, Containers: []runtime.Container{ctr(u, "old", runtime.StateRunning, nil)}, Now: t0},
			wantState: v1.StateRunning},
		{name: "duplicate containers: extras removed",
			in: planInput{Unit: u, Placed: true, Mem: memory{Hash: hash}, Now: t0, Containers: []runtime.Container{
				ctr(u, "a", runtime.StateRunning, nil), ctr(u, "b", runtime.StateRunning, nil)}},
			wantActions: "remove:b", wantState: v1.StateRunning, wantCauses: []cause{causeDuplicate}},
		{name: "goal stop stops a running container and keeps it",
			in:          planInput{Unit: stopped, Placed: true, Containers: []runtime.Container{ctr(stopped, "a", runtime.StateRunning, nil)}, Now: t0},
			wantActions: "stop:a", wantState: v1.StateStopped, wantCauses: []cause{causeGoalStop}},
		{name: "goal stop with the container already stopped does nothing",
			in:        planInput{Unit: stopped, Placed: true, Containers: []runtime.Container{ctr(stopped, "a", runtime.StateExited, nil)}, Now: t0},
			wantState: v1.StateStopped},
		{name: "goal stop without a container creates nothing",
			in:        planInput{Unit: stopped, Placed: true, Now: t0},
			wantState: v1.StateStopped},
		{name: "created but never started is started",
			in:          planInput{Unit: u, Placed: true, Mem: memory{Hash: hash}, Containers: []runtime.Container{ctr(u, "a", runtime.StateCreated, nil)}, Now: t0},
			wantActions: "start:a", wantCauses: []cause{causeNotStarted}},
		{name: "created but never started waits for its dependencies",
			in: planInput{Unit: u, Placed: true, Mem: memory{Hash: hash}, Containers: []runtime.Container{ctr(u, "a", runtime.StateCreated, nil)}, Now: t0,
				Deps: depVerdict{Wait: "waiting for db"}},
			wantState: v1.StateWaiting, wantMsg: "waiting for db"},
		{name: "first exit: noted, then waits the restart delay",
			in: planInput{Unit: u, Placed: true, Mem: memory{Hash: hash, Starts: []time.Time{t0.Add(-5 * time.Second)}}, Now: t0,
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(137, t0.Add(-5*time.Second), t0))}},
			wantActions: "note-exit:a", wantState: v1.StateExited, wantMsg: "exited with code 137; restarting in 1s (back-off)", wantRequeue: time.Second, wantBackOff: true,
			check: func(t *testing.T, out planOutput) {
				if out.Mem.LastExitCode == nil || *out.Mem.LastExitCode != 137 || !out.Mem.LastExitTime.Equal(t0) {
					t.Errorf("exit not remembered: %+v", out.Mem)
				}
			}},
		{name: "delay passed: restarted",
			in: planInput{Unit: u, Placed: true, Now: t0.Add(time.Second),
				Mem:        memory{Hash: hash, Starts: []time.Time{t0.Add(-5 * time.Second)}, Delay: time.Second, SeenExit: t0, LastExitTime: t0, LastExitCode: &code1},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(1, t0.Add(-5*time.Second), t0))}},
			wantActions: "crash-start:a", wantCauses: []cause{causeExited},
			check: func(t *testing.T, out planOutput) {
				if why := out.Actions[0].why(); why != "exited with code 1" {
					t.Errorf("why = %q", why)
				}
			}},
		{name: "dead container: restarted like an exited one",
			in: planInput{Unit: u, Placed: true, Now: t0.Add(time.Second),
				Mem:        memory{Hash: hash, Starts: []time.Time{t0.Add(-5 * time.Second)}, Delay: time.Second, SeenExit: t0, LastExitTime: t0, LastExitCode: &code1},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateDead, exited(1, t0.Add(-5*time.Second), t0))}},
			wantActions: "crash-start:a"},
		{name: "the same exit is noted once",
			in: planInput{Unit: u, Placed: true, Now: t0.Add(300 * time.Millisecond),
				Mem:        memory{Hash: hash, Starts: []time.Time{t0.Add(-5 * time.Second)}, Delay: time.Second, SeenExit: t0, LastExitTime: t0, LastExitCode: &code1},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(1, t0.Add(-5*time.Second), t0))}},
			wantState: v1.StateExited, wantRequeue: 700 * time.Millisecond, wantBackOff: true},
		{name: "a long run resets the delay",
			in: planInput{Unit: u, Placed: true, Now: t0,
				Mem:        memory{Hash: hash, Starts: []time.Time{t0.Add(-2 * time.Hour)}, Delay: 4 * time.Minute},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(1, t0.Add(-2*time.Hour), t0))}},
			wantActions: "note-exit:a", wantState: v1.StateExited, wantRequeue: time.Second, wantBackOff: true},
		{name: "policy never: stays exited",
			in:          planInput{Unit: never, Placed: true, Now: t0, Containers: []runtime.Container{ctr(never, "a", runtime.StateExited, exited(1, t0.Add(-time.Second), t0))}},
			wantActions: "note-exit:a", wantState: v1.StateExited, wantMsg: "exited with code 1; restart policy never"},
		{name: "on-failure after exit 0: stays exited",
			in:          planInput{Unit: onFailure, Placed: true, Now: t0, Containers: []runtime.Container{ctr(onFailure, "a", runtime.StateExited, exited(0, t0.Add(-time.Second), t0))}},
			wantActions: "note-exit:a", wantState: v1.StateExited},
		{name: "on-failure after exit 3: restarts after the delay",
			in: planInput{Unit: onFailure, Placed: true, Now: t0, Mem: memory{Hash: v1.TemplateHash(&onFailure.Spec.Container), Starts: []time.Time{t0.Add(-time.Second)}},
				Containers: []runtime.Container{ctr(onFailure, "a", runtime.StateExited, exited(3, t0.Add(-time.Second), t0))}},
			wantActions: "note-exit:a", wantState: v1.StateExited, wantRequeue: time.Second, wantBackOff: true},
		{name: "start limit: FAILED",
			in: planInput{Unit: limit, Placed: true, Now: t0.Add(10 * time.Second),
				Mem: memory{Hash: v1.TemplateHash(&limit.Spec.Container), Delay: time.Second, SeenExit: t0, LastExitTime: t0, LastExitCode: &code1,
					Starts: []time.Time{t0.Add(-20 * time.Second), t0.Add(-10 * time.Second), t0.Add(-time.Second)}},
				Containers: []runtime.Container{ctr(limit, "a", runtime.StateExited, exited(1, t0.Add(-time.Second), t0))}},
			wantState: v1.StateFailed, wantMsg: "start request repeated too quickly: 3 starts within 1m0s (startLimit.burst 3)"},
		{name: "FAILED stays failed at the same generation",
			in: planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash, Failed: "too quick", FailedGen: 1, SeenExit: t0.Add(-time.Second)},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(1, t0.Add(-time.Second), t0.Add(-time.Second)))}},
			wantState: v1.StateFailed, wantMsg: "too quick"},
		{name: "FAILED gets a new chance at a new generation",
			in: planInput{Unit: testUnit(func(u *v1.Unit) { u.Metadata.Generation = 2 }), Placed: true, Now: t0, Mem: memory{Hash: hash, Failed: "too quick", FailedGen: 1, SeenExit: t0.Add(-time.Second)},
				Containers: []runtime.Container{ctr(u, "a", runtime.StateExited, exited(1, t0.Add(-2*time.Second), t0.Add(-time.Second)))}},
			wantActions: "crash-start:a"},
		{name: "container removed by hand is created again",
			in:          planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash, Starts: []time.Time{t0.Add(-time.Hour)}}},
			wantActions: "create:"},
		{name: "container removed by hand within its restart delay: waits it out",
			in:        planInput{Unit: u, Placed: true, Now: t0.Add(400 * time.Millisecond), Mem: memory{Hash: hash, Starts: []time.Time{t0.Add(-time.Minute)}, Delay: time.Second, LastExitTime: t0}},
			wantState: v1.StateExited, wantMsg: "restarting in 600ms (back-off)", wantRequeue: 600 * time.Millisecond, wantBackOff: true},
		{name: "paused container: looked at again",
			in:        planInput{Unit: u, Placed: true, Mem: memory{Hash: hash}, Now: t0, Containers: []runtime.Container{ctr(u, "a", runtime.StatePaused, nil)}},
			wantState: v1.StateUnknown, wantMsg: "container is paused", wantRequeue: time.Second},
		{name: "refused by the policy: nothing created, not remembered as a failure",
			in:        planInput{Unit: u, Placed: true, Now: t0, Refused: "refused by host h's policy: networkMode host is not allowed"},
			wantState: v1.StateFailed, wantMsg: "refused by host h's policy: networkMode host is not allowed",
			check: func(t *testing.T, out planOutput) {
				if out.Mem.Failed != "" || out.Current != nil {
					t.Errorf("mem.Failed %q, current %v", out.Mem.Failed, out.Current)
				}
			}},
		{name: "refused by the policy: a container made before is removed",
			in:          planInput{Unit: u, Placed: true, Now: t0, Mem: memory{Hash: hash}, Refused: "refused", Containers: []runtime.Container{ctr(u, "a", runtime.StateRunning, nil)}},
			wantActions: "remove:a", wantState: v1.StateFailed, wantMsg: "refused", wantCauses: []cause{causeRefused}},
		{name: "refused, goal stop: stopped as usual",
			in:          planInput{Unit: stopped, Placed: true, Now: t0, Mem: memory{Hash: hash}, Refused: "refused", Containers: []runtime.Container{ctr(u, "a", runtime.StateRunning, nil)}},
			wantActions: "stop:a", wantState: v1.StateStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := plan(tt.in)
			if got := kinds(out.Actions); got != tt.wantActions {
				t.Errorf("actions = %q, want %q", got, tt.wantActions)
			}
			if out.State != tt.wantState {
				t.Errorf("state = %q, want %q", out.State, tt.wantState)
			}
			if tt.wantMsg != "" && out.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", out.Message, tt.wantMsg)
			}
			if out.RequeueAfter != tt.wantRequeue {
				t.Errorf("requeue after %v, want %v", out.RequeueAfter, tt.wantRequeue)
			}
			if out.DeleteStatus != tt.wantDelete {
				t.Errorf("delete status = %v", out.DeleteStatus)
			}
			if out.BackOff != tt.wantBackOff {
				t.Errorf("back-off = %v, want %v", out.BackOff, tt.wantBackOff)
			}
			if tt.wantCauses != nil {
				var got []cause
				for _, a := range out.Actions {
					got = append(got, a.cause)
				}
				if !slices.Equal(got, tt.wantCauses) {
					t.Errorf("causes = %v, want %v", got, tt.wantCauses)
				}
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

// TestBackoffDoubles follows one crash-looping container through plan and
// noteStart: the delays double from restart.delay up to maxDelay.
func TestBackoffDoubles(t *testing.T) {
	u := testUnit(func(u *v1.Unit) {
		u.Spec.Restart.MaxDelay = &v1.Duration{Duration: 8 * time.Second}
		u.Spec.Restart.StartLimit = &v1.StartLimit{Burst: 0}
	})
	mem := memory{}
	now := t0
	c := ctr(u, "a", runtime.StateRunning, func(c *runtime.Container) { c.StartedAt = now })
	out := plan(planInput{Unit: u, Placed: true, Mem: mem, Now: now})
	if kinds(out.Actions) != "create:" {
		t.Fatalf("first: %s", kinds(out.Actions))
	}
	mem = out.Mem
	noteStart(&mem, now, u, false)
	var delays []time.Duration
	for i := 0; i < 6; i++ {
		now = now.Add(100 * time.Millisecond) // crashes at once
		c.State, c.FinishedAt, c.ExitCode = runtime.StateExited, now, 1
		out = plan(planInput{Unit: u, Placed: true, Mem: mem, Now: now, Containers: []runtime.Container{c}})
		mem = out.Mem
		delays = append(delays, out.RequeueAfter)
		now = now.Add(out.RequeueAfter)
		out = plan(planInput{Unit: u, Placed: true, Mem: mem, Now: now, Containers: []runtime.Container{c}})
		if kinds(out.Actions) != "crash-start:a" {
			t.Fatalf("restart %d: actions %s, state %s %s", i, kinds(out.Actions), out.State, out.Message)
		}
		mem = out.Mem
		noteStart(&mem, now, u, true)
		c.State, c.StartedAt = runtime.StateRunning, now
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if delays[i] != want[i]*time.Second {
			t.Fatalf("delays = %v, want %v seconds", delays, want)
		}
	}
	if mem.Restarts != 6 {
		t.Errorf("restarts = %d", mem.Restarts)
	}
}

// A failed pull holds the next create back for its delay, which doubles
// from restart.delay up to restart.maxDelay; a new template forgets it.
func TestPlanPullBackOff(t *testing.T) {
	u := testUnit(func(u *v1.Unit) {
		u.Spec.Restart.Delay = &v1.Duration{Duration: 10 * time.Second}
		u.Spec.Restart.MaxDelay = &v1.Duration{Duration: 30 * time.Second}
	})
	hash := v1.TemplateHash(&u.Spec.Container)
	mem := memory{Hash: hash}
	var delays []time.Duration
	for range 4 {
		delays = append(delays, notePullFailure(&mem, u, t0, "manifest unknown: tag 1.2 not found in app"))
	}
	if want := []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second}; !slices.Equal(delays, want) {
		t.Errorf("delays = %v, want %v", delays, want)
	}
	tests := []struct {
		name    string
		unit    *v1.Unit
		now     time.Time
		acts    string
		msg     string
		requeue time.Duration
	}{
		{"within the delay", u, t0.Add(12 * time.Second), "", "manifest unknown: tag 1.2 not found in app; pulling again in 18s (back-off)", 18 * time.Second},
		{"delay over", u, t0.Add(30 * time.Second), "create:", "", 0},
		{"new template", testUnit(func(u *v1.Unit) { u.Spec.Container.Image = "app:1.3" }), t0.Add(time.Second), "create:", "", 0},
	}
	for _, tt := range tests {
		out := plan(planInput{Unit: tt.unit, Placed: true, Now: tt.now, Mem: mem})
		if got := kinds(out.Actions); got != tt.acts || out.Message != tt.msg || out.RequeueAfter != tt.requeue || out.PullBackOff != (tt.msg != "") {
			t.Errorf("%s: actions %q message %q requeue %v back-off %v; want %q %q %v", tt.name, got, out.Message, out.RequeueAfter, out.PullBackOff, tt.acts, tt.msg, tt.requeue)
		}
		if tt.msg != "" && out.State != v1.StatePullingImage {
			t.Errorf("%s: state %s, want PULLING_IMAGE", tt.name, out.State)
		}
	}
}
