package units

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// env is a Controller for host "h" on a fake engine and a real etcd.
type env struct {
	t   *testing.T
	s   *store.Store
	rt  *fake.Runtime
	c   *Controller
	reg *prometheus.Registry // of the loop's metrics, unless Options.Metrics was set
}

func newEnv(t *testing.T, mods ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, s: testenv.EtcdStore(t), rt: fake.New(), reg: prometheus.NewRegistry()}
	e.rt.AddImage("berth/testapp")
	o := Options{Store: e.s, Runtime: e.rt, Host: "h", Resync: time.Hour, PortRange: [2]int{41000, 41999},
		Metrics: reconcile.NewMetrics(e.reg)}
	for _, m := range mods {
		m(&o)
	}
	e.c = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.eventually("caches synced", func() (bool, string) { return e.c.Synced(), "" })
	return e
}

func (e *env) apply(o v1.Object) {
	e.t.Helper()
	if _, err := store.Apply(context.Background(), e.s, []v1.Object{o}, store.ApplyOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) status(name string) *v1.InstanceStatus { return e.statusOf(v1.KindUnit, name) }

// statusOf returns what h reports of the object kind/name, nil when none.
func (e *env) statusOf(kind, name string) *v1.InstanceStatus {
	kv, err := e.s.Get(context.Background(), store.StatusKey(kind, name, "h"))
	if err != nil {
		return nil
	}
	st := &v1.InstanceStatus{}
	if err := json.Unmarshal(kv.Value, st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// eventually waits for cond, as testenv.Eventually does, for up to 10s.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	testenv.Eventually(e.t, 10*time.Second, what, cond)
}

// reconciled asks the loop to reconcile keys, as the resync does, and
// waits until it has finished as many reconciles more.
func (e *env) reconciled(keys ...string) {
	e.t.Helper()
	n := reconciles(e.t, e.reg)
	for _, k := range keys {
		e.c.Enqueue(k)
	}
	want := n + float64(len(keys))
	e.eventually(fmt.Sprintf("%d more reconciles", len(keys)), func() (bool, string) {
		got := reconciles(e.t, e.reg)
		return got >= want, fmt.Sprint(got - n)
	})
}

// reconcileErrors returns how many reconciles failed.
func (e *env) reconcileErrors() float64 {
	return value(e.t, e.reg, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "unit"})
}

func (e *env) waitState(name string, state v1.InstanceState) *v1.InstanceStatus {
	e.t.Helper()
	var st *v1.InstanceStatus
	e.eventually(name+" "+string(state), func() (bool, string) {
		st = e.status(name)
		if st == nil {
			return false, "no status"
		}
		return st.State == state, fmt.Sprintf("%s %s", st.State, st.Message)
	})
	return st
}

func (e *env) containers(name string) []runtime.Container {
	cs, err := e.rt.List(context.Background(), runtime.ListOptions{All: true, Labels: map[string]string{v1.LabelName: name}})
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

func pinned(name string, mod func(*v1.Unit)) *v1.Unit {
	return testUnit(func(u *v1.Unit) {
		u.Metadata.Name = name
		u.Spec.Placement.Hosts = []string{"h"}
		u.Spec.Container.Ports = []v1.Port{{Name: "http", ContainerPort: 8080}, {Name: "dns", ContainerPort: 53, Protocol: v1.ProtocolUDP, HostPort: 41053}}
		u.Spec.Restart.Delay = &v1.Duration{Duration: 50 * time.Millisecond}
		if mod != nil {
			mod(u)
		}
	})
}

func TestRunsRestartsRecreatesAndRemoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("web", nil))
	st := e.waitState("web", v1.StateRunning)
	cs := e.containers("web")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	c := cs[0]
	if c.Name != "berth-unit-web" || c.Labels[v1.LabelHost] != "h" || c.Labels[v1.LabelSpecHash] == "" {
		t.Errorf("container %+v", c)
	}
	var http, dns int
	for _, p := range st.Ports {
		switch p.Name {
		case "http":
			http = p.HostPort
		case "dns":
			dns = p.HostPort
		}
	}
	if http < 41000 || http > 41999 || dns != 41053 {
		t.Errorf("ports %+v", st.Ports)
	}
	env := strings.Join(c.Env, " ")
	if !strings.Contains(env, fmt.Sprintf("BERTH_PORT_HTTP=%d", http)) || !strings.Contains(env, "BERTH_PORT_DNS=41053") {
		t.Errorf("env %s", env)
	}
	if st.ObservedGeneration != 1 || v1.FindCondition(st.Conditions, v1.ConditionReady).Status != v1.ConditionTrue {
		t.Errorf("status %+v", st)
	}

	// A container that dies is restarted, the same container.
	if err := e.rt.Exit(c.ID, 3); err != nil {
		t.Fatal(err)
	}
	e.eventually("restarted", func() (bool, string) {
		st = e.status("web")
		return st.Restarts == 1 && st.State == v1.StateRunning, fmt.Sprintf("%+v", st)
	})
	if st.ContainerID != c.ID || st.LastExitCode == nil || *st.LastExitCode != 3 {
		t.Errorf("after restart: %+v", st)
	}

	// A new template recreates it, keeping the host port.
	e.apply(pinned("web", func(u *v1.Unit) { u.Spec.Container.Args = []string{"--v2"} }))
	e.eventually("recreated", func() (bool, string) {
		st = e.status("web")
		return st.ObservedGeneration == 2 && st.State == v1.StateRunning, fmt.Sprintf("%+v", st)
	})
	cs = e.containers("web")
	if len(cs) != 1 || cs[0].ID == c.ID {
		t.Fatalf("after template change: %+v", cs)
	}
	if st.Ports[0].HostPort != dns && st.Ports[1].HostPort != http {
		t.Errorf("host port not kept: %+v (was %d)", st.Ports, http)
	}

	// Delete: gone, status gone.
	if err := store.DeleteObject(context.Background(), e.s, v1.KindUnit, "web"); err != nil {
		t.Fatal(err)
	}
	e.eventually("removed", func() (bool, string) {
		return len(e.containers("web")) == 0 && e.status("web") == nil, ""
	})
}

func TestIdleWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("web", nil))
	e.waitState("web", v1.StateRunning)
	ctx := context.Background()
	before, _ := e.s.Revision(ctx)
	// Through the loop, which reconciles a key at a time: Reconcile is
	// not to be called beside it.
	for i := 0; i < 5; i++ {
		e.reconciled("web")
	}
	after, _ := e.s.Revision(ctx)
	if after != before {
		t.Errorf("idle reconciles wrote to etcd: revision %d -> %d", before, after)
	}
}

// TestStatusWrittenAgainWhenDeleted: a status that vanishes from etcd
// while its instance runs (the leader's garbage collection, an operator's
// etcdctl del) is written again, though nothing about the instance changed.
func TestStatusWrittenAgainWhenDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("web", nil))
	want := e.waitState("web", v1.StateRunning)
	for i := range 3 {
		if ok, err := e.s.Delete(context.Background(), store.StatusKey(v1.KindUnit, "web", "h")); err != nil || !ok {
			t.Fatalf("delete the status: %v, %v", ok, err)
		}
		e.eventually(fmt.Sprintf("the status written again (%d)", i+1), func() (bool, string) {
			st := e.status("web")
			if st == nil {
				return false, "no status"
			}
			return st.State == v1.StateRunning && st.ContainerID == want.ContainerID && st.Restarts == 0,
				fmt.Sprintf("%s %s %s", st.State, st.ContainerID, st.Message)
		})
	}
}

