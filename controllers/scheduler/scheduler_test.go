package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// Units of one replica applied at once spread evenly, before the scheduler
// starts and while it runs, because each decision counts the bindings the
// previous ones wrote (or are writing).
func TestSchedulerSpreadsUnitsAppliedAtOnce(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	var units []*v1.Unit
	for i := range 6 {
		units = append(units, newUnit(fmt.Sprintf("web-%d", i), v1.Placement{}))
	}
	apply(t, s, units...)
	run(t, s, scheduler.Options{Workers: 4})

	perHost := map[string]int{}
	for _, u := range units {
		b := waitBinding(t, s, u.Metadata.Name, hasHosts(1, 1))
		perHost[b.Hosts[0]]++
	}
	if want := map[string]int{"h1": 2, "h2": 2, "h3": 2}; fmt.Sprint(perHost) != fmt.Sprint(want) {
		t.Errorf("units per host = %v, want %v", perHost, want)
	}

	// Six more while it runs, with four workers deciding concurrently.
	more := units[:0:0]
	for i := range 6 {
		more = append(more, newUnit(fmt.Sprintf("api-%d", i), v1.Placement{}))
	}
	apply(t, s, more...)
	for _, u := range more {
		b := waitBinding(t, s, u.Metadata.Name, hasHosts(1, 1))
		perHost[b.Hosts[0]]++
	}
	if want := map[string]int{"h1": 4, "h2": 4, "h3": 4}; fmt.Sprint(perHost) != fmt.Sprint(want) {
		t.Errorf("units per host = %v, want %v", perHost, want)
	}
}

// Changing replicas rebinds, keeping the hosts already bound; the binding
// carries the unit's new generation.
func TestSchedulerReplicasChange(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	run(t, s, scheduler.Options{})

	apply(t, s, newUnit("db", v1.Placement{Replicas: 1}))
	first := waitBinding(t, s, "db", hasHosts(1, 1))

	apply(t, s, newUnit("db", v1.Placement{Replicas: 3}))
	waitBinding(t, s, "db", isBoundTo(2, "h1", "h2", "h3"))

	apply(t, s, newUnit("db", v1.Placement{Replicas: 2}))
	b := waitBinding(t, s, "db", hasHosts(2, 3))
	if !slices.Contains(b.Hosts, first.Hosts[0]) {
		t.Errorf("replicas 3 -> 2 dropped the first host %s: %v", first.Hosts[0], b.Hosts)
	}

	apply(t, s, newUnit("db", v1.Placement{Replicas: 1, HostSelector: map[string]string{"zone": "b"}}))
	waitBinding(t, s, "db", isBoundTo(4, "h2"))
}

// A deleted unit's binding is deleted.
func TestSchedulerDeletesBindingOfDeletedUnit(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	run(t, s, scheduler.Options{})

	apply(t, s, newUnit("tmp", v1.Placement{}), newUnit("keep", v1.Placement{}))
	waitBinding(t, s, "tmp", hasHosts(1, 1))
	waitBinding(t, s, "keep", hasHosts(1, 1))
	if err := store.DeleteObject(testCtx(t), s, v1.KindUnit, "tmp"); err != nil {
		t.Fatal(err)
	}
	waitBinding(t, s, "tmp", isAbsent)
	if b := binding(t, s, "keep"); b == nil {
		t.Error("the binding of another unit was deleted too")
	}
}

// A binding left behind while no scheduler ran (its unit deleted meanwhile)
// is deleted by the resync at start.
func TestSchedulerDeletesOrphanBindingAtStart(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	if _, err := s.Put(testCtx(t), store.BindingKey(v1.KindUnit, "gone"), []byte(`{"hosts":["h1"]}`), 0); err != nil {
		t.Fatal(err)
	}
	run(t, s, scheduler.Options{})
	waitBinding(t, s, "gone", isAbsent)
}

// A binding that does not decode is rewritten; one that another writer
// changed to other candidate hosts is kept, not fought over.
func TestSchedulerRewritesUnreadableBinding(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	apply(t, s, newUnit("x", v1.Placement{}))
	if _, err := s.Put(testCtx(t), store.BindingKey(v1.KindUnit, "x"), []byte(`{not json`), 0); err != nil {
		t.Fatal(err)
	}
	run(t, s, scheduler.Options{})
	waitBinding(t, s, "x", isBoundTo(1, "h1"))

	if _, err := s.Put(testCtx(t), store.BindingKey(v1.KindUnit, "x"), []byte(`{"hosts":["h3"],"generation":1}`), 0); err != nil {
		t.Fatal(err)
	}
	apply(t, s, newUnit("x", v1.Placement{Replicas: 2}))
	waitBinding(t, s, "x", isBoundTo(2, "h1", "h3"))
}

