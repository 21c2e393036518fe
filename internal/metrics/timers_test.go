package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
)

// TestTimerMetrics: a Timer's series exist from its first look, count the
// runs that end by result with their durations, carry its last success as
// the record says, and go with it.
func TestTimerMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewTimers(reg)
	success := time.Unix(1796450400, 0)
	m.Observe("backup", time.Time{})
	out := exposition(t, reg)
	for _, want := range []string{`berth_timer_runs_total{result="Failed",timer="backup"} 0`, `berth_timer_runs_total{result="Succeeded",timer="backup"} 0`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "berth_timer_last_success_timestamp_seconds{") {
		t.Errorf("a last success before any:\n%s", out)
	}
	start := success.Add(-90 * time.Second)
	m.RunFinished("backup", v1.TimerRun{Result: v1.RunSucceeded, StartTime: start, CompletionTime: success})
	m.RunFinished("backup", v1.TimerRun{Result: v1.RunFailed, StartTime: start, CompletionTime: start.Add(time.Second)})
	m.Observe("backup", success)
	out = exposition(t, reg)
	for _, want := range []string{
		`berth_timer_runs_total{result="Succeeded",timer="backup"} 1`,
		`berth_timer_runs_total{result="Failed",timer="backup"} 1`,
		`berth_timer_run_duration_seconds_sum{timer="backup"} 91`,
		`berth_timer_last_success_timestamp_seconds{timer="backup"} 1.7964504e+09`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	m.Forget("backup")
	if out := exposition(t, reg); strings.Contains(out, `timer="backup"`) {
		t.Errorf("a deleted Timer's series remain:\n%s", out)
	}
	var none *TimerMetrics
	none.Observe("x", success)
	none.RunFinished("x", v1.TimerRun{})
	none.Forget("x")
}
