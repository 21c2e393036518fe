package registrator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

type env struct {
	t    *testing.T
	s    *store.Store
	rt   *fake.Runtime
	r    *Registrator
	stop func()
}

// newEnv runs a Registrator of host h1 on a fake engine; mods change its
// options first.
func newEnv(t *testing.T, mods ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, s: testenv.EtcdStore(t), rt: fake.New()}
	e.rt.AddImage("berth/testapp")
	o := Options{Store: e.s, Runtime: e.rt, Host: "h1", Address: "127.0.0.1", DataDir: t.TempDir(), TTL: 2 * time.Second, Resync: time.Hour}
	for _, m := range mods {
		m(&o)
	}
	e.r = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.r.Run(ctx) }()
	e.stop = func() { cancel(); <-done }
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func (e *env) endpoint(service, id string) (catalog.Endpoint, bool) {
	kv, err := e.s.Get(context.Background(), store.CatalogKey("h1", service, id))
	if err != nil {
		return catalog.Endpoint{}, false
	}
	var ep catalog.Endpoint
	if err := json.Unmarshal(kv.Value, &ep); err != nil {
		e.t.Fatal(err)
	}
	return ep, true
}

// eventually waits for cond, as testenv.Eventually does, for up to 10s.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	testenv.Eventually(e.t, 10*time.Second, what, cond)
}

// eventuallyStepping waits for cond, moving clk on by step before each
// look: what the registrator does on its intervals and TTLs comes as fast
// as it can.
func (e *env) eventuallyStepping(clk *testingclock.FakeClock, step time.Duration, what string, cond func() (bool, string)) {
	e.t.Helper()
	e.eventually(what, func() (bool, string) {
		clk.Step(step)
		return cond()
	})
}

func (e *env) run(name string, env []string, ports ...runtime.PortBinding) string {
	ctx := context.Background()
	id, err := e.rt.Create(ctx, runtime.ContainerSpec{Name: name, Image: "berth/testapp", Env: env, Ports: ports})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rt.Start(ctx, id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestContainersAreRegisteredAndDeregistered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.run("files", []string{"SERVICE_NAME=files", "SERVICE_TAGS=v1"}, runtime.PortBinding{ContainerPort: 80, HostPort: 28080})
	e.eventually("registered", func() (bool, string) {
		ep, ok := e.endpoint("files", "h1:files:80")
		return ok && ep.Port == 28080 && ep.Address == "127.0.0.1" && len(ep.Tags) == 1, fmt.Sprintf("%+v", ep)
	})
	kv, _ := e.s.Get(context.Background(), store.CatalogKey("h1", "files", "h1:files:80"))
	if kv.Lease == 0 {
		t.Error("the endpoint is not on a lease")
	}
	if err := e.rt.Stop(context.Background(), id, "", time.Second); err != nil {
		t.Fatal(err)
	}
	e.eventually("deregistered when the container stops", func() (bool, string) {
		_, ok := e.endpoint("files", "h1:files:80")
		return !ok, ""
	})
}

func TestShutdownRemovesEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run("files", []string{"SERVICE_NAME=files"}, runtime.PortBinding{ContainerPort: 80, HostPort: 28081})
	e.eventually("registered", func() (bool, string) { _, ok := e.endpoint("files", "h1:files:80"); return ok, "" })
	e.stop()
	if _, ok := e.endpoint("files", "h1:files:80"); ok {
		t.Error("the endpoint outlived its registrator")
	}
}

func TestAgentRegistrationChecksAndTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	ctx := context.Background()
	err := e.r.Register(ctx, catalog.Endpoint{ID: "api-1", Service: "api", Port: 9999, Tags: []string{"v2"},
		Checks: []catalog.Check{
			{ID: "api-http", Type: catalog.CheckHTTP, HTTP: srv.URL, Interval: 50 * time.Millisecond, Timeout: time.Second, Status: v1.CheckCritical},
			{ID: "api-ttl", Type: catalog.CheckTTL, TTL: time.Minute, Status: v1.CheckCritical},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.endpoint("api", "api-1"); !ok {
		t.Fatal("a registration is not in the catalog when Register returns")
	}
	status := func(id string) string {
		ep, _ := e.endpoint("api", "api-1")
		for _, c := range ep.Checks {
			if c.ID == id {
				return string(c.Status) + ": " + c.Output
			}
		}
		return "none"
	}
	e.eventually("http check passing", func() (bool, string) { s := status("api-http"); return s[:7] == "passing", s })
	if err := e.r.UpdateTTL(ctx, "api-ttl", v1.CheckPassing, "all good"); err != nil {
		t.Fatal(err)
	}
	if s := status("api-ttl"); s != "passing: all good" {
		t.Errorf("ttl check after update: %s", s)
	}
	healthy.Store(false)
	e.eventually("http check critical", func() (bool, string) { s := status("api-http"); return s[:8] == "critical", s })
	if err := e.r.UpdateTTL(ctx, "nope", v1.CheckPassing, ""); err == nil {
		t.Error("an unknown check was updated")
	}
	if len(e.r.Local()) != 1 {
		t.Errorf("Local = %+v", e.r.Local())
	}
	if err := e.r.Deregister(ctx, "api-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.endpoint("api", "api-1"); ok {
		t.Error("deregistered endpoint still in the catalog")
	}
}

// A TTL check turns critical once its TTL passes, on the registrator's
// clock, without an update.
func TestTTLExpires(t *testing.T) {
	t.Parallel()
	clk := testingclock.NewFakeClock(time.Now())
	e := newEnv(t, func(o *Options) { o.Clock = clk })
	ctx := context.Background()
	if err := e.r.Register(ctx, catalog.Endpoint{ID: "w", Service: "worker", Port: 1,
		Checks: []catalog.Check{{ID: "w-ttl", Type: catalog.CheckTTL, TTL: time.Minute, Status: v1.CheckCritical}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.r.UpdateTTL(ctx, "w-ttl", v1.CheckPassing, "alive"); err != nil {
		t.Fatal(err)
	}
	if ep, _ := e.endpoint("worker", "w"); ep.Status() != v1.CheckPassing {
		t.Fatalf("after an update to passing: %+v", ep.Checks)
	}
	e.eventuallyStepping(clk, 10*time.Second, "critical once the TTL passes without an update", func() (bool, string) {
		ep, _ := e.endpoint("worker", "w")
		return ep.Status() == v1.CheckCritical, fmt.Sprintf("%+v", ep.Checks)
	})
}

// An agent registration whose check has been critical for longer than its
// DeregisterCriticalAfter goes at the next rebuild, a resync at the
// latest, from the catalog and from what the agent keeps.
func TestDeregisterCriticalAfter(t *testing.T) {
	t.Parallel()
	clk := testingclock.NewFakeClock(time.Now())
	e := newEnv(t, func(o *Options) { o.Clock, o.Resync = clk, time.Minute })
	ctx := context.Background()
	if err := e.r.Register(ctx, catalog.Endpoint{ID: "flaky-1", Service: "flaky", Port: 1,
		Checks: []catalog.Check{{ID: "flaky-ttl", Type: catalog.CheckTTL, TTL: time.Hour, Status: v1.CheckCritical,
			DeregisterCriticalAfter: 2 * time.Minute}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.endpoint("flaky", "flaky-1"); !ok {
		t.Fatal("not registered")
	}
	e.eventuallyStepping(clk, 20*time.Second, "deregistered after 2m critical", func() (bool, string) {
		_, ok := e.endpoint("flaky", "flaky-1")
		return !ok, ""
	})
	if l := e.r.Local(); len(l) != 0 {
		t.Errorf("Local still shows %+v", l)
	}
	if err := e.r.UpdateTTL(ctx, "flaky-ttl", v1.CheckPassing, ""); err == nil {
		t.Error("the deregistered endpoint's check was updated")
	}
}

// An agent registration is readable from the host's own catalog view when
// Register returns, and gone from it when Deregister does.
func TestAgentReadYourWrites(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	rt := fake.New()
	cat := catalog.NewWatched(s)
	r := New(Options{Store: s, Runtime: rt, Host: "h1", Address: "127.0.0.1", TTL: 2 * time.Second, Resync: time.Hour, Visible: cat.WaitRevision})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = cat.Run(ctx); done <- struct{}{} }()
	go func() { _ = r.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	testenv.Eventually(t, 10*time.Second, "the catalog and the registrator synced", func() bool { return cat.Synced() && r.Synced() })
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("svc-%d", i)
		if err := r.Register(ctx, catalog.Endpoint{ID: id, Service: "ryw", Port: 1000 + i}); err != nil {
			t.Fatal(err)
		}
		eps, _ := cat.Endpoints("ryw")
		if len(eps) != i+1 {
			t.Fatalf("after registering %s the catalog shows %d endpoints", id, len(eps))
		}
	}
	if err := r.Deregister(ctx, "svc-0"); err != nil {
		t.Fatal(err)
	}
	if eps, _ := cat.Endpoints("ryw"); len(eps) != 19 {
		t.Errorf("after deregistering, the catalog shows %d endpoints", len(eps))
	}
}

// TestBuiltOnceLocalShowsTheAgentsRegistrations: a registrator started on
// the data directory of an earlier one is not Built, and Local shows
// nothing, until its first rebuild; then Local holds what the earlier one
// registered through the agent, and a running container's endpoint.
func TestBuiltOnceLocalShowsTheAgentsRegistrations(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	rt := fake.New()
	rt.AddImage("berth/testapp")
	dir := t.TempDir()
	ctx := context.Background()
	before := New(Options{Store: s, Runtime: rt, Host: "h1", Address: "127.0.0.1", DataDir: dir, TTL: 2 * time.Second, Resync: time.Hour})
	bctx, stopBefore := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = before.Run(bctx) }()
	e := &env{t: t, s: s, rt: rt}
	e.eventually("the first registrator's caches synced", func() (bool, string) { return before.Synced(), "" })
	if err := before.Register(ctx, catalog.Endpoint{ID: "kept", Service: "kept", Port: 9000}); err != nil {
		t.Fatal(err)
	}
	if !before.Built() {
		t.Error("a registration rebuilt the endpoints, yet Built is false")
	}
	stopBefore()
	<-stopped
	e.run("files", []string{"SERVICE_NAME=files"}, runtime.PortBinding{ContainerPort: 80, HostPort: 28082})

	r := New(Options{Store: s, Runtime: rt, Host: "h1", Address: "127.0.0.1", DataDir: dir, TTL: 2 * time.Second, Resync: time.Hour})
	if r.Built() || len(r.Local()) != 0 {
		t.Fatalf("before Run: Built %v, Local %v; want false and nothing", r.Built(), r.Local())
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.eventually("built", func() (bool, string) { return r.Built(), "" })
	var ids []string
	for _, ep := range r.Local() {
		ids = append(ids, ep.ID)
	}
	if want := "[h1:files:80 kept]"; fmt.Sprint(ids) != want {
		t.Errorf("Local once built: %v, want %s", ids, want)
	}
}

// Agent calls may come while Run starts (the Consul routes are served
// before the registrator runs): the checks they register start runners
// from the HTTP server's goroutines, on the context Run set. A check
// registered then runs, and its endpoint goes with the registrator. Under
// -race this fails if Run sets that context without the lock.
func TestAgentCallsWhileRunStarts(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	rt := fake.New()
	r := New(Options{Store: s, Runtime: rt, Host: "h1", Address: "127.0.0.1", TTL: 2 * time.Second, Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	// What an agent call does once its registration is rebuilt; called
	// here directly, as the etcd client's own locks would otherwise order
	// it after Run's start for the race detector.
	r.withResults([]catalog.Endpoint{{ID: "direct", Service: "direct", Checks: []catalog.Check{{ID: "direct-ttl", Type: catalog.CheckTTL, TTL: time.Minute}}}})
	err := r.Register(context.Background(), catalog.Endpoint{ID: "early", Service: "early", Port: 1,
		Checks: []catalog.Check{{ID: "early-ttl", Type: catalog.CheckTTL, TTL: time.Minute, Status: v1.CheckCritical}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateTTL(context.Background(), "early-ttl", v1.CheckPassing, "up"); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if _, err := s.Get(context.Background(), store.CatalogKey("h1", "early", "early")); err == nil {
		t.Error("the endpoint outlived its registrator")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.runners) != 0 {
		t.Errorf("%d check runners outlived Run", len(r.runners))
	}
}

// A stored Service that does not decode is left out of the rebuilds, with
// an InvalidObject warning on it, and the other Services' endpoints are
// registered; once it is stored again readable, its endpoint is too.
func TestUndecodableServiceIsLeftOut(t *testing.T) {
	t.Parallel()
	evs := &events{}
	e := newEnv(t, func(o *Options) { o.Events = evs })
	ctx := context.Background()
	if _, err := e.s.Put(ctx, store.ObjectKey(v1.KindService, "broken"), []byte(`{"spec": 7}`), 0); err != nil {
		t.Fatal(err)
	}
	static := func(name string, port int) *v1.Service {
		return &v1.Service{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindService}, Metadata: v1.ObjectMeta{Name: name},
			Spec: v1.ServiceSpec{Endpoints: []v1.StaticEndpoint{{ID: name + "-1", Address: "127.0.0.2", Port: port, Host: "h1"}}}}
	}
	if _, err := store.Apply(ctx, e.s, []v1.Object{static("db", 5432)}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the readable Service's endpoint registered", func() (bool, string) {
		ep, ok := e.endpoint("db", "db-1")
		return ok && ep.Port == 5432, fmt.Sprintf("%+v", ep)
	})
	e.eventually("an InvalidObject warning on the Service that does not decode", func() (bool, string) {
		got := evs.with("InvalidObject")
		return len(got) == 1 && strings.HasPrefix(got[0], "Service/broken Warning"), fmt.Sprint(got)
	})
	if _, ok := e.endpoint("broken", "broken-1"); ok {
		t.Error("an endpoint of the Service that does not decode")
	}
	fixed, _ := json.Marshal(static("broken", 6379)) // written over by hand, as it was broken
	if _, err := e.s.Put(ctx, store.ObjectKey(v1.KindService, "broken"), fixed, 0); err != nil {
		t.Fatal(err)
	}
	e.eventually("the Service's endpoint registered once it decodes", func() (bool, string) {
		ep, ok := e.endpoint("broken", "broken-1")
		return ok && ep.Port == 6379, fmt.Sprintf("%+v", ep)
	})
}