// Pinned and global units get no binding, and a stale one is removed; a
// pinned unit counts in the load of its host. A unit that becomes pinned
// loses its binding.
func TestSchedulerPinnedAndGlobalUnitsHaveNoBinding(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	stale := []byte(`{"hosts":["h3"],"generation":1}`)
	for _, name := range []string{"pinned", "global"} {
		if _, err := s.Put(testCtx(t), store.BindingKey(v1.KindUnit, name), stale, 0); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, s,
		newUnit("pinned", v1.Placement{Hosts: []string{"h1"}}),
		newUnit("global", v1.Placement{Global: true}),
		newUnit("free", v1.Placement{}),
	)
	h := run(t, s, scheduler.Options{Resync: 50 * time.Millisecond})

	waitBinding(t, s, "pinned", isAbsent)
	waitBinding(t, s, "global", isAbsent)
	// h1 carries the pinned unit, h2 and h3 nothing: h2 wins by name.
	waitBinding(t, s, "free", isBoundTo(1, "h2"))

	waitReconciled(t, h.reg, 6) // two resyncs of three units
	for _, name := range []string{"pinned", "global"} {
		if b := binding(t, s, name); b != nil {
			t.Errorf("unit %s has binding %+v", name, b)
		}
	}

	apply(t, s, newUnit("free", v1.Placement{Hosts: []string{"h3"}}))
	waitBinding(t, s, "free", isAbsent)
}

// A host whose labels stop matching loses its instance to one that matches.
func TestSchedulerMovesFromHostThatStoppedMatching(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	run(t, s, scheduler.Options{})

	apply(t, s, newUnit("a", v1.Placement{HostSelector: map[string]string{"zone": "a"}}))
	waitBinding(t, s, "a", isBoundTo(1, "h1"))

	putHost(t, s, "h1", map[string]string{"zone": "b"}, true)
	waitBinding(t, s, "a", isBoundTo(1, "h3"))
}

// A host that is Down keeps what is bound to it but gets nothing new; when
// it comes Up it is used again.
//
// The Down state is written before the scheduler starts: its caches of
// alive keys and of units are separate watches, so a unit applied just after
// a host went down may still be placed on it (and then stays, until
// rescheduling away from Down hosts exists).
func TestSchedulerDownHost(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	putHost(t, s, "h3", map[string]string{"zone": "a"}, false)
	apply(t, s, newUnit("a", v1.Placement{}), newUnit("b", v1.Placement{Replicas: 3}))
	// a was bound to h3 for an older generation: rewriting it for generation
	// 1 shows the scheduler decided, and kept h3.
	if _, err := s.Put(testCtx(t), store.BindingKey(v1.KindUnit, "a"), []byte(`{"hosts":["h3"]}`), 0); err != nil {
		t.Fatal(err)
	}
	ranOn(t, s, "a", "h3") // an instance that ran there is waited for
	run(t, s, scheduler.Options{})

	waitBinding(t, s, "a", isBoundTo(1, "h3"))
	waitBinding(t, s, "b", isBoundTo(1, "h1", "h2"))

	putHost(t, s, "h3", map[string]string{"zone": "a"}, true)
	waitBinding(t, s, "b", isBoundTo(1, "h1", "h2", "h3"))
	if b := binding(t, s, "a"); b == nil || !slices.Equal(b.Hosts, []string{"h3"}) {
		t.Errorf("unit a moved: %+v", b)
	}
}

// With no candidate host a unit gets an empty binding, and is bound as soon
// as a host appears.
func TestSchedulerNoCandidate(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	run(t, s, scheduler.Options{})

	apply(t, s, newUnit("lonely", v1.Placement{}))
	waitBinding(t, s, "lonely", isBoundTo(1))
	putHost(t, s, "h9", nil, true)
	waitBinding(t, s, "lonely", isBoundTo(1, "h9"))
}

// A scheduler whose cluster does not change writes nothing, resync after
// resync.
func TestSchedulerIdleWritesNothing(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)
	var units []*v1.Unit
	for i := range 4 {
		units = append(units, newUnit(fmt.Sprintf("u%d", i), v1.Placement{Replicas: 2}))
	}
	units = append(units, newUnit("pinned", v1.Placement{Hosts: []string{"h2"}}))
	apply(t, s, units...)
	h := run(t, s, scheduler.Options{Resync: 20 * time.Millisecond})
	for _, u := range units[:4] {
		waitBinding(t, s, u.Metadata.Name, hasHosts(2, 1))
	}

	before, err := s.Revision(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	waitReconciled(t, h.reg, 3*len(units)) // at least two full resyncs
	after, err := s.Revision(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("idle scheduler wrote: etcd revision %d -> %d", before, after)
	}
}

