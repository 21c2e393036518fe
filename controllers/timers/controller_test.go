package timers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// clock is a time the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type cluster struct {
	t     *testing.T
	s     *store.Store
	clock *clock
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{t: t, s: testenv.EtcdStore(t), clock: &clock{now: time.Now()}}
	ctx := context.Background()
	h, _ := json.Marshal(v1.Host{Metadata: v1.ObjectMeta{Name: "h1"}})
	if _, err := c.s.Put(ctx, store.HostKey("h1"), h, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.Put(ctx, store.AliveKey("h1"), []byte("{}"), 0); err != nil {
		t.Fatal(err)
	}
	return c
}

// leader starts a Timers loop, as a controller that leads does, and
// returns what stops it.
func (c *cluster) leader() (stop func()) { return c.leaderWith(Options{}) }

// leaderWith starts a Timers loop with o, timed by the cluster's clock.
func (c *cluster) leaderWith(o Options) (stop func()) {
	o.Now, o.Resync = c.clock.Now, 20*time.Millisecond
	ctl := New(c.s, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctl.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	c.t.Cleanup(stop)
	return stop
}

func (c *cluster) apply(t *v1.Timer) {
	c.t.Helper()
	if _, err := store.Apply(context.Background(), c.s, []v1.Object{t}, store.ApplyOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// runs returns the run bindings of the timer.
func (c *cluster) runs(name string) []v1.TimerRunBinding {
	c.t.Helper()
	kvs, _, err := c.s.List(context.Background(), RunPrefix(name))
	if err != nil {
		c.t.Fatal(err)
	}
	var out []v1.TimerRunBinding
	for _, kv := range kvs {
		var b v1.TimerRunBinding
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b v1.TimerRunBinding) int { return int(a.Run - b.Run) })
	return out
}

func (c *cluster) record(name string) v1.TimerStatus {
	var st v1.TimerStatus
	if kv, err := c.s.Get(context.Background(), StatusKey(name)); err == nil {
		_ = json.Unmarshal(kv.Value, &st)
	}
	return st
}

// finish reports every run of the timer as a host does when its container
// exited 0.
func (c *cluster) finish(name string) {
	c.t.Helper()
	for _, b := range c.runs(name) {
		code := 0
		st, _ := json.Marshal(v1.InstanceStatus{Host: "h1", State: v1.StateExited, LastExitCode: &code, LastExitTime: c.clock.Now()})
		if _, err := c.s.Put(context.Background(), store.StatusKey(v1.KindTimer, v1.TimerRunName(name, b.Run), "h1"), st, 0); err != nil {
			c.t.Fatal(err)
		}
	}
	testenv.Eventually(c.t, 10*time.Second, "the leader sees every run finished", func() (bool, string) {
		for _, r := range c.record(name).Runs {
			if r.Result == v1.RunActive {
				return false, fmt.Sprintf("run %d active", r.Run)
			}
		}
		return true, ""
	})
}

// ticks lists the ticks of the runs decided.
func ticks(bs []v1.TimerRunBinding) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Tick.UTC().Format("15:04:05"))
	}
	return out
}

// waitTicks waits until the runs decided are exactly want (by their
// ticks) and the record says the last of them was decided.
func (c *cluster) waitTicks(name string, want []time.Time, last time.Time) {
	c.t.Helper()
	var w []string
	for _, t := range want {
		w = append(w, t.UTC().Format("15:04:05"))
	}
	testenv.Eventually(c.t, 10*time.Second, fmt.Sprintf("runs of ticks %v", w), func() (bool, string) {
		got := ticks(c.runs(name))
		rec := c.record(name)
		return slices.Equal(got, w) && rec.LastScheduleTime.Equal(last), fmt.Sprintf("runs %v, last decided %s", got, rec.LastScheduleTime.UTC().Format("15:04:05"))
	})
}

// persistent returns a persistent Timer of that name, every 5 minutes,
// whose runs' bindings all stay, to be counted.
func persistent(name string) *v1.Timer {
	tm := v1.New(v1.KindTimer).(*v1.Timer)
	tm.Metadata.Name = name
	tm.Spec.Schedule = "*:0/5"
	tm.Spec.Persistent = true
	ten := 10
	tm.Spec.SuccessfulRunsHistory = &ten
	tm.Spec.Container.Image = "busybox"
	v1.Default(tm)
	return tm
}

