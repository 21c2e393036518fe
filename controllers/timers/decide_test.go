package timers

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

var t0 = time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)

func timer(mod func(*v1.Timer)) *v1.Timer {
	t := v1.New(v1.KindTimer).(*v1.Timer)
	t.Metadata.Name = "backup"
	t.Metadata.CreationTimestamp = t0.Add(-time.Hour)
	t.Spec.Schedule = "*:0/5" // every five minutes
	t.Spec.Container.Image = "busybox"
	if mod != nil {
		mod(t)
	}
	v1.Default(t)
	return t
}

func input(t *v1.Timer, now time.Time, st v1.TimerStatus) Input {
	s, err := t.Schedule()
	if err != nil {
		panic(err)
	}
	return Input{Timer: t, Schedule: s, Status: st, Now: now,
		Bindings: map[int64]v1.TimerRunBinding{}, Reports: map[int64]map[string]v1.InstanceStatus{},
		Hosts: []HostInfo{{Name: "a", Up: true}, {Name: "b", Up: true}, {Name: "c", Labels: map[string]string{"role": "db"}, Up: true}, {Name: "d", Up: false}}}
}

func active(n int64, hosts ...string) v1.TimerRun {
	return v1.TimerRun{Run: n, Hosts: hosts, StartTime: t0, Result: v1.RunActive}
}

func exited(code int) v1.InstanceStatus {
	return v1.InstanceStatus{State: v1.StateExited, LastExitCode: &code, LastExitTime: t0.Add(time.Minute)}
}

func reasons(out Output) []string {
	var r []string
	for _, e := range out.Events {
		r = append(r, e.Reason)
	}
	return r
}

