package e2e

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// Environment of the fault test.
const (
	// faultSeedEnv replays the schedule of a seed a run printed.
	faultSeedEnv = "FAULT_SEED"
	// faultMinutesEnv sets how long faults are injected (default
	// faultDefaultLength): a soak by hand, FAULT_MINUTES=30.
	faultMinutesEnv    = "FAULT_MINUTES"
	faultDefaultLength = 2 * time.Minute
	// faultConverge bounds how long everything takes to converge after
	// the last fault.
	faultConverge = 60 * time.Second
)

// TestFaultInjection runs three controllers and a three-member etcd, each
// pair on its own simulated machine (a network namespace), with 20 Units
// that depend on each other and are health-checked, a Service, and a Job
// whose versions are rolled out one after another, while a schedule drawn
// from a seed injects faults for two minutes (FAULT_MINUTES): controllers
// killed and frozen, etcd members stopped, killed and frozen, machines
// cut off the network and plugged back in, containers killed, Units that
// others require stopped and started again. Every second a checker reads
// etcd and Docker and records every breach of the invariants of
// faultChecker.judge; after the last fault everything must converge
// within faultConverge. The test prints its seed; FAULT_SEED replays the
// same schedule.
func TestFaultInjection(t *testing.T) {
	seed, length := faultParams(t)
	// Set-up, convergence and clean-up take a few minutes beside the faults.
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < length+5*time.Minute {
		t.Fatalf("%s of faults need go test's -timeout to leave %s at least; it leaves %s",
			length, length+5*time.Minute, time.Until(deadline).Round(time.Second))
	}
	t.Logf("fault seed %d (replay with %s=%d); %s of faults", seed, faultSeedEnv, seed, length)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay: %s=%d %s=%g go test -run TestFaultInjection ./test/e2e", faultSeedEnv, seed, faultMinutesEnv, length.Minutes())
		}
	})
	r := newFaultRig(t)
	w := newFaultWorkload(r.label, r.label, r.bridgeAddr(), 5)
	plan := newFaultPlan(seed, length, faultShape{Hosts: len(r.hosts), Units: len(w.units()), Groups: w.groups})
	t.Log(plan.summary())

	x := &faultRun{t: t, r: r, w: w, facts: newFaultFacts(r.hosts, time.Now()), stats: map[string]int{}}
	x.checker = newFaultChecker(w, rigHeartbeatTTL, rigElectionTimeout)
	if err := x.write("apply the workload", w.all(), w.objectKeys(), []string{store.JobVersionPrefix(w.job())}); err != nil {
		t.Fatal(err)
	}
	setup := time.Now()
	x.waitConverged(2*time.Minute, "the workload up before any fault")
	t.Logf("the workload converged %s after it was applied", time.Since(setup).Round(time.Millisecond))

	// The checker's and the writer's logs count from x.start.
	x.start = time.Now()
	x.startChecker()
	x.startWriter()
	// What the checker found is reported however the test ends.
	t.Cleanup(func() {
		x.stopWriter()
		x.stopChecker()
		converged := "did not converge"
		if x.converged > 0 {
			converged = fmt.Sprintf("converged %s after the last fault", x.converged.Round(time.Millisecond))
		}
		t.Logf("%s: %d steps done (%s), the latest %s late; %d checks of the world (%d could not read it), "+
			"%d violations (%d occurrences); %s; %s; %s",
			plan.summary(), len(plan.Steps), x.describeStats(), x.late.Round(time.Millisecond), x.ticks, x.missed,
			len(x.checker.violations), x.checker.occurrences, x.checker.figures(), converged, x.load)
		if len(x.checker.violations) > 0 {
			t.Errorf("%d invariants broken (seed %d):%s", len(x.checker.violations), seed, x.checker.report(x.start))
		}
	})
	x.run(plan)
	x.stopWriter()
	x.converged = x.waitConverged(faultConverge, "everything converged after the last fault")
}