// TestUndecodableUnitLeftAlone: a stored Unit that does not decode is not
// taken for deleted, nor is it an error: its container keeps running and
// its status stays; once it decodes again it is followed.
func TestUndecodableUnitLeftAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("web", nil))
	before := e.waitState("web", v1.StateRunning)
	key := store.ObjectKey(v1.KindUnit, "web")
	if _, err := e.s.Put(context.Background(), key, []byte(`{"metadata":{"name":"web"},"spec":{"goal":5}}`), 0); err != nil {
		t.Fatal(err)
	}
	e.eventually("the cache holds the undecodable unit", func() (bool, string) {
		en, ok := e.c.caches.units.Get(key)
		return ok && en.Err != nil, fmt.Sprintf("%v %v", ok, en.Err)
	})
	e.reconciled("web")
	if cs := e.containers("web"); len(cs) != 1 || cs[0].ID != before.ContainerID || cs[0].State != runtime.StateRunning {
		t.Errorf("containers while the unit does not decode: %+v; want %s kept running", cs, before.ContainerID)
	}
	if st := e.status("web"); st == nil || st.State != v1.StateRunning || st.ContainerID != before.ContainerID {
		t.Errorf("status while the unit does not decode: %+v; want it kept", st)
	}
	if n := e.reconcileErrors(); n != 0 {
		t.Errorf("%v failed reconciles; want none: a unit that does not decode waits for a change", n)
	}

	fixed, err := json.Marshal(pinned("web", func(u *v1.Unit) { u.Spec.Container.Args = []string{"--v2"} }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Put(context.Background(), key, fixed, 0); err != nil {
		t.Fatal(err)
	}
	e.eventually("recreated once the unit decodes", func() (bool, string) {
		cs := e.containers("web")
		st := e.status("web")
		return len(cs) == 1 && cs[0].ID != before.ContainerID && st != nil && st.State == v1.StateRunning && st.ContainerID == cs[0].ID,
			fmt.Sprintf("%d containers, status %+v", len(cs), st)
	})
}

func TestOrphansAndForeignContainers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mk := func(name string, labels map[string]string) string {
		id, err := e.rt.Create(ctx, runtime.ContainerSpec{Name: name, Image: "berth/testapp", Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	mk("orphan", map[string]string{v1.LabelHost: "h", v1.LabelKind: v1.KindUnit, v1.LabelName: "ghost"})
	foreign := mk("foreign", nil)
	other := mk("other-host", map[string]string{v1.LabelHost: "elsewhere", v1.LabelKind: v1.KindUnit, v1.LabelName: "ghost2"})
	e.c.loop.EnqueueAll() // as a resync does
	e.eventually("orphan removed", func() (bool, string) {
		_, err := e.rt.Inspect(ctx, "orphan")
		return errors.Is(err, runtime.ErrNotFound), fmt.Sprint(err)
	})
	for _, id := range []string{foreign, other} {
		if c, err := e.rt.Inspect(ctx, id); err != nil || c.State != runtime.StateRunning {
			t.Errorf("a container berth does not own was touched: %v %+v", err, c)
		}
	}
}

func TestStartLimitFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("crash", func(u *v1.Unit) {
		u.Spec.Restart.Delay = &v1.Duration{Duration: 10 * time.Millisecond}
		u.Spec.Restart.StartLimit = &v1.StartLimit{Burst: 3, Interval: &v1.Duration{Duration: time.Minute}}
	}))
	for i := 0; i < 3; i++ {
		st := e.waitState("crash", v1.StateRunning)
		e.eventually("running at restart count", func() (bool, string) { return e.status("crash").Restarts == i, "" })
		if err := e.rt.Exit(st.ContainerID, 1); err != nil {
			t.Fatal(err)
		}
	}
	st := e.waitState("crash", v1.StateFailed)
	if !strings.Contains(st.Message, "start request repeated too quickly") {
		t.Errorf("message %q", st.Message)
	}
	// A new generation gets a new chance.
	e.apply(pinned("crash", func(u *v1.Unit) {
		u.Spec.Restart.Delay = &v1.Duration{Duration: 10 * time.Millisecond}
		u.Spec.Restart.StartLimit = &v1.StartLimit{Burst: 4, Interval: &v1.Duration{Duration: time.Minute}}
	}))
	e.waitState("crash", v1.StateRunning)
}

func TestGoalStopAndStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("web", nil))
	e.waitState("web", v1.StateRunning)
	e.apply(pinned("web", func(u *v1.Unit) { u.Spec.Goal = v1.GoalStop }))
	st := e.waitState("web", v1.StateStopped)
	if cs := e.containers("web"); len(cs) != 1 || cs[0].State == runtime.StateRunning {
		t.Errorf("stopped unit's container: %+v", cs)
	}
	if st.Goal != v1.GoalStop {
		t.Errorf("goal %q", st.Goal)
	}
	e.apply(pinned("web", nil))
	e.waitState("web", v1.StateRunning)
}

func TestImageProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("never", func(u *v1.Unit) {
		u.Spec.Container.Image = "berth/missing"
		u.Spec.Container.PullPolicy = v1.PullNever
		u.Spec.Container.Ports = nil
	}))
	e.eventually("image missing reported", func() (bool, string) {
		st := e.status("never")
		return st != nil && st.Throttled == v1.ThrottleImageMissing && strings.Contains(st.Message, "not present"), fmt.Sprintf("%+v", st)
	})
	e.apply(pinned("pull", func(u *v1.Unit) {
		u.Spec.Container.Image = "berth/nowhere"
		u.Spec.Container.Ports = nil
	}))
	e.eventually("pull failure reported", func() (bool, string) {
		st := e.status("pull")
		return st != nil && st.Throttled == v1.ThrottleImagePullFailed, fmt.Sprintf("%+v", st)
	})
	// The image appears: both come up.
	e.rt.AddImage("berth/missing")
	e.rt.AddRegistryImage("berth/nowhere")
	e.c.Enqueue("never")
	e.c.Enqueue("pull")
	e.waitState("never", v1.StateRunning)
	e.waitState("pull", v1.StateRunning)
}

func TestEngineLostAndBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("web", nil))
	st := e.waitState("web", v1.StateRunning)
	before := e.reconcileErrors()
	e.rt.SetAvailable(false)
	e.c.Enqueue("web")
	e.eventually("a reconcile fails with the engine gone", func() (bool, string) { return e.reconcileErrors() > before, "" })
	e.rt.SetAvailable(true)
	e.c.Enqueue("web")
	e.waitState("web", v1.StateRunning)
	if cs := e.containers("web"); len(cs) != 1 || cs[0].ID != st.ContainerID {
		t.Errorf("container replaced after the engine came back: %+v", cs)
	}
}

func TestPlacement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("elsewhere", func(u *v1.Unit) { u.Spec.Placement.Hosts = []string{"other"} }))
	e.apply(pinned("bound", func(u *v1.Unit) { u.Spec.Placement.Hosts = nil }))
	ctx := context.Background()
	e.reconciled("elsewhere", "bound")
	if len(e.containers("elsewhere")) != 0 || len(e.containers("bound")) != 0 {
		t.Fatal("a unit not placed here runs here")
	}
	b, _ := json.Marshal(v1.Binding{Hosts: []string{"h"}})
	if _, err := e.s.Put(ctx, store.BindingKey(v1.KindUnit, "bound"), b, 0); err != nil {
		t.Fatal(err)
	}
	e.waitState("bound", v1.StateRunning)
	if len(e.containers("elsewhere")) != 0 || e.status("elsewhere") != nil {
		t.Error("a unit placed on another host runs here")
	}
}

func TestGracePeriodDrainsBeforeStopping(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	drained := map[string]time.Time{}
	e := newEnv(t, func(o *Options) {
		o.Drain = func(_ context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			drained[id] = time.Now()
			return nil
		}
	})
	e.apply(pinned("web", func(u *v1.Unit) { u.Spec.GracePeriod = &v1.Duration{Duration: 300 * time.Millisecond} }))
	st := e.waitState("web", v1.StateRunning)
	if err := store.DeleteObject(context.Background(), e.s, v1.KindUnit, "web"); err != nil {
		t.Fatal(err)
	}
	e.eventually("drained", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		_, ok := drained[st.ContainerID]
		return ok, ""
	})
	mu.Lock()
	at := drained[st.ContainerID]
	mu.Unlock()
	if c, err := e.rt.Inspect(context.Background(), st.ContainerID); err != nil || c.State != runtime.StateRunning {
		t.Errorf("stopped before its grace period: %v %+v", err, c.State)
	}
	e.eventually("removed after the grace period", func() (bool, string) {
		return len(e.containers("web")) == 0, ""
	})
	if gone := time.Since(at); gone < 300*time.Millisecond {
		t.Errorf("removed %s after draining, before the 300ms grace period", gone)
	}
}