func TestDecide(t *testing.T) {
	t.Parallel()
	seen := v1.TimerStatus{LastScheduleTime: t0, LastRun: 1}
	tests := []struct {
		name  string
		in    Input
		check func(t *testing.T, out Output)
	}{
		{"nothing due: wait for the next elapse", input(timer(nil), t0.Add(time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 0 || out.RequeueAfter != 4*time.Minute || !out.Status.NextScheduleTime.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("create %v, requeue %s, next %s", out.Create, out.RequeueAfter, out.Status.NextScheduleTime)
			}
		}},
		{"a tick due runs once, on one host", input(timer(nil), t0.Add(5*time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || out.Create[0].Run != 2 || !out.Create[0].Tick.Equal(t0.Add(5*time.Minute)) || len(out.Create[0].Hosts) != 1 {
				t.Fatalf("create %+v", out.Create)
			}
			if out.Status.LastRun != 2 || !out.Status.LastScheduleTime.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("record %+v", out.Status)
			}
			if h := out.Create[0].Hosts[0]; h == "d" {
				t.Errorf("run placed on a Down host")
			}
		}},
		{"the same tick decided again runs nothing", input(timer(nil), t0.Add(5*time.Minute+time.Second), v1.TimerStatus{LastScheduleTime: t0.Add(5 * time.Minute), LastRun: 2}), func(t *testing.T, out Output) {
			if len(out.Create) != 0 {
				t.Errorf("create %+v", out.Create)
			}
		}},
		{"missed ticks within the deadline merge into one run", input(timer(func(tm *v1.Timer) { tm.Spec.StartingDeadline = &v1.Duration{Duration: time.Hour} }), t0.Add(21*time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || !out.Create[0].Tick.Equal(t0.Add(20*time.Minute)) {
				t.Errorf("create %+v", out.Create)
			}
		}},
		{"a tick past the default deadline is skipped", input(timer(nil), t0.Add(5*time.Minute+2*time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 0 || !slices.Contains(reasons(out), v1.ReasonMissedSchedule) || !out.Status.LastScheduleTime.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("create %+v, events %v, last %s", out.Create, reasons(out), out.Status.LastScheduleTime)
			}
		}},
		{"persistent catches up once however late", input(timer(func(tm *v1.Timer) { tm.Spec.Persistent = true }), t0.Add(3*time.Hour+time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || !out.Create[0].Tick.Equal(t0.Add(3*time.Hour)) {
				t.Errorf("create %+v", out.Create)
			}
		}},
		{"a new timer does not run ticks from before it was created", input(timer(func(tm *v1.Timer) { tm.Spec.Persistent = true; tm.Metadata.CreationTimestamp = t0.Add(6 * time.Minute) }), t0.Add(7*time.Minute), v1.TimerStatus{}), func(t *testing.T, out Output) {
			if len(out.Create) != 0 || !out.Status.LastScheduleTime.Equal(t0.Add(6*time.Minute)) {
				t.Errorf("create %+v, last %s", out.Create, out.Status.LastScheduleTime)
			}
		}},
		{"suspended decides nothing", input(timer(func(tm *v1.Timer) { tm.Spec.Suspend = true }), t0.Add(5*time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 0 || !out.Status.LastScheduleTime.Equal(t0) {
				t.Errorf("create %+v", out.Create)
			}
		}},
		{"Forbid skips a tick while a run is active", func() Input {
			in := input(timer(nil), t0.Add(5*time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": {State: v1.StateRunning}}
			return in
		}(), func(t *testing.T, out Output) {
			if len(out.Create) != 0 || !slices.Contains(reasons(out), v1.ReasonConcurrentSkipped) || !out.Status.LastScheduleTime.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("create %+v, events %v", out.Create, reasons(out))
			}
		}},
		{"Replace stops the active run and starts one", func() Input {
			in := input(timer(func(tm *v1.Timer) { tm.Spec.ConcurrencyPolicy = v1.ConcurrencyReplace }), t0.Add(5*time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": {State: v1.StateRunning}}
			return in
		}(), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || len(out.Update) != 1 || !out.Update[0].Stop || out.Update[0].Reason != v1.ReasonReplaced {
				t.Errorf("create %+v, update %+v", out.Create, out.Update)
			}
		}},
		{"Allow runs beside the active run", func() Input {
			in := input(timer(func(tm *v1.Timer) { tm.Spec.ConcurrencyPolicy = v1.ConcurrencyAllow }), t0.Add(5*time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			return in
		}(), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || len(out.Update) != 0 {
				t.Errorf("create %+v, update %+v", out.Create, out.Update)
			}
		}},
		{"an exit 0 succeeds; a later tick then runs", func() Input {
			in := input(timer(nil), t0.Add(5*time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": exited(0)}
			return in
		}(), func(t *testing.T, out Output) {
			r := out.Status.Runs[0]
			if r.Result != v1.RunSucceeded || !r.CompletionTime.Equal(t0.Add(time.Minute)) || !out.Status.LastSuccessfulTime.Equal(t0.Add(time.Minute)) {
				t.Errorf("run %+v", r)
			}
			if len(out.Create) != 1 || len(out.Finished) != 1 {
				t.Errorf("create %+v, finished %+v", out.Create, out.Finished)
			}
		}},
		{"an exit code fails the run and says so", func() Input {
			in := input(timer(nil), t0.Add(time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": exited(3)}
			return in
		}(), func(t *testing.T, out Output) {
			r := out.Status.Runs[0]
			if r.Result != v1.RunFailed || r.Reason != v1.ReasonExitCode || !strings.Contains(r.Message, "exit code 3 on a") {
				t.Errorf("run %+v", r)
			}
		}},
		{"an exit seen as it started, without its code yet, is not the end", func() Input {
			in := input(timer(nil), t0.Add(time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": {State: v1.StateExited, Message: "exited with code 0 right after starting"}}
			return in
		}(), func(t *testing.T, out Output) {
			if r := out.Status.Runs[0]; r.Result != v1.RunActive {
				t.Errorf("run %+v", r)
			}
		}},
		{"on-failure: an exit code is not the end until FAILED", func() Input {
			in := input(timer(func(tm *v1.Timer) { tm.Spec.Restart.Policy = v1.RestartOnFailure }), t0.Add(time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": exited(3)}
			return in
		}(), func(t *testing.T, out Output) {
			if r := out.Status.Runs[0]; r.Result != v1.RunActive {
				t.Errorf("run %+v", r)
			}
		}},
		{"a run on a Down host fails HostLost", func() Input {
			in := input(timer(nil), t0.Add(time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "d")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"d"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"d": {State: v1.StateRunning}}
			return in
		}(), func(t *testing.T, out Output) {
			if r := out.Status.Runs[0]; r.Result != v1.RunFailed || r.Reason != v1.ReasonHostLost {
				t.Errorf("run %+v", r)
			}
			if len(out.Create) != 0 {
				t.Errorf("a lost run is run again: %+v", out.Create)
			}
		}},
		{"activeDeadline stops a run, then fails it", func() Input {
			in := input(timer(func(tm *v1.Timer) { tm.Spec.ActiveDeadline = &v1.Duration{Duration: 30 * time.Second} }), t0.Add(time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{active(1, "a")}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": {State: v1.StateRunning}}
			return in
		}(), func(t *testing.T, out Output) {
			if len(out.Update) != 1 || !out.Update[0].Stop || out.Update[0].Reason != v1.ReasonDeadlineExceeded {
				t.Fatalf("update %+v", out.Update)
			}
			if r := out.Status.Runs[0]; r.Result != v1.RunActive || !r.Stop {
				t.Errorf("run %+v", r)
			}
		}},
		{"a stopped run fails with the reason it was stopped", func() Input {
			r := active(1, "a")
			r.Stop, r.StopReason = true, v1.ReasonDeadlineExceeded
			in := input(timer(nil), t0.Add(time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 1, Runs: []v1.TimerRun{r}})
			in.Bindings[1] = v1.TimerRunBinding{Timer: "backup", Run: 1, Hosts: []string{"a"}, Stop: true}
			in.Reports[1] = map[string]v1.InstanceStatus{"a": {State: v1.StateStopped}}
			return in
		}(), func(t *testing.T, out Output) {
			if r := out.Status.Runs[0]; r.Result != v1.RunFailed || r.Reason != v1.ReasonDeadlineExceeded {
				t.Errorf("run %+v", r)
			}
		}},
		{"global runs on every matching Up host", input(timer(func(tm *v1.Timer) { tm.Spec.Placement.Global = true }), t0.Add(5*time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || !slices.Equal(out.Create[0].Hosts, []string{"a", "b", "c"}) {
				t.Errorf("create %+v", out.Create)
			}
		}},
		{"hostSelector chooses among matching hosts", input(timer(func(tm *v1.Timer) { tm.Spec.Placement.HostSelector = map[string]string{"role": "db"} }), t0.Add(5*time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || !slices.Equal(out.Create[0].Hosts, []string{"c"}) {
				t.Errorf("create %+v", out.Create)
			}
		}},
		{"no host: the run fails NoHost", input(timer(func(tm *v1.Timer) { tm.Spec.Placement.Hosts = []string{"d"} }), t0.Add(5*time.Minute), seen), func(t *testing.T, out Output) {
			if len(out.Create) != 0 || len(out.Status.Runs) != 1 || out.Status.Runs[0].Reason != v1.ReasonNoHost {
				t.Errorf("create %+v, runs %+v", out.Create, out.Status.Runs)
			}
		}},
		{"by hand: a run now, once per request", func() Input {
			tm := timer(func(tm *v1.Timer) {
				tm.Metadata.Annotations = map[string]string{v1.AnnotationRunRequestedAt: "2026-12-05T06:01:00Z"}
			})
			return input(tm, t0.Add(time.Minute), seen)
		}(), func(t *testing.T, out Output) {
			if len(out.Create) != 1 || !out.Create[0].Tick.IsZero() || out.Status.LastManualRun != "2026-12-05T06:01:00Z" || !out.Status.Runs[0].Manual {
				t.Errorf("create %+v, status %+v", out.Create, out.Status)
			}
		}},
		{"histories keep the last runs and delete the others' bindings", func() Input {
			var runs []v1.TimerRun
			in := input(timer(nil), t0.Add(time.Minute), v1.TimerStatus{LastScheduleTime: t0, LastRun: 6})
			for n := int64(1); n <= 6; n++ {
				r := v1.TimerRun{Run: n, Hosts: []string{"a"}, Result: v1.RunSucceeded}
				if n%2 == 0 {
					r.Result = v1.RunFailed
				}
				runs = append(runs, r)
				in.Bindings[n] = v1.TimerRunBinding{Run: n}
			}
			in.Status.Runs = runs
			return in
		}(), func(t *testing.T, out Output) {
			var kept []int64
			for _, r := range out.Status.Runs {
				kept = append(kept, r.Run)
			}
			if !slices.Equal(kept, []int64{1, 3, 5, 6}) || !slices.Equal(out.Delete, []int64{2, 4}) {
				t.Errorf("kept %v, deleted %v", kept, out.Delete)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := copyStatus(tc.in.Status)
			out := Decide(tc.in)
			tc.check(t, out)
			if len(before.Runs) != len(tc.in.Status.Runs) {
				t.Error("Decide changed its input")
			}
		})
	}
}

func TestDelayIsStableAndBounded(t *testing.T) {
	t.Parallel()
	tm := timer(func(tm *v1.Timer) { tm.Spec.RandomizedDelay = &v1.Duration{Duration: time.Minute} })
	seen := map[time.Duration]bool{}
	for i := range 50 {
		tick := t0.Add(time.Duration(i) * 5 * time.Minute)
		d := delay(tm, tick)
		if d < 0 || d >= time.Minute || d != delay(tm, tick) {
			t.Fatalf("delay %s of %s", d, tick)
		}
		seen[d] = true
	}
	if len(seen) < 40 {
		t.Errorf("%d distinct delays of 50 ticks", len(seen))
	}
	in := input(tm, t0.Add(5*time.Minute), v1.TimerStatus{LastScheduleTime: t0})
	d := delay(tm, t0.Add(5*time.Minute))
	if out := Decide(in); len(out.Create) != 0 && d > 0 {
		t.Errorf("a tick ran before its delay of %s", d)
	}
	in.Now = t0.Add(5*time.Minute + d)
	if out := Decide(in); len(out.Create) != 1 {
		t.Errorf("a tick did not run after its delay of %s", d)
	}
}
