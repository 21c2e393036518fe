package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// timerSchedule is the schedule of the tests' Timers: every 5 seconds,
// longer than a change of leader takes with the tests' 3s TTL, so that
// one falls within a period.
const (
	timerSchedule = "*:*:0/5"
	timerPeriod   = 5 * time.Second
)

// timerDoc is a Timer of the test; spec holds its fields other than the
// schedule and the container's image, indented by two spaces.
func (cl *cluster) timerDoc(short, spec string) string {
	return fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Timer\nmetadata: {name: %s}\nspec:\n  schedule: %q\n  successfulRunsHistory: 100\n  failedRunsHistory: 100\n%s",
		cl.name(short), timerSchedule, strings.ReplaceAll(spec, "IMAGE", testImage))
}

// timer returns a Timer as get timer -o json shows it.
func (cl *cluster) timer(short string) (v1.Timer, error) {
	out, errOut, code := applyctl(cl.t, cl.etcd, "", "get", "timer", cl.name(short), "-o", "json")
	var t v1.Timer
	if code != 0 {
		return t, fmt.Errorf("get timer: exit %d: %s", code, errOut)
	}
	return t, json.Unmarshal([]byte(out), &t)
}

// runs returns the runs of a Timer as its record keeps them.
func (cl *cluster) timerRuns(short string) ([]v1.TimerRun, string) {
	t, err := cl.timer(short)
	if err != nil {
		return nil, err.Error()
	}
	if t.Status == nil {
		return nil, "no record yet"
	}
	return t.Status.Runs, describeRuns(t.Status.Runs)
}

func describeRuns(rs []v1.TimerRun) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n  run %d tick %s hosts %v started %s %s %s %s", r.Run, r.Tick.Format("15:04:05.000"), r.Hosts,
			r.StartTime.Format("15:04:05.000"), r.Result, r.Reason, r.Message)
	}
	return b.String()
}

// waitRuns waits until the Timer's record holds at least n finished runs.
func (cl *cluster) waitRuns(short string, n int, timeout time.Duration) []v1.TimerRun {
	cl.t.Helper()
	var runs []v1.TimerRun
	eventually(cl.t, timeout, fmt.Sprintf("%d finished runs of timer %s", n, short), func() (bool, string) {
		var last string
		runs, last = cl.timerRuns(short)
		done := 0
		for _, r := range runs {
			if r.Result != v1.RunActive {
				done++
			}
		}
		return done >= n, last
	})
	return runs
}

// checkTicks fails unless the runs are one per tick, in order, with no
// tick between first and last missing, save those in skipped.
func checkTicks(t *testing.T, what string, runs []v1.TimerRun, skipped ...time.Time) {
	t.Helper()
	for i := 1; i < len(runs); i++ {
		prev, cur := runs[i-1], runs[i]
		if cur.Run != prev.Run+1 {
			t.Errorf("%s: run %d follows run %d%s", what, cur.Run, prev.Run, describeRuns(runs))
		}
		want := prev.Tick.Add(timerPeriod)
		for slices.ContainsFunc(skipped, want.Equal) {
			want = want.Add(timerPeriod)
		}
		if !cur.Tick.Equal(want) {
			t.Errorf("%s: run %d is for %s, want the tick %s: a tick skipped or run twice%s", what, cur.Run,
				cur.Tick.Format("15:04:05"), want.Format("15:04:05"), describeRuns(runs))
		}
	}
}