// Two hosts on one engine (a test rig, or hosts in network namespaces)
// each run their own instance of a unit: the second takes the name with
// its host appended.
func TestSharedEngineNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// Another host's instance of the same unit on this engine.
	id, err := e.rt.Create(ctx, runtime.ContainerSpec{Name: "berth-unit-web", Image: "berth/testapp",
		Labels: map[string]string{v1.LabelHost: "other", v1.LabelKind: v1.KindUnit, v1.LabelName: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	e.apply(pinned("web", func(u *v1.Unit) { u.Spec.Container.Ports = nil }))
	st := e.waitState("web", v1.StateRunning)
	c, err := e.rt.Inspect(ctx, st.ContainerID)
	if err != nil || c.Name != "berth-unit-web-h" {
		t.Errorf("this host's container: %v %q", err, c.Name)
	}
	if _, err := e.rt.Inspect(ctx, id); err != nil {
		t.Errorf("the other host's container was touched: %v", err)
	}
}

// TestBackingOffIsFlappingAndProgressing: an instance that waits out its
// restart delay says so in its status (throttled FLAPPING, Progressing
// True with reason BackOff, not Ready); once it runs again, none of it.
func TestBackingOffIsFlappingAndProgressing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(pinned("crash", func(u *v1.Unit) { u.Spec.Restart.Delay = &v1.Duration{Duration: time.Hour} }))
	st := e.waitState("crash", v1.StateRunning)
	if err := e.rt.Exit(st.ContainerID, 1); err != nil {
		t.Fatal(err)
	}
	st = e.waitState("crash", v1.StateExited)
	if st.Throttled != v1.ThrottleFlapping || !strings.HasSuffix(st.Message, "(back-off)") {
		t.Errorf("backing off: throttled %q, message %q", st.Throttled, st.Message)
	}
	if p := v1.FindCondition(st.Conditions, v1.ConditionProgressing); p == nil || p.Status != v1.ConditionTrue || p.Reason != "BackOff" {
		t.Errorf("Progressing = %+v, want True, BackOff", p)
	}
	if r := v1.FindCondition(st.Conditions, v1.ConditionReady); r == nil || r.Status != v1.ConditionFalse || r.Reason != "Exited" {
		t.Errorf("Ready = %+v, want False, Exited", r)
	}
	// A new template starts at once, without the delay.
	e.apply(pinned("crash", func(u *v1.Unit) {
		u.Spec.Restart.Delay = &v1.Duration{Duration: time.Hour}
		u.Spec.Container.Args = []string{"--v2"}
	}))
	st = e.waitState("crash", v1.StateRunning)
	if st.Throttled != "" {
		t.Errorf("running, throttled %q", st.Throttled)
	}
}

// TestRequiresChainStopsThroughADeadHost: web requires api, which requires
// db. api runs on another host, h2, which is down: its status still says
// RUNNING. When db is stopped, web stops too, though api's host cannot
// stop api (systemd stops every unit down a chain of Requires=), and it
// starts again once db is back.
func TestRequiresChainStopsThroughADeadHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	h2, _ := json.Marshal(v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}, Metadata: v1.ObjectMeta{Name: "h2"}})
	if _, err := e.s.Put(ctx, store.HostKey("h2"), h2, 0); err != nil {
		t.Fatal(err)
	}
	noPorts := func(u *v1.Unit) { u.Spec.Container.Ports = nil }
	e.apply(pinned("db", noPorts))
	e.apply(testUnit(func(u *v1.Unit) {
		u.Metadata.Name, u.Spec.Placement.Hosts, u.Spec.Requires = "api", []string{"h2"}, []string{"db"}
	}))
	api, _ := json.Marshal(v1.InstanceStatus{Host: "h2", State: v1.StateRunning, ContainerID: "on-h2",
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue}}})
	if _, err := e.s.Put(ctx, store.StatusKey(v1.KindUnit, "api", "h2"), api, 0); err != nil {
		t.Fatal(err)
	}
	e.apply(pinned("web", func(u *v1.Unit) { u.Spec.Requires = []string{"api"} }))
	e.waitState("web", v1.StateRunning)

	e.apply(pinned("db", func(u *v1.Unit) { noPorts(u); u.Spec.Goal = v1.GoalStop }))
	st := e.waitState("web", v1.StateWaiting)
	if want := "api, which requires db, which was stopped"; !strings.Contains(st.Message, want) {
		t.Errorf("web WAITING with message %q, want it to say %q", st.Message, want)
	}
	if cs := e.containers("web"); len(cs) != 1 || cs[0].State == runtime.StateRunning {
		t.Errorf("web's container after db stopped: %+v", cs)
	}

	e.apply(pinned("db", noPorts))
	e.waitState("web", v1.StateRunning)
}