// Two schedulers, each in its own Election of one name, on their own
// connections: only one runs at a time; when the leader's context ends the
// other takes over and keeps scheduling.
func TestSchedulerFailoverUnderElection(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	threeHosts(t, s)

	var running, overlaps atomic.Int32
	type candidate struct {
		el     *store.Election
		cancel context.CancelFunc
		done   chan struct{}
	}
	var cands []*candidate
	for i := range 2 {
		conn := testenv.NewStore(t, store.Config{Endpoints: s.Endpoints()})
		sched := scheduler.New(conn, scheduler.Options{})
		c := &candidate{el: conn.NewElection("scheduler", fmt.Sprintf("c%d", i), time.Second), done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		go func() {
			defer close(c.done)
			_ = c.el.Run(ctx, func(ctx context.Context) {
				if running.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer running.Add(-1)
				_ = sched.Run(ctx) // returns only once its reconciles have ended
			})
		}()
		t.Cleanup(func() { cancel(); <-c.done })
		cands = append(cands, c)
	}

	apply(t, s, newUnit("before", v1.Placement{}))
	waitBinding(t, s, "before", hasHosts(1, 1))

	var leader, follower *candidate
	testenv.Eventually(t, waitTimeout, "a leader", func() (bool, string) {
		for i, c := range cands {
			if c.el.IsLeader() {
				leader, follower = c, cands[1-i]
				return true, ""
			}
		}
		return false, "none leads"
	})
	leader.cancel()
	<-leader.done // its Scheduler has stopped: whatever is written now, the follower wrote

	apply(t, s, newUnit("after", v1.Placement{}), newUnit("before", v1.Placement{Replicas: 2}))
	waitBinding(t, s, "after", hasHosts(1, 1))
	waitBinding(t, s, "before", hasHosts(2, 2))
	if !follower.el.IsLeader() {
		t.Error("the follower wrote bindings without leading")
	}
	if n := overlaps.Load(); n > 0 {
		t.Errorf("two schedulers ran at once %d times", n)
	}
}

// ranOnH1 runs a scheduler timed by a fake clock, with RescheduleAfter a
// minute, that bound unit a to h1, where it ran; h2 is Up beside it.
func ranOnH1(t *testing.T) (*store.Store, *testingclock.FakeClock) {
	t.Helper()
	s := testenv.EtcdStore(t)
	fake := testingclock.NewFakeClock(time.Now())
	putHost(t, s, "h1", nil, true)
	apply(t, s, newUnit("a", v1.Placement{}))
	run(t, s, scheduler.Options{RescheduleAfter: time.Minute, Clock: fake})
	waitBinding(t, s, "a", isBoundTo(1, "h1"))
	ranOn(t, s, "a", "h1")
	putHost(t, s, "h2", nil, true)
	return s, fake
}

// A host Down for longer than RescheduleAfter loses its instances to an Up
// host that matches. Time is a fake clock the test steps: the instance
// moves once a minute of it passed.
func TestSchedulerReschedulesFromLostHost(t *testing.T) {
	t.Parallel()
	s, fake := ranOnH1(t)

	putHost(t, s, "h1", nil, false)
	var stepped time.Duration
	testenv.Eventually(t, waitTimeout, "a moved to h2", func() (bool, string) {
		b := binding(t, s, "a")
		if isBoundTo(1, "h2")(b) {
			return true, ""
		}
		fake.Step(10 * time.Second)
		stepped += 10 * time.Second
		return false, fmt.Sprintf("binding %+v after %s", b, stepped)
	})
	if stepped < time.Minute {
		t.Errorf("rescheduled %s after the host went Down, before RescheduleAfter", stepped)
	}
}

// A host that comes back before RescheduleAfter keeps its instances. A
// move would stick, so the decision for a new generation shows none
// happened.
func TestSchedulerKeepsWhatCameBackSoon(t *testing.T) {
	t.Parallel()
	s, fake := ranOnH1(t)

	putHost(t, s, "h1", nil, false)
	fake.Step(50 * time.Second)
	putHost(t, s, "h1", nil, true)
	a := newUnit("a", v1.Placement{})
	a.Spec.Container.Image = "busybox:2"
	apply(t, s, a)
	waitBinding(t, s, "a", isBoundTo(2, "h1"))
}

// A unit bound to a host that goes Down before it ever ran there moves at
// once: there is nothing there to wait for.
func TestSchedulerMovesAtOnceWhatNeverRan(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	putHost(t, s, "h1", nil, true)
	apply(t, s, newUnit("a", v1.Placement{}))
	run(t, s, scheduler.Options{RescheduleAfter: time.Hour})
	waitBinding(t, s, "a", isBoundTo(1, "h1"))
	putHost(t, s, "h2", nil, true)
	putHost(t, s, "h1", nil, false)
	waitBinding(t, s, "a", isBoundTo(1, "h2"))
}

func ranOn(t *testing.T, s *store.Store, unit, host string) {
	t.Helper()
	if _, err := s.Put(testCtx(t), store.StatusKey(v1.KindUnit, unit, host), []byte(`{"host":"`+host+`","state":"RUNNING"}`), 0); err != nil {
		t.Fatal(err)
	}
}