// TestTimers runs Timers through real controllers and Docker, as systemd
// runs timers: on time, with their exit codes and logs; Forbid skips a tick
// while a run is stuck and activeDeadline kills it; killing the leading
// controller between ticks neither skips nor doubles a run; and after every
// controller was down across ticks, a persistent Timer runs once for them
// and one that is not skips them.
func TestTimers(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	cl.start("a", "")
	cl.start("b", "")
	t.Cleanup(func() {
		if t.Failed() {
			for h, c := range cl.hosts {
				for _, l := range strings.Split(c.log(), "\n") {
					if strings.Contains(l, "timer") {
						t.Logf("%s: %s", h, l)
					}
				}
			}
		}
	})
	leader := cl.leader(30 * time.Second)
	other := cl.host("a")
	if leader == other {
		other = cl.host("b")
	}
	// Runs go to the host that is not killed, so that what is counted is
	// the leaders' decisions, not runs lost with a host.
	pin := fmt.Sprintf("  placement: {hosts: [%s]}\n", other)
	cl.apply(
		cl.timerDoc("echo", pin+"  persistent: true\n  concurrencyPolicy: Allow\n  container: {image: IMAGE, args: [env, BERTH_TIMER_RUN]}\n"),
		cl.timerDoc("fail", pin+"  container: {image: IMAGE, args: [exit, \"3\"]}\n"),
		cl.timerDoc("stuck", pin+"  activeDeadline: 6s\n  container: {image: IMAGE, args: [serve], stopTimeout: 1s}\n"),
		cl.timerDoc("skip", pin+"  startingDeadline: 1s\n  concurrencyPolicy: Allow\n  container: {image: IMAGE, args: [exit, \"0\"]}\n"),
	)

	// On time, with exit codes and logs.
	runs := cl.waitRuns("echo", 2, 40*time.Second)
	for _, r := range runs {
		if r.Result != v1.RunSucceeded || len(r.Instances) != 1 || r.Instances[0].ExitCode == nil || *r.Instances[0].ExitCode != 0 {
			t.Errorf("echo run %d: %s %s %+v", r.Run, r.Result, r.Message, r.Instances)
		}
		if late := r.StartTime.Sub(r.Tick); late < 0 || late > 2*time.Second {
			t.Errorf("echo run %d of %s started %s after its tick", r.Run, r.Tick.Format("15:04:05"), late)
		}
	}
	r1 := runs[0].Run
	out, errOut, code := applyctl(t, cl.etcd, "", "logs", "timer", cl.name("echo"), "--run", strconv.FormatInt(r1, 10))
	if code != 0 || strings.TrimSpace(out) != strconv.FormatInt(r1, 10) {
		t.Errorf("logs timer echo --run %d: exit %d, %q %s", r1, code, out, errOut)
	}
	fails := cl.waitRuns("fail", 1, 20*time.Second)
	if f := fails[0]; f.Result != v1.RunFailed || f.Reason != v1.ReasonExitCode || f.Instances[0].ExitCode == nil || *f.Instances[0].ExitCode != 3 {
		t.Errorf("fail run: %+v", f)
	}
	eventually(t, 20*time.Second, "get timers shows the last results", func() (bool, string) {
		list, errOut, _ := applyctl(t, cl.etcd, "", "get", "timers")
		for short, result := range map[string]string{"echo": "success", "fail": "exit-code"} {
			if !regexp.MustCompile(`(?m)\s` + regexp.QuoteMeta(cl.name(short)) + `\s+` + result + `$`).MatchString(list) {
				return false, list + errOut
			}
		}
		return regexp.MustCompile(`(?m)^NEXT\s+LEFT\s+LAST\s+PASSED\s+TIMER\s+RESULT$`).MatchString(list), list
	})
	st, _, _ := applyctl(t, cl.etcd, "", "status", "timer", cl.name("fail"))
	if !strings.Contains(st, "exit code 3 on "+other) {
		t.Errorf("status timer fail:\n%s", st)
	}

	// A run by hand, as systemctl start.
	if out, errOut, code := applyctl(t, cl.etcd, "", "run", "timer", cl.name("skip")); code != 0 || out != "timer/"+cl.name("skip")+" run requested\n" {
		t.Errorf("run timer skip: exit %d, %q %s", code, out, errOut)
	}
	eventually(t, 20*time.Second, "the run asked for by hand succeeded", func() (bool, string) {
		runs, last := cl.timerRuns("skip")
		return slices.ContainsFunc(runs, func(r v1.TimerRun) bool { return r.Manual && r.Result == v1.RunSucceeded }), last
	})

	// Forbid skips ticks while the stuck run goes on; activeDeadline stops it.
	stuck := cl.waitRuns("stuck", 1, 30*time.Second)
	if s := stuck[0]; s.Result != v1.RunFailed || s.Reason != v1.ReasonDeadlineExceeded {
		t.Errorf("stuck run: %s %s %s", s.Result, s.Reason, s.Message)
	}
	if d := stuck[0].CompletionTime.Sub(stuck[0].StartTime); d < 6*time.Second || d > 12*time.Second {
		t.Errorf("stuck run ended %s after it started, want soon after its activeDeadline of 6s", d)
	}
	desc, _, _ := applyctl(t, cl.etcd, "", "describe", "timer", cl.name("stuck"))
	if !strings.Contains(desc, v1.ReasonConcurrentSkipped) || !strings.Contains(desc, "timeout") {
		t.Errorf("describe timer stuck: no %s event, or no timeout:\n%s", v1.ReasonConcurrentSkipped, desc)
	}

	// The leader is killed between ticks: the next leader goes on.
	before := len(cl.waitRuns("echo", 3, 30*time.Second))
	if err := cl.hosts[leader].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cl.leader(30*time.Second, leader)
	runs = cl.waitRuns("echo", before+4, 40*time.Second)
	checkTicks(t, "echo across the leader's death", runs)

	// Every controller down across ticks; then one comes back.
	skipBefore, _ := cl.timerRuns("skip")
	last := cl.hosts[other]
	last.kill()
	down := time.Now()
	eventually(t, 30*time.Second, "every host Down and two ticks passed with no controller", func() (bool, string) {
		out, _, _ := applyctl(t, cl.etcd, "", "get", "hosts", "-o", "json")
		var hosts struct{ Items []v1.Host }
		_ = json.Unmarshal([]byte(out), &hosts)
		for _, h := range hosts.Items {
			if _, ours := cl.hosts[h.Metadata.Name]; ours && h.Status.State != v1.HostDown {
				return false, h.Metadata.Name + " is " + string(h.Status.State)
			}
		}
		return time.Since(down) > 2*timerPeriod, fmt.Sprintf("down for %s", time.Since(down).Round(time.Second))
	})
	last.start()
	up := time.Now()
	runs = cl.waitRuns("echo", len(runs)+2, 40*time.Second)
	var missed []time.Time
	for tick := down.Truncate(timerPeriod).Add(timerPeriod); tick.Before(up); tick = tick.Add(timerPeriod) {
		missed = append(missed, tick)
	}
	// The persistent one ran once for the ticks missed, for the last of them.
	checkTicks(t, "echo after every controller was down", runs, missed[:len(missed)-1]...)
	for _, r := range runs {
		t.Logf("echo run %d: tick %s, started %s after it, ran %s", r.Run, r.Tick.Format("15:04:05"),
			r.StartTime.Sub(r.Tick).Round(time.Millisecond), r.CompletionTime.Sub(r.StartTime).Round(time.Millisecond))
	}
	// The other skipped them: a run starts by its starting deadline or not
	// at all.
	skipAfter := cl.waitRuns("skip", len(skipBefore)+2, 30*time.Second)
	ran := 0
	for _, r := range skipAfter {
		if late := r.StartTime.Sub(r.Tick); !r.Manual && late > time.Second+500*time.Millisecond {
			t.Errorf("skip: run %d of %s started %s late, past its starting deadline of 1s", r.Run, r.Tick.Format("15:04:05"), late)
		}
		if slices.ContainsFunc(missed, r.Tick.Equal) {
			ran++
		}
	}
	if ran >= len(missed) {
		t.Errorf("skip ran every one of the %d ticks missed while no controller led%s", len(missed), describeRuns(skipAfter))
	}
}

