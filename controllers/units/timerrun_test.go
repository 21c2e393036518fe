package units

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

func testTimer(mod func(*v1.Timer)) *v1.Timer {
	t := v1.New(v1.KindTimer).(*v1.Timer)
	t.Metadata.Name = "backup"
	t.Spec.Schedule = "daily"
	t.Spec.Container.Image = "berth/testapp"
	if mod != nil {
		mod(t)
	}
	v1.Default(t)
	return t
}

// bindRun writes a run binding as the leader does.
func (e *env) bindRun(b v1.TimerRunBinding) {
	e.t.Helper()
	v, err := json.Marshal(b)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Put(context.Background(), store.BindingKey(v1.KindTimer, v1.TimerRunName(b.Timer, b.Run)), v, 0); err != nil {
		e.t.Fatal(err)
	}
}

// waitRun waits until h reports run n of timer as ok says.
func (e *env) waitRun(timer string, n int64, what string, ok func(*v1.InstanceStatus) bool) *v1.InstanceStatus {
	e.t.Helper()
	var st *v1.InstanceStatus
	e.eventually(fmt.Sprintf("run %d of %s: %s", n, timer, what), func() (bool, string) {
		st = e.statusOf(v1.KindTimer, v1.TimerRunName(timer, n))
		if st == nil {
			return ok(nil), "no status"
		}
		return ok(st), fmt.Sprintf("%s exit %v restarts %d %s", st.State, st.LastExitCode, st.Restarts, st.Message)
	})
	return st
}

func (e *env) runContainers(timer string, n int64) []runtime.Container {
	cs, err := e.rt.List(context.Background(), runtime.ListOptions{All: true, Labels: map[string]string{
		v1.LabelKind: v1.KindTimer, v1.LabelName: timer, v1.LabelVersion: fmt.Sprint(n)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

func exitedWith(code int) func(*v1.InstanceStatus) bool {
	return func(st *v1.InstanceStatus) bool {
		return st != nil && st.State == v1.StateExited && st.LastExitCode != nil && *st.LastExitCode == code
	}
}

// TestTimerRun: a host runs each run bound to it once, as its own
// container, and never again after it exits; a run asked to stop keeps
// its exited container (for its logs) until its binding goes.
func TestTimerRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(testTimer(nil))
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"h"}})
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 2, Hosts: []string{"other"}})
	e.waitRun("backup", 1, "running", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateRunning })
	cs := e.runContainers("backup", 1)
	if len(cs) != 1 || cs[0].Name != "berth-timer-backup-1" {
		t.Fatalf("containers of run 1: %+v", cs)
	}
	ctr, err := e.rt.Inspect(context.Background(), cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ctr.Env, "BERTH_TIMER=backup") || !slices.Contains(ctr.Env, "BERTH_TIMER_RUN=1") {
		t.Errorf("env %v", ctr.Env)
	}
	if n := len(e.runContainers("backup", 2)); n != 0 {
		t.Errorf("run 2 is bound to another host, yet %d containers here", n)
	}

	if err := e.rt.Exit(cs[0].ID, 3); err != nil {
		t.Fatal(err)
	}
	st := e.waitRun("backup", 1, "exited 3", exitedWith(3))
	if st.Restarts != 0 {
		t.Errorf("restarts %d with policy never", st.Restarts)
	}
	e.c.Enqueue(timerRunKey("backup/1"))
	e.waitRun("backup", 1, "still exited 3 after another look", exitedWith(3))
	if cs := e.runContainers("backup", 1); len(cs) != 1 || cs[0].State != runtime.StateExited {
		t.Fatalf("after the exit: %+v", cs)
	}

	// The leader says the run is over: nothing starts it, the container stays.
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"h"}, Stop: true, Reason: v1.ReasonRunFinished})
	e.waitRun("backup", 1, "stopped", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateStopped })
	if cs := e.runContainers("backup", 1); len(cs) != 1 {
		t.Fatalf("the finished run's container is gone: %+v", cs)
	}

	// Forgotten: container and status go.
	if _, err := e.s.Delete(context.Background(), store.BindingKey(v1.KindTimer, "backup/1")); err != nil {
		t.Fatal(err)
	}
	e.waitRun("backup", 1, "status deleted", func(st *v1.InstanceStatus) bool { return st == nil })
	e.eventually("container removed", func() (bool, string) {
		cs := e.runContainers("backup", 1)
		return len(cs) == 0, fmt.Sprint(len(cs), " containers")
	})
}

// TestTimerRunStop: a run asked to stop while it runs (its deadline, or a
// newer run replacing it) is stopped, and reported STOPPED.
func TestTimerRunStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(testTimer(nil))
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 7, Hosts: []string{"h"}})
	e.waitRun("backup", 7, "running", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateRunning })
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 7, Hosts: []string{"h"}, Stop: true, Reason: v1.ReasonDeadlineExceeded})
	e.waitRun("backup", 7, "stopped", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateStopped })
	if cs := e.runContainers("backup", 7); len(cs) != 1 || cs[0].State == runtime.StateRunning {
		t.Fatalf("containers %+v", cs)
	}
}

// TestTimerRunOnFailure: restart on-failure with a limit starts a failing
// run again that many times, then reports it FAILED.
func TestTimerRunOnFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	one := 1
	e.apply(testTimer(func(tm *v1.Timer) { tm.Spec.Restart = v1.RunRestart{Policy: v1.RestartOnFailure, Limit: &one} }))
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"h"}})
	for i := range 2 {
		var id string
		e.eventually(fmt.Sprintf("start %d", i+1), func() (bool, string) {
			for _, c := range e.runContainers("backup", 1) {
				if c.State == runtime.StateRunning {
					id = c.ID
					st := e.statusOf(v1.KindTimer, "backup/1")
					return st != nil && st.Restarts == i, fmt.Sprint(st)
				}
			}
			return false, "not running"
		})
		if err := e.rt.Exit(id, 1); err != nil {
			t.Fatal(err)
		}
	}
	st := e.waitRun("backup", 1, "failed", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateFailed })
	if st.Restarts != 1 {
		t.Errorf("restarts %d, want the limit 1", st.Restarts)
	}
}

// TestTimerRunKeepsItsTemplate: a Timer changed while a run goes on
// changes its next runs; the run under way goes on in its container.
func TestTimerRunKeepsItsTemplate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(testTimer(nil))
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"h"}})
	e.waitRun("backup", 1, "running", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateRunning })
	before := e.runContainers("backup", 1)
	e.apply(testTimer(func(tm *v1.Timer) { tm.Spec.Container.Args = []string{"echo", "changed"} }))
	e.bindRun(v1.TimerRunBinding{Timer: "backup", Run: 2, Hosts: []string{"h"}})
	e.waitRun("backup", 2, "running", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateRunning })
	e.c.Enqueue(timerRunKey("backup/1"))
	e.waitRun("backup", 1, "still running", func(st *v1.InstanceStatus) bool { return st != nil && st.State == v1.StateRunning })
	after := e.runContainers("backup", 1)
	if len(before) != 1 || len(after) != 1 || after[0].ID != before[0].ID || after[0].State != runtime.StateRunning {
		t.Fatalf("run 1's container: before %+v, after %+v", before, after)
	}
	second := e.runContainers("backup", 2)
	if len(second) != 1 || second[0].Labels[v1.LabelSpecHash] == before[0].Labels[v1.LabelSpecHash] {
		t.Errorf("run 2 does not have the new template: %+v", second)
	}
}