// faultParams reads FAULT_SEED (a random seed when unset) and
// FAULT_MINUTES.
func faultParams(t *testing.T) (uint64, time.Duration) {
	t.Helper()
	var seed uint64
	if s := os.Getenv(faultSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer: %v", faultSeedEnv, s, err)
		}
		seed = v
	} else {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) >> 11 // fits a float64 exactly, for shells and logs
	}
	length := faultDefaultLength
	if s := os.Getenv(faultMinutesEnv); s != "" {
		m, err := strconv.ParseFloat(s, 64)
		if err != nil || m <= 0 {
			t.Fatalf("%s=%q: want a positive number of minutes", faultMinutesEnv, s)
		}
		length = time.Duration(m * float64(time.Minute))
	}
	return seed, length
}

// faultRun is one run of the fault test: the executor of the schedule
// (on the test's goroutine) and the checker (on its own).
type faultRun struct {
	t       *testing.T
	r       *faultRig
	w       *faultWorkload
	facts   *faultFacts
	start   time.Time
	late    time.Duration // the most a step ran behind its schedule
	statsMu sync.Mutex
	stats   map[string]int // what the executor did, by kind

	checker     *faultChecker
	checkerMu   sync.Mutex // the checker and its counters
	ticks       int
	missed      int
	member      int    // the etcd member the checker read through last
	term        uint64 // the highest raft term of etcd seen
	load        faultLoad
	stopCheck   context.CancelFunc
	checkerDone chan struct{}

	writes         chan faultWrite
	writerDone     chan struct{}
	stopWriterOnce sync.Once
	async          sync.WaitGroup // kills of containers under way

	converged time.Duration // how long everything took to converge after the last fault
}

func (x *faultRun) count(what string, n int) {
	x.statsMu.Lock()
	defer x.statsMu.Unlock()
	x.stats[what] += n
}

func (x *faultRun) describeStats() string {
	x.statsMu.Lock()
	defer x.statsMu.Unlock()
	var keys []string
	for k := range x.stats {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", x.stats[k], k))
	}
	return strings.Join(parts, ", ")
}

func (x *faultRun) logf(format string, args ...any) {
	x.t.Helper()
	at := "setup"
	if !x.start.IsZero() {
		at = fmt.Sprintf("%7.2fs", time.Since(x.start).Seconds())
	}
	x.t.Logf("%s "+format, append([]any{at}, args...)...)
}

// write applies docs through applyctl, trying again while it fails (etcd
// keeps a majority, but the member applyctl reaches first may be the one
// down), and records the revisions it leaves on keys and on the keys
// under prefixes as the test's own.
func (x *faultRun) write(what, docs string, keys, prefixes []string) error {
	x.facts.setWriting(true, nil)
	deadline := time.Now().Add(time.Minute)
	for attempt := 1; ; attempt++ {
		out, errOut, code := x.r.applyctl(docs, "apply", "-f", "-")
		if code == 0 {
			x.count("writes", 1)
			break
		}
		x.count("write attempts that failed", 1)
		if time.Now().After(deadline) {
			x.facts.setWriting(false, nil)
			return fmt.Errorf("%s: applyctl apply failed %d times for a minute, the last: exit %d: %s%s", what, attempt, code, out, errOut)
		}
		x.logf("%s: applyctl apply: exit %d: %s%s; again", what, code, out, strings.TrimSpace(errOut))
	}
	var now map[string]int64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		kvs, _, err := x.r.st.List(ctx, store.Prefix+"objects/")
		cancel()
		if err == nil {
			now = map[string]int64{}
			for _, kv := range kvs {
				now[kv.Key] = kv.ModRevision
			}
			break
		}
		if time.Now().After(deadline) {
			x.facts.setWriting(false, nil)
			return fmt.Errorf("%s: read the objects back: %v", what, err)
		}
	}
	objects := x.facts.view().objects
	mine := func(key string) bool {
		return slices.Contains(keys, key) || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(key, p) })
	}
	for key := range objects {
		if _, ok := now[key]; !ok && mine(key) {
			delete(objects, key) // a version record the apply pruned
		}
	}
	for key, rev := range now {
		if mine(key) {
			objects[key] = rev
		}
	}
	x.facts.setWriting(false, objects)
	return nil
}

// faultWrite is a write of the schedule, for the writer.
type faultWrite struct {
	what, docs     string
	keys, prefixes []string
	before         func() // called as the write begins, after the writes sent before it are done
	done           func() // called once it is written
}