// TestTimersLeaderSoak (BERTH_TIMER_SOAK=1; BERTH_TIMER_SOAK_MINUTES, 5 by
// default): three controllers, the leading one killed and started again
// every two periods or so for minutes, and a Timer every 5 s whose runs
// are counted at the end: one per tick, none skipped, none twice.
func TestTimersLeaderSoak(t *testing.T) {
	if os.Getenv("BERTH_TIMER_SOAK") != "1" {
		t.Skip("a soak of several minutes: BERTH_TIMER_SOAK=1 runs it")
	}
	minutes := 5
	if m, err := strconv.Atoi(os.Getenv("BERTH_TIMER_SOAK_MINUTES")); err == nil && m > 0 {
		minutes = m
	}
	cl := newCluster(t, testenv.Etcd(t))
	for _, h := range []string{"a", "b", "c"} {
		cl.start(h, "")
	}
	runner := cl.host("a")
	cl.apply(cl.timerDoc("soak", fmt.Sprintf("  placement: {hosts: [%s]}\n  persistent: true\n  concurrencyPolicy: Allow\n  container: {image: IMAGE, args: [exit, \"0\"]}\n", runner)))
	cl.waitRuns("soak", 1, 30*time.Second)
	end := time.Now().Add(time.Duration(minutes) * time.Minute)
	kills := 0
	var leader string
	for time.Now().Before(end) {
		// When the leader is the runs' host, the runs due while it is
		// down fail (HostLost, NoHost), still once per tick.
		leader = cl.leader(30 * time.Second)
		cl.hosts[leader].kill()
		kills++
		n := len(mustRuns(cl, "soak"))
		cl.leader(30*time.Second, leader)
		cl.hosts[leader].start()
		cl.waitRuns("soak", n+2, 30*time.Second)
	}
	runs := cl.waitRuns("soak", len(mustRuns(cl, "soak")), 30*time.Second)
	t.Logf("%d runs over %d minutes, %d leaders killed", len(runs), minutes, kills)
	checkTicks(t, "soak", runs)
}

func mustRuns(cl *cluster, short string) []v1.TimerRun {
	runs, _ := cl.timerRuns(short)
	return runs
}
