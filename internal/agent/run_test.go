package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func testConfig(t *testing.T) Config {
	return Config{
		HostName:         "host-a",
		HostLabels:       map[string]string{"zone": "a"},
		DataDir:          t.TempDir(),
		EtcdListenClient: fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
		EtcdListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
		Listen:           fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		DNSListen:        fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		DNSDomain:        "berth.",
		AdvertiseAddress: "127.0.0.1",
		Resync:           DefaultResync,
		HeartbeatTTL:     2 * time.Second,
		Runtime:          fake.New(),
	}
}

// start runs the controller until the returned stop is called; stop waits
// for Run to return and gives its error.
func start(t *testing.T, cfg Config) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- Run(ctx, cfg, log) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("controller did not stop within 30s")
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually waits for conditions that say what they saw.
var eventually = testenv.Eventually[func() (bool, string)]

func readHost(t *testing.T, s *store.Store, name string) *v1.Host {
	t.Helper()
	kv, err := s.Get(context.Background(), store.HostKey(name))
	if err != nil {
		t.Fatalf("host record: %v", err)
	}
	var h v1.Host
	if err := json.Unmarshal(kv.Value, &h); err != nil {
		t.Fatal(err)
	}
	return &h
}

func TestHostRecordHealthAndShutdown(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EtcdEndpoints = testenv.Etcd(t)
	cfg.ReservedCPUs, cfg.ReservedMemory = "500m", "256Mi"
	s := testenv.NewStore(t, store.Config{Endpoints: cfg.EtcdEndpoints})
	stop := start(t, cfg)
	base := "http://" + cfg.Listen

	eventually(t, 10*time.Second, "/readyz answers 200", func() (bool, string) {
		code, body := get(base + "/readyz")
		return code == 200, fmt.Sprint(code, body)
	})
	if code, body := get(base + "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := get(base + "/metrics")
	for _, want := range []string{"berth_heartbeats_total", "berth_etcd_up 1", "go_goroutines", "process_resident_memory_bytes"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	h := readHost(t, s, "host-a")
	st := h.Status
	if h.Kind != v1.KindHost || h.Metadata.Labels["zone"] != "a" || st.CPUs < 1 || st.MemoryBytes <= 0 ||
		st.OS == "" || st.Kernel == "" || st.BerthVersion == "" || st.HTTPAddress != cfg.Listen ||
		len(st.Addresses) == 0 || st.Addresses[0] != "127.0.0.1" || st.Heartbeat.IsZero() ||
		st.ReservedCPUs != 0.5 || st.ReservedMemory != 256<<20 {
		t.Errorf("host record incomplete: %+v", h)
	}
	alive, err := s.Get(context.Background(), store.AliveKey("host-a"))
	if err != nil || alive.Lease == 0 {
		t.Fatalf("alive key: %+v %v", alive, err)
	}
	// An idle host writes nothing but keeps its lease alive: a few beats
	// move no revision once the record is complete.
	eventually(t, 10*time.Second, "docker version in the host record", func() (bool, string) {
		v := readHost(t, s, "host-a").Status.DockerVersion
		return v != "", v
	})
	rev, _ := s.Revision(context.Background())
	beats := func() int {
		_, body := get(base + "/metrics")
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, "berth_heartbeats_total "); ok {
				n := 0
				fmt.Sscan(v, &n)
				return n
			}
		}
		return 0
	}
	b0 := beats()
	eventually(t, 10*time.Second, "three more heartbeats", func() (bool, string) { return beats() >= b0+3, fmt.Sprint(beats()) })
	if after, _ := s.Revision(context.Background()); after != rev {
		t.Errorf("an idle host wrote to etcd: revision %d -> %d", rev, after)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	// The lease is revoked on the way out: the host is DOWN at once, not a TTL later.
	if _, err := s.Get(context.Background(), store.AliveKey("host-a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alive key after shutdown: %v, want it gone", err)
	}
	readHost(t, s, "host-a") // kept, so the host shows DOWN rather than vanishing
	if code, _ := get(base + "/healthz"); code != 0 {
		t.Errorf("HTTP still served after shutdown: %d", code)
	}
}

func TestEmbeddedEtcdKeepsDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	stop := start(t, cfg)
	eventually(t, 20*time.Second, "/readyz answers 200", func() (bool, string) {
		code, body := get("http://" + cfg.Listen + "/readyz")
		return code == 200, fmt.Sprint(code, body)
	})
	ctx := context.Background()
	s, err := store.New(ctx, store.Config{Endpoints: []string{cfg.EtcdListenClient}})
	if err != nil {
		t.Fatal(err)
	}
	u := v1.New(v1.KindUnit).(*v1.Unit)
	u.Metadata.Name = "todo"
	u.Spec.Container.Image = "berth/todo"
	v1.Default(u)
	if _, err := store.Apply(ctx, s, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}

	start(t, cfg)
	eventually(t, 20*time.Second, "/readyz answers 200 after restart", func() (bool, string) {
		code, body := get("http://" + cfg.Listen + "/readyz")
		return code == 200, fmt.Sprint(code, body)
	})
	s = testenv.NewStore(t, store.Config{Endpoints: []string{cfg.EtcdListenClient}})
	o, err := store.GetObject(ctx, s, v1.KindUnit, "todo")
	if err != nil {
		t.Fatalf("unit after restart: %v", err)
	}
	if got := o.(*v1.Unit).Spec.Container.Image; got != "berth/todo" {
		t.Errorf("image after restart = %q", got)
	}
}

