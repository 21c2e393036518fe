package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

const timerDoc = `apiVersion: berth.dev/v1
kind: Timer
metadata: {name: backup}
spec:
  description: nightly backup
  schedule: daily
  container: {image: busybox, command: [sh, -c, "echo done"]}
`

// TestTimers: a Timer applies, refuses a schedule that is wrong or never
// fires, and shows as systemctl list-timers and status show timers, from
// the leading controller's record.
func TestTimers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantEqual(t, "apply", e.run(timerDoc, "apply", "-f", "-").out, "timer/backup created\n")

	for _, tc := range []struct{ schedule, want string }{
		{"'*-*-* 25:00'", `document 1 (timer/nope): spec.schedule: invalid schedule "*-*-* 25:00" at offset 6 ("25:00"): hour 25 is out of range 0..23`},
		{"'*-02-30'", `spec.schedule: the schedule never fires after`},
	} {
		doc := strings.Replace(strings.Replace(timerDoc, "daily", tc.schedule, 1), "backup", "nope", 1)
		r := e.run(doc, "apply", "-f", "-")
		if r.code != 1 || !strings.Contains(r.err, tc.want) {
			t.Errorf("apply schedule %s: exit %d, stderr %q; want it to say %q", tc.schedule, r.code, r.err, tc.want)
		}
	}
	if r := e.run("", "get", "timer", "nope"); r.code != 1 {
		t.Errorf("a refused timer was written: %+v", r)
	}

	now := time.Now().UTC()
	three, zero := 3, 0
	e.putJSON(store.StatusKey(v1.KindTimer, "backup", v1.ReservedHostName), v1.TimerStatus{
		LastScheduleTime: now.Add(-time.Hour), NextScheduleTime: now.Add(time.Hour + 30*time.Second), LastRun: 2,
		LastSuccessfulTime: now.Add(-25 * time.Hour),
		Runs: []v1.TimerRun{
			{Run: 1, Tick: now.Add(-25 * time.Hour), Hosts: []string{"h1"}, StartTime: now.Add(-25 * time.Hour), CompletionTime: now.Add(-25*time.Hour + 42*time.Second),
				Result: v1.RunSucceeded, Instances: []v1.RunInstance{{Host: "h1", State: v1.StateExited, ExitCode: &zero}}},
			{Run: 2, Tick: now.Add(-time.Hour), Hosts: []string{"h2"}, StartTime: now.Add(-time.Hour), CompletionTime: now.Add(-time.Hour + 5*time.Second),
				Result: v1.RunFailed, Reason: v1.ReasonExitCode, Message: "exit code 3 on h2", Instances: []v1.RunInstance{{Host: "h2", State: v1.StateExited, ExitCode: &three}}},
		},
	})

	out := e.ok("get", "timers")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^NEXT\s+LEFT\s+LAST\s+PASSED\s+TIMER\s+RESULT$`).MatchString(lines[0]) {
		t.Fatalf("get timers:\n%s", out)
	}
	if !regexp.MustCompile(`^\w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+1h 0min\s+\w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+(59min \d+s|1h 0min) ago\s+backup\s+exit-code$`).MatchString(lines[1]) {
		t.Errorf("get timers row:\n%s", lines[1])
	}
	if wide := e.ok("get", "timers", "-o", "wide"); !strings.Contains(wide, "SCHEDULE") || !strings.Contains(wide, "daily") || !strings.Contains(wide, "h2") {
		t.Errorf("get timers -o wide:\n%s", wide)
	}
	var got v1.Timer
	e.getJSON("timer", "backup", &got)
	if got.Status == nil || len(got.Status.Runs) != 2 || got.Spec.ConcurrencyPolicy != v1.ConcurrencyForbid {
		t.Errorf("get timer -o json: %+v", got)
	}

	st := e.ok("status", "timer", "backup")
	for _, want := range []string{"● timer/backup - nightly backup", "Active:", "active (waiting)", "Trigger:", "1h 0min left",
		"Last Success:", "1 day 1h ago", "RUN", "EXIT", "exit-code", "exit code 3 on h2", "success", "42s"} {
		if !strings.Contains(st, want) {
			t.Errorf("status timer lacks %q:\n%s", want, st)
		}
	}
	if d := e.ok("describe", "timer", "backup"); !strings.Contains(d, "normalized: *-*-* 00:00:00") || !strings.Contains(d, "Next Elapse:") || !strings.Contains(d, "Runs:") {
		t.Errorf("describe timer:\n%s", d)
	}

	wantEqual(t, "run", e.ok("run", "timer", "backup"), "timer/backup run requested\n")
	var after v1.Timer
	e.getJSON("timer", "backup", &after)
	if _, err := time.Parse(time.RFC3339Nano, after.Metadata.Annotations[v1.AnnotationRunRequestedAt]); err != nil || after.Metadata.Generation != got.Metadata.Generation {
		t.Errorf("run: annotations %v, generation %d then %d", after.Metadata.Annotations, got.Metadata.Generation, after.Metadata.Generation)
	}
	if r := e.run("", "run", "timer", "nope"); r.code != 1 || !strings.Contains(r.err, `timer "nope" not found`) {
		t.Errorf("run timer nope: %+v", r)
	}
	if r := e.run("", "run", "unit", "backup"); r.code != 2 {
		t.Errorf("run unit: %+v", r)
	}
	if r := e.run("", "logs", "unit", "backup", "--run", "2"); r.code != 2 {
		t.Errorf("logs unit --run: %+v", r)
	}
	if r := e.run("", "logs", "timer", "backup", "--run", "7"); r.code != 1 || !strings.Contains(r.err, `timer "backup" has no run 7 kept`) {
		t.Errorf("logs timer --run 7: %+v", r)
	}
	wantEqual(t, "delete", e.ok("delete", "timer", "backup"), "timer/backup deleted\n")
	if r := e.run("", "get", "timers"); r.code != 0 || !strings.Contains(r.err, "No resources found") {
		t.Errorf("get timers after delete: %+v", r)
	}
}
