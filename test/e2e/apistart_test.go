package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"berth.dev/berth/internal/testenv"
)

// TestConsulRoutesNeverAnswer404WhileStarting: from the moment a
// controller's port accepts, the real Consul client registering a service
// and reading the catalog and health never meets a 404: each request
// works, or answers 503 with Retry-After until the catalog and the agent
// have started; once /readyz is 200, every request works.
func TestConsulRoutesNeverAnswer404WhileStarting(t *testing.T) {
	t.Parallel()
	t.Run("embedded etcd", func(t *testing.T) {
		t.Parallel()
		c := newController(t, controllerOpts{name: "e2e-boot-" + randomSuffix(6)})
		h := newBootHammer(t, c)
		c.launch()
		h.untilReady()
		t.Logf("%s", h.summary())
	})
	t.Run("etcd answering late", func(t *testing.T) {
		t.Parallel()
		etcd := testenv.EtcdProcess(t)
		etcd.Stop()
		c := newController(t, controllerOpts{name: "e2e-boot-" + randomSuffix(6),
			etcdEndpoints: strings.Join(etcd.Endpoints(), ",")})
		h := newBootHammer(t, c)
		c.launch()
		// Hold etcd back until every route has answered 503 at least once,
		// so that the window before the catalog starts is surely hammered.
		eventually(t, 30*time.Second, "503s on every route while etcd is down", func() (bool, string) {
			return h.all503(), h.summary()
		})
		etcd.Start()
		h.untilReady()
		t.Logf("%s", h.summary())
	})
}

// bootHammer runs, from before the controller listens, one goroutine per
// route calling it with the real Consul client as fast as it answers, and
// records every response the client receives.
type bootHammer struct {
	t       *testing.T
	c       *controller
	service string
	stop    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	readyAt  time.Time      // when /readyz was first seen 200
	codes    map[string]int // "route code" -> responses
	problems []string
	afterOK  map[string]int // route -> 200s to requests sent after readyAt
	refused  int            // connection errors before the port accepted
}

// routes of the hammer, by name.
const (
	routeRegister = "PUT /v1/agent/service/register"
	routeServices = "GET /v1/catalog/services"
	routeHealth   = "GET /v1/health/service/x"
)

func newBootHammer(t *testing.T, c *controller) *bootHammer {
	h := &bootHammer{t: t, c: c, service: "boot-" + randomSuffix(6), stop: make(chan struct{}),
		codes: map[string]int{}, afterOK: map[string]int{}}
	calls := map[string]func(*consul.Client) error{
		routeRegister: func(cl *consul.Client) error {
			return cl.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: h.service, Name: h.service, Port: 7001})
		},
		routeServices: func(cl *consul.Client) error { _, _, err := cl.Catalog().Services(nil); return err },
		routeHealth:   func(cl *consul.Client) error { _, _, err := cl.Health().Service("x", "", false, nil); return err },
	}
	for route, call := range calls {
		cl := c.consulClient(func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent := time.Now()
				resp, err := next.RoundTrip(r)
				if err == nil {
					h.record(route, sent, resp)
				}
				return resp, err
			})
		})
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			pace := time.NewTicker(2 * time.Millisecond)
			defer pace.Stop()
			for {
				select {
				case <-h.stop:
					return
				case <-pace.C:
				}
				if err := call(cl); err != nil && !strings.Contains(err.Error(), "Unexpected response code") {
					h.mu.Lock()
					h.refused++
					h.mu.Unlock()
				}
			}
		}()
	}
	t.Cleanup(h.halt)
	return h
}

func (h *bootHammer) halt() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.wg.Wait()
}

// record checks one response: never 404; 503 only with a whole number of
// seconds in Retry-After, and only to requests sent before /readyz was
// 200; nothing else but 200.
func (h *bootHammer) record(route string, sent time.Time, resp *http.Response) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.codes[fmt.Sprint(route, " ", resp.StatusCode)]++
	ready := !h.readyAt.IsZero() && sent.After(h.readyAt)
	problem := ""
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		if ready {
			h.afterOK[route]++
		}
	case code == http.StatusServiceUnavailable:
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			problem = fmt.Sprintf("503 with Retry-After %q, want a number of seconds", resp.Header.Get("Retry-After"))
		} else if ready {
			problem = "503 to a request sent after /readyz answered 200"
		}
	default:
		problem = fmt.Sprintf("%d, want 200 or 503", code)
	}
	if problem != "" && len(h.problems) < 20 {
		h.problems = append(h.problems, route+": "+problem)
	}
}

// all503 reports whether every route has answered 503 at least once.
func (h *bootHammer) all503() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range []string{routeRegister, routeServices, routeHealth} {
		if h.codes[r+" 503"] == 0 {
			return false
		}
	}
	return true
}

// untilReady polls /readyz until it is 200, goes on hammering until each
// route has answered 200 a few times to requests sent after that, stops
// the hammer and checks what it saw and that the registration is there.
func (h *bootHammer) untilReady() {
	t := h.t
	t.Helper()
	eventually(t, 60*time.Second, "/readyz 200", func() (bool, string) {
		select {
		case err := <-h.c.done:
			h.c.done <- err
			t.Fatalf("controller exited: %v\n%s", err, h.c.log())
		default:
		}
		code, body := httpGet("http://" + h.c.listen + "/readyz")
		if code == 200 {
			h.mu.Lock()
			h.readyAt = time.Now()
			h.mu.Unlock()
		}
		return code == 200, fmt.Sprint(code, " ", body)
	})
	eventually(t, 30*time.Second, "every route answering 200 once ready", func() (bool, string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range []string{routeRegister, routeServices, routeHealth} {
			if h.afterOK[r] < 3 {
				return false, fmt.Sprint(h.afterOK)
			}
		}
		return true, ""
	})
	h.halt()

	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.problems {
		t.Error(p)
	}
	for key, n := range h.codes {
		if strings.HasSuffix(key, " 404") {
			t.Errorf("%s: %d times", key, n)
		}
	}
	eps, _, err := h.c.consulClient(nil).Catalog().Service(h.service, "", nil)
	if err != nil || len(eps) != 1 || eps[0].ServicePort != 7001 {
		t.Errorf("the service registered at boot, in the catalog: %v %v", eps, err)
	}
}

func (h *bootHammer) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("responses %v; connection errors before the port accepted: %d", h.codes, h.refused)
}
