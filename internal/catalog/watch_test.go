package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
	catalogdns "berth.dev/berth/internal/catalog/dns"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// startWatched runs a Watched over s until the test ends, once it has
// listed the catalog.
func startWatched(t *testing.T, s *store.Store) *catalog.Watched {
	t.Helper()
	w := catalog.NewWatched(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 10*time.Second, "the catalog view has listed etcd", func() (bool, string) { return w.Synced(), "not synced" })
	return w
}

// putValue writes v under a catalog key, as a host's registrator does.
func putValue(t *testing.T, s *store.Store, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), key, b, 0); err != nil {
		t.Fatal(err)
	}
}

// agentWeb is what a Consul agent registration of "web" without an ID
// becomes on host: an endpoint whose id is the service's name.
func agentWeb(host, addr string) catalog.Endpoint {
	return catalog.Endpoint{ID: "web", Service: "web", Host: host, Address: addr, Port: 8080,
		Source: catalog.SourceAgent, Weights: catalog.Weights{Passing: 1, Warning: 1}}
}

// readOnlyAgent is the agent side of a host that registers nothing itself:
// these tests write the catalog in etcd as the hosts' registrators do.
type readOnlyAgent struct{}

var errReadOnly = errors.New("this test's agent registers nothing")

func (readOnlyAgent) NodeName() string                                 { return "host-a" }
func (readOnlyAgent) Datacenter() string                               { return "" }
func (readOnlyAgent) Register(context.Context, catalog.Endpoint) error { return errReadOnly }
func (readOnlyAgent) Deregister(context.Context, string) error         { return errReadOnly }
func (readOnlyAgent) DeregisterCheck(context.Context, string) error    { return errReadOnly }
func (readOnlyAgent) Local() []catalog.Endpoint                        { return nil }
func (readOnlyAgent) RegisterCheck(context.Context, string, catalog.Check) error {
	return errReadOnly
}
func (readOnlyAgent) UpdateTTL(context.Context, string, v1.CheckStatus, string) error {
	return errReadOnly
}

// serve answers DNS and Consul's HTTP API from r until the test ends, and
// returns the DNS address and a Consul client.
func serve(t *testing.T, r catalog.Reader) (string, *consul.Client) {
	t.Helper()
	srv, err := catalogdns.New(r, catalogdns.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("DNS server: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the DNS server did not start within 10s")
	}
	udp, _ := srv.Addr()

	mux := http.NewServeMux()
	consulapi.New(r, readOnlyAgent{}, consulapi.Options{}).Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	cfg := consul.DefaultNonPooledConfig()
	cfg.Address = hs.URL
	c, err := consul.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return udp.String(), c
}

