package consulapi_test

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
)

// The tests in this file drive the server with the real Consul client.

func newClient(t *testing.T, f *fixture) *api.Client {
	t.Helper()
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = f.srv.URL
	cfg.Token = ""
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ids(entries []*api.ServiceEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Service.ID)
	}
	sort.Strings(out)
	return out
}

func TestClientAgentSelf(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	c := newClient(t, f)
	self, err := c.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if self["Config"]["NodeName"] != "host-a" || self["Config"]["Datacenter"] != "dc1" {
		t.Errorf("Config = %v", self["Config"])
	}
	if self["Config"]["NodeID"] == "" || self["Config"]["Version"] == "" {
		t.Errorf("Config lacks NodeID or Version: %v", self["Config"])
	}
	if self["Member"]["Name"] != "host-a" || self["Member"]["Status"] != float64(1) {
		t.Errorf("Member = %v", self["Member"])
	}
	name, err := c.Agent().NodeName() // panics when Config.NodeName is missing
	if err != nil || name != "host-a" {
		t.Errorf("NodeName = %q, %v", name, err)
	}
}

func TestClientAgentSelfBeforeHostRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	f.agent.node = "host-new" // the catalog has no record of it yet
	name, err := newClient(t, f).Agent().NodeName()
	if err != nil || name != "host-new" {
		t.Errorf("NodeName = %q, %v", name, err)
	}
}

func TestClientCatalog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	c := newClient(t, f)

	svcs, meta, err := c.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(svcs["web"], []string{"http", "v1", "v2"}) || svcs["db"] == nil || len(svcs) != 2 {
		t.Errorf("Services = %v", svcs)
	}
	if meta.LastIndex != uint64(f.mem.Index()) {
		t.Errorf("Services index = %d, want the catalog's %d", meta.LastIndex, f.mem.Index())
	}

	web, meta, err := c.Catalog().Service("web", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(web) != 2 || web[0].ServiceID != "web-1" || web[1].ServiceID != "web-3" {
		t.Fatalf("Service(web, v1) = %+v", web)
	}
	w := web[0]
	if w.Node != "host-a" || w.Address != "10.0.0.5" || w.Datacenter != "dc1" || w.ServicePort != 8080 ||
		w.ServiceAddress != "10.0.0.5" || w.ServiceMeta["unit"] != "web" || w.ServiceWeights.Passing != 1 ||
		w.ID == "" || w.NodeMeta["zone"] != "a" || w.TaggedAddresses["lan"] != "10.0.0.5" {
		t.Errorf("CatalogService = %+v", w)
	}
	if _, svcIdx := f.mem.Endpoints("web"); meta.LastIndex != uint64(svcIdx) {
		t.Errorf("Service index = %d, want web's %d", meta.LastIndex, svcIdx)
	}
	both, _, err := c.Catalog().ServiceMultipleTags("web", []string{"V1", "http"}, nil)
	if err != nil || len(both) != 1 || both[0].ServiceID != "web-1" {
		t.Errorf("ServiceMultipleTags(web, [V1 http]) = %+v, %v; want web-1 (tags AND, case-insensitive)", both, err)
	}
	none, _, err := c.Catalog().Service("nothing", "", nil)
	if err != nil || len(none) != 0 {
		t.Errorf("Service(nothing) = %+v, %v", none, err)
	}

	nodes, _, err := c.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 2 || nodes[0].Node != "host-a" || nodes[1].Address != "10.0.0.6" || nodes[0].ID == nodes[1].ID {
		t.Errorf("Nodes = %+v, %v", nodes, err)
	}
	zoneB, _, err := c.Catalog().Nodes(&api.QueryOptions{NodeMeta: map[string]string{"zone": "b"}})
	if err != nil || len(zoneB) != 1 || zoneB[0].Node != "host-b" {
		t.Errorf("Nodes(zone=b) = %+v, %v", zoneB, err)
	}
	node, _, err := c.Catalog().Node("host-a", nil)
	if err != nil || node.Node.Node != "host-a" || len(node.Services) != 3 || node.Services["db-1"].Service != "db" {
		t.Errorf("Node(host-a) = %+v, %v", node, err)
	}
	missing, _, err := c.Catalog().Node("nowhere", nil)
	if err != nil || missing != nil {
		t.Errorf("Node(nowhere) = %+v, %v; want nil", missing, err)
	}
	dcs, err := c.Catalog().Datacenters()
	if err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Errorf("Datacenters = %v, %v", dcs, err)
	}
}

func TestClientHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	c := newClient(t, f)

	all, _, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); !slices.Equal(got, []string{"web-1", "web-2", "web-3"}) {
		t.Errorf("Service(web) = %v", got)
	}
	for _, e := range all {
		if e.Checks[0].CheckID != "serfHealth" || e.Checks[0].ServiceID != "" {
			t.Errorf("%s: first check %+v, want the node's serfHealth", e.Service.ID, e.Checks[0])
		}
		want := map[string]string{"web-1": "passing", "web-2": "warning", "web-3": "critical"}[e.Service.ID]
		if got := e.Checks.AggregatedStatus(); got != want {
			t.Errorf("%s: AggregatedStatus = %s, want %s", e.Service.ID, got, want)
		}
		if e.Checks[1].Definition.IntervalDuration != 10*time.Second || e.Checks[1].Type != "http" {
			t.Errorf("%s: service check %+v", e.Service.ID, e.Checks[1])
		}
	}
	if all[2].Node.Node != "host-b" || all[2].Checks[0].Status != "critical" {
		t.Errorf("web-3 on Down host-b: %+v %+v", all[2].Node, all[2].Checks[0])
	}

	// passingOnly leaves out warning (web-2) and a Down node (web-3).
	passing, _, err := c.Health().Service("web", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(passing); !slices.Equal(got, []string{"web-1"}) {
		t.Errorf("Service(web, passing) = %v, want [web-1]", got)
	}
	tagged, _, err := c.Health().Service("web", "v2", false, nil)
	if err != nil || !slices.Equal(ids(tagged), []string{"web-2"}) {
		t.Errorf("Service(web, v2) = %v, %v", ids(tagged), err)
	}
	db, _, err := c.Health().Service("db", "", true, nil)
	if err != nil || len(db) != 0 {
		t.Errorf("Service(db, passing) = %v, %v; want none", ids(db), err)
	}

	crit, _, err := c.Health().State("critical", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range crit {
		got = append(got, h.Node+"/"+h.CheckID)
	}
	sort.Strings(got)
	if want := []string{"host-a/service:db-1", "host-b/serfHealth"}; !slices.Equal(got, want) {
		t.Errorf("State(critical) = %v, want %v", got, want)
	}
	any, _, err := c.Health().State("any", nil)
	if err != nil || len(any) != 6 {
		t.Errorf("State(any) = %d checks, %v; want 6", len(any), err)
	}
	checks, _, err := c.Health().Checks("db", nil)
	if err != nil || len(checks) != 1 || checks[0].Output != "connection refused" || checks[0].Definition.TCP != "10.0.0.5:5432" {
		t.Errorf("Checks(db) = %+v, %v", checks, err)
	}
	nodeChecks, _, err := c.Health().Node("host-a", nil)
	if err != nil || len(nodeChecks) != 4 || nodeChecks.AggregatedStatus() != "critical" {
		t.Errorf("Node(host-a) = %d checks (%s), %v", len(nodeChecks), nodeChecks.AggregatedStatus(), err)
	}
}

func TestClientMembers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	members, err := newClient(t, f).Agent().Members(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 {
		t.Fatalf("Members = %+v", members)
	}
	a, b := members[0], members[1]
	if a.Name != "host-a" || a.Addr != "10.0.0.5" || a.Status != 1 /* alive */ ||
		a.Tags["role"] != "node" || a.Tags["dc"] != "dc1" || a.IsConsulServer() {
		t.Errorf("host-a = %+v", a)
	}
	if b.Name != "host-b" || b.Status != 4 /* failed */ {
		t.Errorf("host-b = %+v, want failed", b)
	}
}

func TestClientRegisterAndTTL(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	c := newClient(t, f)
	ag := c.Agent()

	reg := &api.AgentServiceRegistration{
		ID: "api-1", Name: "api", Tags: []string{"v3"}, Port: 9000, Meta: map[string]string{"team": "x"},
		Checks: api.AgentServiceChecks{
			{HTTP: "http://10.0.0.5:9000/health", Interval: "10s", Timeout: "2s", DeregisterCriticalServiceAfter: "5m"},
			{TTL: "30s", Notes: "heartbeat"},
		},
	}
	if err := ag.ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	e, ok := f.agent.endpoint("api-1")
	if !ok {
		t.Fatal("api-1 is not registered")
	}
	if e.Address != "10.0.0.5" || e.Host != "host-a" || e.Source != catalog.SourceAgent || e.Weights != (catalog.Weights{Passing: 1, Warning: 1}) {
		t.Errorf("endpoint = %+v; want the node's address, this host, weights 1/1", e)
	}
	if len(e.Checks) != 2 {
		t.Fatalf("checks = %+v", e.Checks)
	}
	h, ttl := e.Checks[0], e.Checks[1]
	if h.ID != "service:api-1:1" || h.Type != catalog.CheckHTTP || h.Interval != 10*time.Second ||
		h.Timeout != 2*time.Second || h.DeregisterCriticalAfter != 5*time.Minute || h.Status != v1.CheckCritical {
		t.Errorf("http check = %+v", h)
	}
	if ttl.ID != "service:api-1:2" || ttl.Type != catalog.CheckTTL || ttl.TTL != 30*time.Second || ttl.Notes != "heartbeat" {
		t.Errorf("ttl check = %+v", ttl)
	}

	svcs, err := ag.Services()
	if err != nil || svcs["api-1"] == nil || svcs["api-1"].Service != "api" || svcs["api-1"].Port != 9000 {
		t.Errorf("Agent.Services = %+v, %v", svcs, err)
	}
	one, _, err := ag.Service("api-1", nil)
	if err != nil || one.Service != "api" {
		t.Errorf("Agent.Service(api-1) = %+v, %v", one, err)
	}
	if checks, err := ag.Checks(); err != nil || checks["service:api-1:2"] == nil || checks["service:api-1:2"].Type != "ttl" {
		t.Errorf("Agent.Checks = %+v, %v", checks, err)
	}
	if entries, _, err := c.Health().Service("api", "", true, nil); err != nil || len(entries) != 0 {
		t.Errorf("a new service is critical until its checks pass: %v, %v", ids(entries), err)
	}

	if err := ag.UpdateTTL("service:api-1:2", "all good", "pass"); err != nil {
		t.Fatal(err)
	}
	e, _ = f.agent.endpoint("api-1")
	if e.Checks[1].Status != v1.CheckPassing || e.Checks[1].Output != "all good" {
		t.Errorf("after UpdateTTL: %+v", e.Checks[1])
	}
	if err := ag.FailTTL("service:api-1:2", "gone"); err != nil { //nolint:staticcheck // the older API is served too
		t.Fatal(err)
	}
	if err := ag.PassTTL("service:api-1:2", "back"); err != nil { //nolint:staticcheck
		t.Fatal(err)
	}
	e, _ = f.agent.endpoint("api-1")
	if e.Checks[1].Status != v1.CheckPassing || e.Checks[1].Output != "back" {
		t.Errorf("after PassTTL: %+v", e.Checks[1])
	}
	if err := ag.UpdateTTL("no-such-check", "", "pass"); err == nil {
		t.Error("UpdateTTL of an unknown check succeeded")
	} else if se, ok := err.(api.StatusError); !ok || se.Code != 404 {
		t.Errorf("UpdateTTL of an unknown check: %v, want a 404", err)
	}

	// A check registered on its own, then removed.
	if err := ag.CheckRegister(&api.AgentCheckRegistration{ID: "api-1-ttl", Name: "api heartbeat", ServiceID: "api-1",
		AgentServiceCheck: api.AgentServiceCheck{TTL: "15s", Status: "passing"}}); err != nil {
		t.Fatal(err)
	}
	if checks, _, err := c.Health().Checks("api", nil); err != nil || len(checks) != 3 {
		t.Errorf("Health.Checks(api) = %d, %v; want 3", len(checks), err)
	}
	if err := ag.CheckDeregister("api-1-ttl"); err != nil {
		t.Fatal(err)
	}

	if err := ag.ServiceDeregister("api-1"); err != nil {
		t.Fatal(err)
	}
	if svcs, _, err := c.Catalog().Service("api", "", nil); err != nil || len(svcs) != 0 {
		t.Errorf("after deregister: %+v, %v", svcs, err)
	}
	if err := ag.ServiceDeregister("api-1"); err != nil {
		t.Errorf("deregistering an unknown id: %v, want no error", err)
	}
}

func TestClientBlockingQueryReturnsOnChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	c := newClient(t, f)
	_, meta, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := meta.LastIndex

	type result struct {
		entries []*api.ServiceEntry
		meta    *api.QueryMeta
		err     error
		took    time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		e, m, err := c.Health().Service("web", "", false, &api.QueryOptions{WaitIndex: idx, WaitTime: 10 * time.Second})
		done <- result{e, m, err, time.Since(start)}
	}()
	select { // the query is blocked inside Reader.Wait
	case scope := <-f.hook.waiting:
		if scope != "web" {
			t.Errorf("blocked on scope %q, want web", scope)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the query did not block")
	}
	f.mem.PutEndpoint(catalog.Endpoint{ID: "web-9", Service: "web", Host: "host-a", Address: "10.0.0.5", Port: 8090,
		Weights: catalog.Weights{Passing: 1, Warning: 1}}, 0)

	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.took > 2*time.Second {
			t.Errorf("returned after %v, want promptly", r.took)
		}
		if r.meta.LastIndex <= idx {
			t.Errorf("index %d after a change, want more than %d", r.meta.LastIndex, idx)
		}
		if !slices.Contains(ids(r.entries), "web-9") {
			t.Errorf("entries %v lack the new web-9", ids(r.entries))
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the blocking query did not return on a change")
	}
}

func TestClientBlockingQueryTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	c := newClient(t, f)
	web, meta, err := c.Catalog().Service("web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := meta.LastIndex

	// A change to another service does not wake a query on web.
	go func() {
		<-f.hook.waiting
		f.mem.PutEndpoint(catalog.Endpoint{ID: "db-2", Service: "db", Host: "host-a", Port: 5433}, 0)
	}()
	start := time.Now()
	again, meta, err := c.Catalog().Service("web", "", &api.QueryOptions{WaitIndex: idx, WaitTime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("returned after %v, want the wait (300ms, plus at most 1/16)", took)
	}
	if meta.LastIndex != idx || len(again) != len(web) {
		t.Errorf("after a timeout: index %d (want %d), %d entries (want %d)", meta.LastIndex, idx, len(again), len(web))
	}
}

func TestClientIndexNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	c := newClient(t, f)
	var last, lastWeb uint64
	step := func(what string) {
		t.Helper()
		_, meta, err := c.Catalog().Services(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, webMeta, err := c.Health().Service("web", "", false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if meta.LastIndex < last || webMeta.LastIndex < lastWeb || meta.LastIndex < 1 || webMeta.LastIndex < 1 {
			t.Errorf("%s: indexes %d, %d after %d, %d", what, meta.LastIndex, webMeta.LastIndex, last, lastWeb)
		}
		last, lastWeb = meta.LastIndex, webMeta.LastIndex
	}
	step("start")
	f.mem.DeleteEndpoint("host-b", "web", "web-3", 0)
	step("delete web-3")
	f.mem.DeleteEndpoint("host-a", "web", "web-1", 0)
	f.mem.DeleteEndpoint("host-a", "web", "web-2", 0)
	step("delete every web")
	f.mem.DeleteNode("host-b", 0)
	step("delete host-b")
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 1}); err != nil {
		t.Fatal(err)
	}
	step("register web")
}