// startWriter performs the writes the schedule sends, one after the
// other in its order, until stopWriter: applyctl may take seconds while
// etcd is disturbed, and the schedule goes on meanwhile.
func (x *faultRun) startWriter() {
	x.writes, x.writerDone = make(chan faultWrite, 100), make(chan struct{})
	go func() {
		defer close(x.writerDone)
		for w := range x.writes {
			if w.before != nil {
				w.before()
			}
			if err := x.write(w.what, w.docs, w.keys, w.prefixes); err != nil {
				x.t.Error(err)
				continue
			}
			if w.done != nil {
				w.done()
			}
		}
	}()
}

// stopWriter waits for the writes sent, and for the kills of containers
// under way. It may be called again.
func (x *faultRun) stopWriter() {
	x.stopWriterOnce.Do(func() {
		close(x.writes)
		<-x.writerDone
		x.async.Wait()
	})
}

// waitConverged waits until the world is what the test asked for and
// returns how long it took.
func (x *faultRun) waitConverged(timeout time.Duration, what string) time.Duration {
	x.t.Helper()
	start := time.Now()
	eventually(x.t, timeout, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := readSnapshot(ctx, x.r.st, x.r.containers)
		if err != nil {
			return false, err.Error()
		}
		return converged(s, x.w, x.r.hosts)
	})
	return time.Since(start)
}

// startChecker reads and judges the world every faultTick until
// stopChecker.
func (x *faultRun) startChecker() {
	ctx, cancel := context.WithCancel(context.Background())
	x.stopCheck, x.checkerDone = cancel, make(chan struct{})
	go func() {
		defer close(x.checkerDone)
		tick := time.NewTicker(faultTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			x.observeTerm(ctx, "")
			x.checkOnce(ctx)
		}
	}()
}

// observeTerm reads etcd's raft term and, when it rose since the last
// look, tells the facts that the leader moved now: a new leader gives
// every lease its TTL again, so a dead host's endpoints may stay that
// much longer. Now is the latest the election can have been, which keeps
// the checker from blaming berth for etcd's election.
func (x *faultRun) observeTerm(ctx context.Context, when string) {
	t := x.r.etcdTerm(ctx)
	if t <= x.term {
		return
	}
	if x.term != 0 {
		x.facts.leaderChanged(time.Now())
		x.logf("etcd's raft term %d -> %d%s: a new leader, every lease its TTL again", x.term, t, when)
	}
	x.term = t
}

func (x *faultRun) checkOnce(ctx context.Context) {
	before := x.facts.view()
	var s faultSnapshot
	var err error
	// Through the member that answered last, else the next ones: a read
	// is linearizable, so a member cut off from the others does not
	// answer it.
	for i := range x.r.members {
		m := (x.member + i) % len(x.r.members)
		rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		s, err = readSnapshot(rctx, x.r.members[m], x.r.containers)
		cancel()
		if err == nil {
			x.member = m
			break
		}
	}
	if err == nil {
		// A read that waited out an election (its leader frozen or cut
		// off) returns before the next tick would see the new term: look
		// again before judging what it read.
		x.observeTerm(ctx, ", seen just after a read")
	}
	facts := x.facts.view()
	if before.writing || before.writes != facts.writes {
		facts.writing = true // the objects read may be from before or after the write
	}
	x.checkerMu.Lock()
	defer x.checkerMu.Unlock()
	x.ticks++
	x.load.sample()
	if err != nil {
		x.missed++
		return
	}
	seen := len(x.checker.violations)
	x.checker.judge(s, facts)
	x.reportProgress(seen)
	for _, p := range append(append([]*rigProc{}, x.r.etcd...), x.r.ctl...) {
		if gone, why := p.exited(); gone {
			x.checker.violate(s.at, "exited:"+p.name, "process exited by itself", "%s\n%s", why, p.tail(20))
		}
	}
}

// reportProgress logs the violations found since the first seen of
// them, as they are found, and every faultProgressEvery ticks how far the
// checker is: a soak cut short still tells what it found. Call it with
// checkerMu held.
func (x *faultRun) reportProgress(seen int) {
	for _, v := range x.checker.violations[seen:] {
		x.t.Logf("%7.2fs VIOLATION %s: %s", v.At.Sub(x.start).Seconds(), v.Rule, v.What)
	}
	if x.ticks%faultProgressEvery == 0 {
		x.t.Logf("%7.2fs %d checks of the world (%d could not read it), %d violations; %s; %s",
			time.Since(x.start).Seconds(), x.ticks, x.missed, len(x.checker.violations), x.checker.figures(), x.load)
	}
}