// TestLeadersDecideEachTickOnce: two controllers deciding at once (as the
// old and the new leader may, for a moment), a leader stopped between
// ticks, and a persistent Timer after every controller was down across
// ticks: each tick runs exactly once, none is skipped, and the missed ones
// run once together.
func TestLeadersDecideEachTickOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.apply(persistent("backup"))

	start := time.Now().Truncate(5 * time.Minute).Add(5 * time.Minute) // the first tick after the Timer was made
	tick := func(i int) time.Time { return start.Add(time.Duration(i) * 5 * time.Minute) }
	stopA := c.leader()
	stopB := c.leader()

	var want []time.Time
	for i := range 3 {
		c.clock.set(tick(i).Add(time.Second))
		want = append(want, tick(i))
		c.waitTicks("backup", want, tick(i))
		c.finish("backup")
	}
	// The leader A goes between ticks: B alone decides the next.
	stopA()
	c.clock.set(tick(3).Add(2 * time.Second))
	want = append(want, tick(3))
	c.waitTicks("backup", want, tick(3))
	c.finish("backup")

	// Every controller down across two ticks; then one comes back: the
	// latest missed tick runs once (persistent), the other merges into it.
	stopB()
	c.clock.set(tick(5).Add(30 * time.Second))
	c.leader()
	want = append(want, tick(5))
	c.waitTicks("backup", want, tick(5))
	rec := c.record("backup")
	if rec.LastRun != int64(len(want)) {
		t.Errorf("runs numbered up to %d, want %d", rec.LastRun, len(want))
	}
	for i, b := range c.runs("backup") {
		if b.Run != int64(i+1) || !slices.Equal(b.Hosts, []string{"h1"}) {
			t.Errorf("run binding %+v", b)
		}
	}
}

// TestNotPersistentSkipsMissedTicks: a Timer that is not persistent and
// whose runs cannot start by its starting deadline skips them, with an
// event, and runs the next tick on time.
func TestNotPersistentSkipsMissedTicks(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	tm := v1.New(v1.KindTimer).(*v1.Timer)
	tm.Metadata.Name = "report"
	tm.Spec.Schedule = "*:0/5"
	tm.Spec.StartingDeadline = &v1.Duration{Duration: 10 * time.Second}
	tm.Spec.Container.Image = "busybox"
	v1.Default(tm)
	c.apply(tm)
	start := time.Now().Truncate(5 * time.Minute).Add(5 * time.Minute)
	c.clock.set(start.Add(time.Minute)) // a minute late: past the deadline
	c.leader()
	c.waitTicks("report", nil, start)
	c.clock.set(start.Add(5*time.Minute + time.Second))
	c.waitTicks("report", []time.Time{start.Add(5 * time.Minute)}, start.Add(5*time.Minute))
}

// TestUndecodableTimerLeftAlone: a stored Timer that does not decode is
// reported with an InvalidObject event and left alone: no run is decided
// for it and its record and runs are kept (it is not taken for deleted);
// once it decodes again, its next tick runs.
func TestUndecodableTimerLeftAlone(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	tm := persistent("sweep")
	c.apply(tm)
	events, reg := &testenv.Events{}, prometheus.NewRegistry()
	c.leaderWith(Options{Events: events, Metrics: reconcile.NewMetrics(reg)})
	reconciles := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "controller_runtime_reconcile_total" {
				for _, m := range mf.GetMetric() {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}
	start := time.Now().Truncate(5 * time.Minute).Add(5 * time.Minute)
	c.clock.set(start.Add(time.Second))
	c.waitTicks("sweep", []time.Time{start}, start)
	c.finish("sweep")

	key := store.ObjectKey(v1.KindTimer, "sweep")
	if _, err := c.s.Put(context.Background(), key, []byte(`{"metadata":{"name":"sweep"},"spec":{"schedule":5}}`), 0); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "an InvalidObject event on the timer", func() (bool, string) {
		return events.Count("Timer/sweep", "InvalidObject") > 0, fmt.Sprint(events.Said())
	})
	// Its next tick comes while it does not decode: the loop looks at it
	// (every resync) and decides nothing.
	c.clock.set(start.Add(5*time.Minute + time.Second))
	seen := reconciles()
	testenv.Eventually(t, 10*time.Second, "the timer reconciled again after its tick", func() (bool, string) {
		n := reconciles()
		return n >= seen+3, fmt.Sprintf("%v reconciles since the tick", n-seen)
	})
	if got := ticks(c.runs("sweep")); !slices.Equal(got, []string{start.UTC().Format("15:04:05")}) {
		t.Errorf("runs while the timer does not decode: %v; want the first one only, kept", got)
	}
	if rec := c.record("sweep"); rec.LastRun != 1 || !rec.LastScheduleTime.Equal(start) {
		t.Errorf("record while the timer does not decode: last run %d decided %s; want it kept as run 1 at %s", rec.LastRun, rec.LastScheduleTime, start)
	}

	fixed, err := json.Marshal(tm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.Put(context.Background(), key, fixed, 0); err != nil {
		t.Fatal(err)
	}
	c.waitTicks("sweep", []time.Time{start, start.Add(5 * time.Minute)}, start.Add(5*time.Minute))
}
