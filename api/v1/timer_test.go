package v1_test

import (
	"os"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

func TestTimerDecodeDefaultsValidate(t *testing.T) {
	t.Parallel()
	head := "apiVersion: berth.dev/v1\nkind: Timer\nmetadata:\n  name: backup\nspec:\n"
	tests := []struct {
		name, spec string
		want       string // a substring of the problems, "" when valid
	}{
		{"calendar", "  schedule: daily\n  container: {image: busybox}\n", ""},
		{"weekdays", "  schedule: Mon..Fri *-*-* 02:00:00\n  container: {image: busybox}\n", ""},
		{"every five minutes", "  schedule: '*:0/5'\n  container: {image: busybox}\n", ""},
		{"cron", "  schedule: '*/5 * * * *'\n  container: {image: busybox}\n", ""},
		{"time zone", "  schedule: daily\n  timeZone: Europe/Berlin\n  container: {image: busybox}\n", ""},
		{"everything", "  schedule: hourly\n  persistent: true\n  startingDeadline: 5m\n  randomizedDelay: 30s\n  concurrencyPolicy: Replace\n  activeDeadline: 1h\n  successfulRunsHistory: 5\n  failedRunsHistory: 2\n  suspend: true\n  placement: {hostSelector: {role: db}}\n  restart: {policy: on-failure, limit: 2}\n  container: {image: busybox}\n", ""},
		{"global", "  schedule: hourly\n  placement: {global: true}\n  container: {image: busybox}\n", ""},
		{"no schedule", "  persistent: true\n  container: {image: busybox}\n", "spec.schedule: is required"},
		{"bad hour", "  schedule: '*-*-* 25:00'\n  container: {image: busybox}\n", `spec.schedule: invalid schedule "*-*-* 25:00" at offset 6 ("25:00"): hour 25 is out of range 0..23`},
		{"Feb 30 in words", "  schedule: Feb 30\n  container: {image: busybox}\n", `spec.schedule: invalid schedule "Feb 30" at offset 0`},
		{"Feb 30", "  schedule: '*-02-30'\n  container: {image: busybox}\n", `spec.schedule: the schedule never fires after`},
		{"cron never fires", "  schedule: '0 0 31 4 *'\n  container: {image: busybox}\n", `spec.schedule: the schedule never fires after`},
		{"bad cron", "  schedule: '61 * * * *'\n  container: {image: busybox}\n", `spec.schedule: invalid schedule "61 * * * *": cron: `},
		{"bad zone", "  schedule: daily\n  timeZone: Mars/Olympus\n  container: {image: busybox}\n", `spec.timeZone: unknown time zone "Mars/Olympus"`},
		{"local zone", "  schedule: daily\n  timeZone: Local\n  container: {image: busybox}\n", `spec.timeZone: unknown time zone "Local"`},
		{"policy", "  schedule: daily\n  concurrencyPolicy: Sometimes\n  container: {image: busybox}\n", "spec.concurrencyPolicy: unsupported value \"Sometimes\""},
		{"zero deadline", "  schedule: daily\n  activeDeadline: 0s\n  container: {image: busybox}\n", "spec.activeDeadline: must be longer than 0"},
		{"history", "  schedule: daily\n  successfulRunsHistory: -1\n  container: {image: busybox}\n", "spec.successfulRunsHistory: -1 is outside 0..100"},
		{"replicas", "  schedule: daily\n  placement: {replicas: 2}\n  container: {image: busybox}\n", "spec.placement.replicas: cannot be set on a Timer"},
		{"restart always", "  schedule: daily\n  restart: {policy: always}\n  container: {image: busybox}\n", "spec.restart.policy: unsupported value \"always\": supported: never, on-failure"},
		{"limit with never", "  schedule: daily\n  restart: {policy: never, limit: 2}\n  container: {image: busybox}\n", "spec.restart.limit: is only for policy on-failure"},
		{"unknown field", "  schedule: daily\n  onCalendar: daily\n  container: {image: busybox}\n", "spec.onCalendar"},
		{"bad template", "  schedule: daily\n  container: {image: busybox, ports: [{containerPort: 99999}]}\n", "spec.container.ports[0]"},
	}
	for _, tt := range tests {
		docs, errs := v1.Decode("timer.yaml", []byte(head+tt.spec))
		if len(errs) == 0 {
			errs = v1.Prepare(docs, nil)
		}
		got := errs.Error()
		if len(errs) == 0 {
			got = ""
		}
		switch {
		case tt.want == "" && got != "":
			t.Errorf("%s: unexpected problems: %s", tt.name, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("%s: problems %q, want %q", tt.name, got, tt.want)
		case tt.want != "" && !strings.Contains(got, "timer.yaml"):
			t.Errorf("%s: problems %q do not name the file", tt.name, got)
		}
	}
}

func TestTimerDefaults(t *testing.T) {
	t.Parallel()
	tm := v1.New(v1.KindTimer).(*v1.Timer)
	tm.Metadata.Name = "backup"
	tm.Spec.Schedule = "daily"
	tm.Spec.Container.Image = "busybox"
	v1.Default(tm)
	s := tm.Spec
	if s.ConcurrencyPolicy != v1.ConcurrencyForbid || *s.SuccessfulRunsHistory != 3 || *s.FailedRunsHistory != 1 ||
		s.Restart.Policy != v1.RestartNever || s.Restart.Limit != nil || s.Placement.Replicas != 0 {
		t.Fatalf("defaults: %+v", s)
	}
	if d := tm.StartingDeadline(); d != v1.DefaultStartingDeadline {
		t.Errorf("starting deadline of a timer that is not persistent: %s", d)
	}
	tm.Spec.Persistent = true
	if d := tm.StartingDeadline(); d != 0 {
		t.Errorf("starting deadline of a persistent timer: %s, want none", d)
	}
	tm.Spec.Restart.Policy = v1.RestartOnFailure
	v1.Default(tm)
	if tm.Spec.Restart.Limit == nil || *tm.Spec.Restart.Limit != v1.DefaultRunRestartLimit {
		t.Errorf("on-failure limit: %v", tm.Spec.Restart.Limit)
	}
	before := *tm
	v1.Default(tm)
	if before.Spec.ConcurrencyPolicy != tm.Spec.ConcurrencyPolicy || v1.TemplateHash(&before.Spec.Container) != v1.TemplateHash(&tm.Spec.Container) {
		t.Error("Default is not idempotent")
	}
}

// TestTimersExample: testdata/timers.yaml, the fuzz seed of Timers, is
// valid.
func TestTimersExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/timers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, errs := v1.Decode("timers.yaml", data)
	if len(errs) == 0 {
		errs = v1.Prepare(docs, nil)
	}
	if len(errs) > 0 || len(docs) != 2 {
		t.Fatalf("%d documents: %v", len(docs), errs)
	}
}