// dnsAddresses asks addr for the A records of name, sorted.
func dnsAddresses(t *testing.T, addr, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("dig %s A: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// catalogService lists /v1/catalog/service/<name> as node/ServiceID@address.
func catalogService(t *testing.T, c *consul.Client, name string) []string {
	t.Helper()
	entries, _, err := c.Catalog().Service(name, "", nil)
	if err != nil {
		t.Fatalf("/v1/catalog/service/%s: %v", name, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s/%s@%s:%d", e.Node, e.ServiceID, e.ServiceAddress, e.ServicePort))
	}
	return out
}

// healthService lists /v1/health/service/<name>?passing as node/Service.ID.
func healthService(t *testing.T, c *consul.Client, name string) []string {
	t.Helper()
	entries, _, err := c.Health().Service(name, "", true, nil)
	if err != nil {
		t.Fatalf("/v1/health/service/%s: %v", name, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Node.Node+"/"+e.Service.ID)
	}
	return out
}

func wantList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// Two hosts that register the same service id (Consul agents registering
// "web" without an ID) are both answered by DNS and the Consul API, as
// Consul answers the same service id on two nodes; when one deregisters,
// the other is still answered.
func TestSameServiceIDOnTwoHosts(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	keyA, keyB := store.CatalogKey("host-a", "web", "web"), store.CatalogKey("host-b", "web", "web")
	putValue(t, s, keyA, agentWeb("host-a", "10.0.0.1"))
	w := startWatched(t, s)
	putValue(t, s, keyB, agentWeb("host-b", "10.0.0.2"))
	testenv.Eventually(t, 10*time.Second, "both hosts' web in the catalog", func() (bool, string) {
		eps, _ := w.Endpoints("web")
		return len(eps) == 2, fmt.Sprintf("%d endpoints", len(eps))
	})
	addr, c := serve(t, w)

	wantList(t, "dig web.service.berth. A", dnsAddresses(t, addr, "web.service.berth."), []string{"10.0.0.1", "10.0.0.2"})
	wantList(t, "/v1/catalog/service/web", catalogService(t, c, "web"), []string{"host-a/web@10.0.0.1:8080", "host-b/web@10.0.0.2:8080"})
	wantList(t, "/v1/health/service/web?passing", healthService(t, c, "web"), []string{"host-a/web", "host-b/web"})
	for _, node := range []string{"host-a", "host-b"} {
		n, _, err := c.Catalog().Node(node, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n == nil || n.Services["web"] == nil || n.Services["web"].ID != "web" {
			t.Errorf("/v1/catalog/node/%s = %+v, want its service web", node, n)
		}
	}

	if _, err := s.Delete(context.Background(), keyA); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "host-a's web gone from the catalog", func() (bool, string) {
		eps, _ := w.Endpoints("web")
		return len(eps) < 2, fmt.Sprintf("%d endpoints", len(eps))
	})
	wantList(t, "after host-a deregistered, dig web.service.berth. A", dnsAddresses(t, addr, "web.service.berth."), []string{"10.0.0.2"})
	wantList(t, "after host-a deregistered, /v1/catalog/service/web", catalogService(t, c, "web"), []string{"host-b/web@10.0.0.2:8080"})
	wantList(t, "after host-a deregistered, /v1/health/service/web?passing", healthService(t, c, "web"), []string{"host-b/web"})
}

// A host can write only under catalog/<itself>/ (etcd's roles), so an
// endpoint whose value names another host is a host posing as another:
// the catalog shows none of it, and an endpoint overwritten with such a
// value leaves the catalog.
func TestEndpointNamingAnotherHostIsIgnored(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	w := startWatched(t, s)
	addr, c := serve(t, w)

	// host-a writes, under its own key, an endpoint saying it is host-b's.
	forged := agentWeb("host-b", "10.6.6.6")
	forged.ID = "forged"
	putValue(t, s, store.CatalogKey("host-a", "web", "forged"), forged)
	// host-a registers web, and then overwrites it as host-b's.
	putValue(t, s, store.CatalogKey("host-a", "web", "web"), agentWeb("host-a", "10.0.0.1"))
	putValue(t, s, store.CatalogKey("host-a", "db", "db"), catalog.Endpoint{ID: "db", Service: "db", Host: "host-a", Address: "10.0.0.1", Port: 5432})
	testenv.Eventually(t, 10*time.Second, "host-a's web and db in the catalog", func() (bool, string) {
		web, _ := w.Endpoints("web")
		db, _ := w.Endpoints("db")
		return len(web) > 0 && len(db) > 0, fmt.Sprintf("web %v, db %v", hostsOf(web), hostsOf(db))
	})
	wantList(t, "endpoints of web", hostsOf(mustEndpoints(w, "web")), []string{"host-a/web"})

	putValue(t, s, store.CatalogKey("host-a", "web", "web"), agentWeb("host-b", "10.6.6.6"))
	// The catalog applies changes in order: once db's change is seen, so
	// is web's.
	putValue(t, s, store.CatalogKey("host-a", "db", "db"), catalog.Endpoint{ID: "db", Service: "db", Host: "host-a", Address: "10.0.0.1", Port: 5433})
	testenv.Eventually(t, 10*time.Second, "db's new port in the catalog", func() (bool, string) {
		db, _ := w.Endpoints("db")
		return len(db) == 1 && db[0].Port == 5433, fmt.Sprintf("%+v", db)
	})
	if eps := mustEndpoints(w, "web"); len(eps) != 0 {
		t.Errorf("endpoints of web = %v, want none: every value names host-b under host-a's keys", hostsOf(eps))
	}
	wantList(t, "dig web.service.berth. A", dnsAddresses(t, addr, "web.service.berth."), nil)
	wantList(t, "/v1/catalog/service/web", catalogService(t, c, "web"), nil)
	if n, _, err := c.Catalog().Node("host-b", nil); err != nil || n != nil {
		t.Errorf("/v1/catalog/node/host-b = %+v, %v: want null, host-b registered nothing", n, err)
	}
}

func mustEndpoints(r catalog.Reader, service string) []catalog.Endpoint {
	eps, _ := r.Endpoints(service)
	return eps
}

func TestDecodeEndpoint(t *testing.T) {
	t.Parallel()
	key := store.CatalogKey("host-a", "web", "web-1")
	value := func(e catalog.Endpoint) []byte {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		kv      store.KV
		want    string // host of the decoded endpoint
		wantErr string
	}{
		{"the key's host", store.KV{Key: key, Value: value(catalog.Endpoint{ID: "web-1", Service: "web", Host: "host-a"})}, "host-a", ""},
		{"no host takes the key's", store.KV{Key: key, Value: value(catalog.Endpoint{ID: "web-1", Service: "web"})}, "host-a", ""},
		{"another host", store.KV{Key: key, Value: value(catalog.Endpoint{ID: "web-1", Service: "web", Host: "host-b"})}, "", `names host "host-b"`},
		{"another service", store.KV{Key: key, Value: value(catalog.Endpoint{ID: "web-1", Service: "db", Host: "host-a"})}, "", `names service "db"`},
		{"another id", store.KV{Key: key, Value: value(catalog.Endpoint{ID: "web-2", Service: "web", Host: "host-a"})}, "", `names id "web-2"`},
		{"not JSON", store.KV{Key: key, Value: []byte("{")}, "", "decode"},
		{"not a catalog key", store.KV{Key: store.HostKey("host-a"), Value: value(catalog.Endpoint{})}, "", "not a catalog key"},
	}
	for _, tt := range tests {
		e, err := catalog.DecodeEndpoint(tt.kv)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr == "" && e.Host != tt.want:
			t.Errorf("%s: host %q, want %q", tt.name, e.Host, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.wantErr)
		}
	}
}