// faultLoad is the machine's load average while the checker runs: the
// figures of a soak depend on what else the machine was doing.
type faultLoad struct {
	n         int
	sum, peak float64
}

// sample reads the 1-minute load average from /proc/loadavg.
func (l *faultLoad) sample() {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return
	}
	l.n++
	l.sum += v
	l.peak = max(l.peak, v)
}

func (l faultLoad) String() string {
	if l.n == 0 {
		return "load average not read"
	}
	return fmt.Sprintf("load average (1 min) of the machine's %d CPUs meanwhile: mean %.2f, peak %.2f",
		goruntime.NumCPU(), l.sum/float64(l.n), l.peak)
}

// faultProgressEvery is how many ticks of the checker apart it says how
// far it is.
const faultProgressEvery = 300

// stopChecker stops the checker and waits for it. It may be called
// again.
func (x *faultRun) stopChecker() {
	x.stopCheck()
	<-x.checkerDone
}

// etcdTerm returns the highest raft term the members answer with (0 when
// none answers): a new term is a new leader, which gives every lease its
// whole TTL again.
func (r *faultRig) etcdTerm(ctx context.Context) uint64 {
	var best uint64
	for _, ep := range strings.Split(r.endpoints, ",") {
		rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, ep+"/v3/maintenance/status", bytes.NewReader([]byte("{}")))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var st struct {
				Header struct {
					RaftTerm string `json:"raft_term"`
				}
			}
			if json.NewDecoder(resp.Body).Decode(&st) == nil {
				if v, err := strconv.ParseUint(st.Header.RaftTerm, 10, 64); err == nil && v > best {
					best = v
				}
			}
			resp.Body.Close()
		}
		cancel()
	}
	return best
}

// faultEvent is a step of the schedule, or the end of one.
type faultEvent struct {
	at   time.Duration
	step faultStep
	undo bool
}

// run executes the plan on time: each step at its offset from x.start,
// each fault undone when it ends.
func (x *faultRun) run(p faultPlan) {
	x.t.Helper()
	var evs []faultEvent
	for _, s := range p.Steps {
		evs = append(evs, faultEvent{at: s.At, step: s})
		if s.For > 0 {
			evs = append(evs, faultEvent{at: s.At + s.For, step: s, undo: true})
		}
	}
	// By time; at one time, what ends before what begins, as the plan
	// freed the resource.
	slices.SortStableFunc(evs, func(a, b faultEvent) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		if a.undo != b.undo {
			if a.undo {
				return -1
			}
			return 1
		}
		return 0
	})
	for _, ev := range evs {
		if wait := time.Until(x.start.Add(ev.at)); wait > 0 {
			time.Sleep(wait) // the schedule's own time, not a wait for a condition
		} else {
			x.late = max(x.late, -wait)
		}
		began := time.Now()
		x.do(ev)
		if took := time.Since(began); took > time.Second {
			x.logf("(%s, undo %v, took %s)", ev.step, ev.undo, took.Round(time.Millisecond))
		}
	}
}

