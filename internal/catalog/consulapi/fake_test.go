package consulapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
)

// fakeAgent is this host's agent, writing into the same Memory the Server
// reads. err, when set, fails every write.
type fakeAgent struct {
	mem  *catalog.Memory
	node string

	mu    sync.Mutex
	local map[string]catalog.Endpoint
	err   error
}

var _ catalog.Agent = (*fakeAgent)(nil)

func newFakeAgent(mem *catalog.Memory, node string) *fakeAgent {
	return &fakeAgent{mem: mem, node: node, local: map[string]catalog.Endpoint{}}
}

func (a *fakeAgent) NodeName() string   { return a.node }
func (a *fakeAgent) Datacenter() string { return "dc1" }

func (a *fakeAgent) Register(_ context.Context, e catalog.Endpoint) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.local[e.ID] = e
	a.mem.PutEndpoint(e, 0)
	return nil
}

func (a *fakeAgent) Deregister(_ context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	if e, ok := a.local[id]; ok {
		delete(a.local, id)
		a.mem.DeleteEndpoint(e.Host, e.Service, id, 0)
	}
	return nil
}

func (a *fakeAgent) RegisterCheck(_ context.Context, serviceID string, c catalog.Check) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	e, ok := a.local[serviceID]
	if !ok {
		return fmt.Errorf("no service %q", serviceID)
	}
	e.Checks = slices.DeleteFunc(slices.Clone(e.Checks), func(x catalog.Check) bool { return x.ID == c.ID })
	e.Checks = append(e.Checks, c)
	a.local[serviceID] = e
	a.mem.PutEndpoint(e, 0)
	return nil
}

// withCheck calls f on the endpoint that has check id; a.mu is held.
func (a *fakeAgent) withCheck(id string, f func(e *catalog.Endpoint, i int)) error {
	for sid, e := range a.local {
		for i := range e.Checks {
			if e.Checks[i].ID == id {
				e.Checks = slices.Clone(e.Checks)
				f(&e, i)
				a.local[sid] = e
				a.mem.PutEndpoint(e, 0)
				return nil
			}
		}
	}
	return errors.New("no such check")
}

func (a *fakeAgent) DeregisterCheck(_ context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	_ = a.withCheck(id, func(e *catalog.Endpoint, i int) { e.Checks = slices.Delete(e.Checks, i, i+1) })
	return nil
}

func (a *fakeAgent) UpdateTTL(_ context.Context, id string, st v1.CheckStatus, out string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	return a.withCheck(id, func(e *catalog.Endpoint, i int) { e.Checks[i].Status, e.Checks[i].Output = st, out })
}

func (a *fakeAgent) Local() []catalog.Endpoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]catalog.Endpoint, 0, len(a.local))
	for _, e := range a.local {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y catalog.Endpoint) int {
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	return out
}

func (a *fakeAgent) endpoint(id string) (catalog.Endpoint, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.local[id]
	return e, ok
}

// waitHook is a Reader that tells when a blocking query starts waiting.
type waitHook struct {
	catalog.Reader
	waiting chan string // the scope, when Wait is entered
}

func (h *waitHook) Wait(ctx context.Context, scope string, index int64) int64 {
	select {
	case h.waiting <- scope:
	default:
	}
	return h.Reader.Wait(ctx, scope, index)
}

type fixture struct {
	mem   *catalog.Memory
	agent *fakeAgent
	hook  *waitHook
	srv   *httptest.Server
}

// Hosts and endpoints of the fixture: host-a (this host, Up) and host-b
// (Down); web on both, with tags, a warning web on host-a, a critical db.
func newFixture(t testing.TB, opts consulapi.Options) *fixture {
	t.Helper()
	mem := catalog.NewMemory()
	mem.PutNode(catalog.Node{Name: "host-a", Address: "10.0.0.5", Up: true, Meta: map[string]string{"zone": "a"}}, 0)
	mem.PutNode(catalog.Node{Name: "host-b", Address: "10.0.0.6", Up: false, Meta: map[string]string{"zone": "b"}}, 0)
	pass := catalog.Check{ID: "service:web-1", Name: "web http", Type: catalog.CheckHTTP, Status: v1.CheckPassing,
		HTTP: "http://10.0.0.5:8080/healthz", Interval: 10e9, Timeout: 2e9, Output: "HTTP GET: 200 OK"}
	mem.PutEndpoint(catalog.Endpoint{ID: "web-1", Service: "web", Host: "host-a", Address: "10.0.0.5", Port: 8080,
		Tags: []string{"v1", "http"}, Meta: map[string]string{"unit": "web"}, Source: catalog.SourceContainer,
		Weights: catalog.Weights{Passing: 1, Warning: 1}, Checks: []catalog.Check{pass}}, 0)
	warn := pass
	warn.ID, warn.Status = "service:web-2", v1.CheckWarning
	mem.PutEndpoint(catalog.Endpoint{ID: "web-2", Service: "web", Host: "host-a", Address: "10.0.0.5", Port: 8081,
		Tags: []string{"v2"}, Source: catalog.SourceContainer, Weights: catalog.Weights{Passing: 1, Warning: 1},
		Checks: []catalog.Check{warn}}, 0)
	onB := pass
	onB.ID = "service:web-3"
	mem.PutEndpoint(catalog.Endpoint{ID: "web-3", Service: "web", Host: "host-b", Address: "10.0.0.6", Port: 8080,
		Tags: []string{"v1"}, Source: catalog.SourceContainer, Weights: catalog.Weights{Passing: 1, Warning: 1},
		Checks: []catalog.Check{onB}}, 0)
	crit := catalog.Check{ID: "service:db-1", Name: "db tcp", Type: catalog.CheckTCP, Status: v1.CheckCritical,
		TCP: "10.0.0.5:5432", Interval: 5e9, Output: "connection refused"}
	mem.PutEndpoint(catalog.Endpoint{ID: "db-1", Service: "db", Host: "host-a", Address: "10.0.0.5", Port: 5432,
		Source: catalog.SourceContainer, Weights: catalog.Weights{Passing: 1, Warning: 1}, Checks: []catalog.Check{crit}}, 0)

	agent := newFakeAgent(mem, "host-a")
	hook := &waitHook{Reader: mem, waiting: make(chan string, 1)}
	mux := http.NewServeMux()
	consulapi.New(hook, agent, opts).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{mem: mem, agent: agent, hook: hook, srv: srv}
}