func TestEtcdLostAndBack(t *testing.T) {
	t.Parallel()
	p := testenv.EtcdProcess(t)
	cfg := testConfig(t)
	cfg.EtcdEndpoints = p.Endpoints()
	start(t, cfg)
	ready := func(want int) func() (bool, string) {
		return func() (bool, string) {
			code, body := get("http://" + cfg.Listen + "/readyz")
			return code == want, fmt.Sprint(code, " ", body)
		}
	}
	eventually(t, 10*time.Second, "ready", ready(200))

	p.Stop()
	eventually(t, 10*time.Second, "not ready while etcd is down", ready(503))
	_, body := get("http://" + cfg.Listen + "/readyz")
	if !strings.Contains(body, "etcd") {
		t.Errorf("/readyz does not say etcd is the reason: %q", body)
	}
	if code, _ := get("http://" + cfg.Listen + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d while etcd is down, want 200: the process is alive", code)
	}
	_, metrics := get("http://" + cfg.Listen + "/metrics")
	if !strings.Contains(metrics, "berth_etcd_up 0") {
		t.Errorf("berth_etcd_up is not 0 while etcd is down")
	}

	p.Start()
	eventually(t, 20*time.Second, "ready again once etcd is back", ready(200))
	s := testenv.NewStore(t, p.StoreConfig())
	eventually(t, 10*time.Second, "alive key present", func() (bool, string) {
		_, err := s.Get(context.Background(), store.AliveKey("host-a"))
		return err == nil, fmt.Sprint(err)
	})
}

func TestConfigErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.HostName = "Bad Name"
	if err := Run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "--host-name") {
		t.Errorf("bad host name: %v", err)
	}
	cfg = testConfig(t)
	cfg.HeartbeatTTL = time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--heartbeat-ttl") {
		t.Errorf("short TTL: %v", err)
	}
	if _, err := ParseLabels("a=b,c"); err == nil {
		t.Error("labels without '=' accepted")
	}
	cfg = testConfig(t)
	cfg.ReservedMemory = "lots"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `--reserved-memory: invalid size "lots"`) {
		t.Errorf("--reserved-memory lots: %v", err)
	}
	cfg = testConfig(t)
	cfg.ReservedCPUs = "-1"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `--reserved-cpus: invalid cpus "-1"`) {
		t.Errorf("--reserved-cpus -1: %v", err)
	}
}

// TestRoutesAnswer503UntilTheirComponentsStart: while etcd is unreachable,
// the listener serves and every route of the catalog and the agent is
// there, answering 503 with Retry-After, never 404; unknown paths are
// still 404. Once etcd answers they work, and /readyz is 200 only then.
func TestRoutesAnswer503UntilTheirComponentsStart(t *testing.T) {
	t.Parallel()
	p := testenv.EtcdProcess(t)
	p.Stop()
	cfg := testConfig(t)
	cfg.EtcdEndpoints = p.Endpoints()
	start(t, cfg)
	base := "http://" + cfg.Listen
	eventually(t, 10*time.Second, "/healthz answers 200", func() (bool, string) {
		code, body := get(base + "/healthz")
		return code == 200, fmt.Sprint(code, body)
	})

	register := `{"ID":"early","Name":"early","Port":7000}`
	do := func(method, path, body string) (int, http.Header, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/v1/catalog/services", ""},
		{"GET", "/v1/catalog/service/early", ""},
		{"GET", "/v1/health/service/early", ""},
		{"GET", "/v1/agent/self", ""},
		{"GET", "/v1/agent/services", ""},
		{"PUT", "/v1/agent/service/register", register},
		{"PUT", "/v1/agent/check/pass/service:early", ""},
		{"GET", "/v1/prometheus/targets", ""},
		{"HEAD", "/v1/catalog/nodes", ""},
	}
	for _, r := range routes {
		code, h, body := do(r.method, r.path, r.body)
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" ||
			(r.method != "HEAD" && !strings.HasPrefix(body, "berth is starting: ")) {
			t.Errorf("%s %s before etcd answers: %d, Retry-After %q, %q; want 503 with Retry-After saying berth is starting",
				r.method, r.path, code, h.Get("Retry-After"), body)
		}
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/kv/anything"},
		{"GET", "/v1/catalog/nothing"},
		{"DELETE", "/v1/catalog/services"},
		{"GET", "/nothing"},
	} {
		if code, _, body := do(r.method, r.path, ""); code != http.StatusNotFound {
			t.Errorf("%s %s before etcd answers: %d %q, want 404", r.method, r.path, code, body)
		}
	}
	if code, body := get(base + "/readyz"); code != 503 || !strings.Contains(body, "[-] api: ") {
		t.Errorf("/readyz before etcd answers: %d %q, want 503 naming the api check", code, body)
	}

	p.Start()
	eventually(t, 30*time.Second, "/readyz answers 200 once etcd is there", func() (bool, string) {
		code, body := get(base + "/readyz")
		return code == 200, fmt.Sprint(code, body)
	})
	if code, _, body := do("PUT", "/v1/agent/service/register", register); code != 200 {
		t.Fatalf("register once ready: %d %q", code, body)
	}
	for _, r := range routes {
		if r.method == "PUT" {
			continue
		}
		if code, h, body := do(r.method, r.path, ""); code != 200 || h.Get("Retry-After") != "" {
			t.Errorf("%s %s once ready: %d %q, want 200", r.method, r.path, code, body)
		}
	}
	if code, _, body := do("GET", "/v1/catalog/service/early", ""); !strings.Contains(body, `"ServicePort":7000`) {
		t.Errorf("the registration is not in the catalog: %d %s", code, body)
	}
}