// do performs one event of the schedule.
func (x *faultRun) do(ev faultEvent) {
	x.t.Helper()
	s, r, now := ev.step, x.r, time.Now()
	verb := "begin"
	if ev.undo {
		verb = "end"
	} else {
		x.count(string(s.Kind), 1)
	}
	switch s.Kind {
	case faultKillController, faultFreezeController, faultCutHost:
		x.logf("%s %s %s", verb, s.Kind, r.hosts[s.Target])
	case faultStopEtcd, faultKillEtcd, faultFreezeEtcd:
		x.logf("%s %s %s", verb, s.Kind, r.etcd[s.Target].name)
	}
	h := r.hosts[min(s.Target, len(r.hosts)-1)]
	switch {
	case s.Kind == faultKillController && !ev.undo:
		x.facts.hostDown(h, now)
		r.ctl[s.Target].halt(syscall.SIGKILL)
	case s.Kind == faultKillController:
		r.ctl[s.Target].start(x.t)
		x.facts.hostUp(h, now)
	case s.Kind == faultFreezeController && !ev.undo:
		x.facts.hostDown(h, now)
		x.signal(r.ctl[s.Target], syscall.SIGSTOP)
	case s.Kind == faultFreezeController:
		x.signal(r.ctl[s.Target], syscall.SIGCONT)
		x.facts.hostUp(h, now)
	case s.Kind == faultStopEtcd && !ev.undo:
		r.etcd[s.Target].halt(syscall.SIGTERM)
	case s.Kind == faultKillEtcd && !ev.undo:
		r.etcd[s.Target].halt(syscall.SIGKILL)
	case s.Kind == faultStopEtcd, s.Kind == faultKillEtcd:
		r.etcd[s.Target].start(x.t)
	case s.Kind == faultFreezeEtcd && !ev.undo:
		x.facts.blackholed(true, now)
		x.signal(r.etcd[s.Target], syscall.SIGSTOP)
	case s.Kind == faultFreezeEtcd:
		x.signal(r.etcd[s.Target], syscall.SIGCONT)
		x.facts.blackholed(false, time.Now())
	case s.Kind == faultCutHost && !ev.undo:
		x.facts.hostDown(h, now)
		x.facts.blackholed(true, now) // its etcd member, for the other hosts
		r.lab.cut(s.Target)
	case s.Kind == faultCutHost:
		r.lab.restore(s.Target)
		x.facts.hostUp(h, now)
		x.facts.blackholed(false, time.Now())
	case s.Kind == faultKillContainers:
		x.async.Add(1)
		go func() {
			defer x.async.Done()
			x.killContainers(s.Target)
		}()
	case s.Kind == faultStopUnit:
		db := x.w.groupUnit(s.Target, "db")
		x.w.stopped[s.Target] = !ev.undo
		write := faultWrite{what: "goal of " + db, docs: x.w.unitDoc(slices.Index(x.w.units(), db)),
			keys: []string{store.ObjectKey(v1.KindUnit, db)}}
		if ev.undo {
			// From the write of goal start on, it may run again: in the
			// writer's order, after the stop's write is done.
			write.before = func() { x.facts.setStopped(db, false, time.Now()) }
		} else {
			write.done = func() { x.facts.setStopped(db, true, time.Now()) }
		}
		x.logf("%s: goal %s", db, map[bool]string{true: "start", false: "stop"}[ev.undo])
		x.writes <- write
	case s.Kind == faultRollJob:
		x.w.version++
		x.logf("roll out version %d of %s", x.w.version, x.w.job())
		x.writes <- faultWrite{what: "version of " + x.w.job(), docs: x.w.jobDoc(),
			keys: []string{store.ObjectKey(v1.KindJob, x.w.job())}, prefixes: []string{store.JobVersionPrefix(x.w.job())}}
	}
}

func (x *faultRun) signal(p *rigProc, sig syscall.Signal) {
	x.t.Helper()
	if err := p.signal(sig); err != nil {
		x.t.Fatalf("%v to %s: %v", sig, p.name, err)
	}
}

// killContainers kills the running containers of Unit target, or, from
// len(units) on, the Job's on host target-len(units). It runs beside the
// schedule: it may not call t.Fatal.
func (x *faultRun) killContainers(target int) {
	units := x.w.units()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := x.r.containers(ctx)
	if err != nil {
		x.t.Logf("kill containers: %v", err)
		return
	}
	var ids, names []string
	for _, c := range cs {
		if c.State != runtime.StateRunning {
			continue
		}
		match := c.Labels[v1.LabelKind] == v1.KindUnit && target < len(units) && c.Labels[v1.LabelName] == units[target]
		if target >= len(units) {
			match = c.Labels[v1.LabelKind] == v1.KindJob && c.Labels[v1.LabelHost] == x.r.hosts[target-len(units)]
		}
		if match {
			ids, names = append(ids, c.ID), append(names, c.Name)
		}
	}
	if err := dockerKill(ctx, ids...); err != nil {
		x.t.Logf("kill containers %v: %v", names, err) // one may have exited meanwhile
	}
	x.count("containers killed", len(ids))
}
