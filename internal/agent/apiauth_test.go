package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func TestAPIAuthMayWrite(t *testing.T) {
	t.Parallel()
	const token = "s3cret-Token_1"
	for _, tc := range []struct {
		name   string
		token  string
		remote string
		header string
		want   bool
	}{
		{"no token file, loopback", "", "127.0.0.1:1", "", true},
		{"no token file, another address", "", "10.1.2.3:1", "", false},
		{"token, loopback without it", token, "127.0.0.1:1", "", false},
		{"token, another address with it", token, "10.1.2.3:1", "Bearer " + token, true},
		{"token, a wrong one", token, "127.0.0.1:1", "Bearer nope", false},
	} {
		var tok []byte
		if tc.token != "" {
			tok = []byte(tc.token)
		}
		a := newAPIAuth(tok, false, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		var got bool
		h := a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = a.mayWrite(r) }))
		r := httptest.NewRequest("GET", "/ui/api/session", nil)
		r.RemoteAddr = tc.remote
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s: mayWrite %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	const token = "s3cret-Token_1"
	type req struct {
		method, target, remote string
		header                 map[string]string
	}
	get := func(target, remote string, header ...string) req {
		return req{"GET", target, remote, headers(header)}
	}
	put := func(target, remote string, header ...string) req {
		return req{"PUT", target, remote, headers(header)}
	}
	const (
		loop4  = "127.0.0.1:40000"
		loop6  = "[::1]:40000"
		remote = "10.1.2.3:40000"
	)
	register := "/v1/agent/service/register"
	for _, tc := range []struct {
		name       string
		token      string // "" : no --api-token-file
		readsToken bool
		req        req
		want       int    // 200: passed on
		reason     string // of the refusal counted
	}{
		// Without a token file, loopback is the boundary.
		{name: "no token file: a read from another address is served", req: get("/v1/catalog/services", remote), want: 200},
		{name: "no token file: a write from loopback is served", req: put(register, loop4), want: 200},
		{name: "no token file: a write from IPv6 loopback is served", req: put(register, loop6), want: 200},
		{name: "no token file: a write from another address is refused", req: put(register, remote), want: 403, reason: deniedNotLoopback},
		{name: "no token file: a deregistration from another address is refused", req: put("/v1/agent/service/deregister/web", remote), want: 403, reason: deniedNotLoopback},
		{name: "no token file: logs from another address are refused", req: get("/v1/logs/unit/todo", remote), want: 403, reason: deniedNotLoopback},
		{name: "no token file: HEAD of logs from another address is refused", req: req{"HEAD", "/v1/logs/unit/todo", remote, nil}, want: 403, reason: deniedNotLoopback},
		{name: "an unclean path is refused before any check", req: get("/v1/./logs//unit/todo", remote), want: 400},
		{name: "an escaped slash cannot turn logs into an open read", token: token, req: get("/v1/logs/unit/x%2F..%2F..%2F..%2Fcatalog", remote), want: 400},
		{name: "escaped dots cannot reach an open path", token: token, readsToken: true, req: get("/v1/logs/%2E%2E/%2E%2E/healthz", remote), want: 400},
		{name: "a trailing slash is allowed", req: get("/v1/catalog/services/", remote), want: 200},
		{name: "no token file: logs from loopback are served", req: get("/v1/logs/unit/todo", loop4), want: 200},
		{name: "no token file: DELETE from another address is refused", req: req{"DELETE", "/v1/anything", remote, nil}, want: 403, reason: deniedNotLoopback},

		// With a token file, every protected request needs it.
		{name: "token: a write from loopback without it is refused", token: token, req: put(register, loop4), want: 403, reason: deniedNoToken},
		{name: "token: a write with X-Consul-Token is served", token: token, req: put(register, remote, "X-Consul-Token", token), want: 200},
		{name: "token: a write with a bearer token is served", token: token, req: put(register, remote, "Authorization", "Bearer "+token), want: 200},
		{name: "token: the bearer scheme is case-insensitive", token: token, req: put(register, remote, "Authorization", "bearer "+token), want: 200},
		{name: "token: a write with ?token= is served", token: token, req: put(register+"?token="+token, remote), want: 200},
		{name: "token: a wrong token is refused", token: token, req: put(register, loop4, "X-Consul-Token", "guess"), want: 403, reason: deniedWrongToken},
		{name: "token: a prefix of the token is refused", token: token, req: put(register, loop4, "X-Consul-Token", token[:5]), want: 403, reason: deniedWrongToken},
		{name: "token: a wrong bearer token is refused", token: token, req: put(register, loop4, "Authorization", "Bearer "+token+"x"), want: 403, reason: deniedWrongToken},
		{name: "token: basic authentication is no token", token: token, req: put(register, loop4, "Authorization", "Basic "+token), want: 403, reason: deniedNoToken},
		{name: "token: logs without it are refused", token: token, req: get("/v1/logs/unit/todo", loop4), want: 403, reason: deniedNoToken},
		{name: "token: logs with it are served", token: token, req: get("/v1/logs/unit/todo", remote, "Authorization", "Bearer "+token), want: 200},
		{name: "token: reads are open by default", token: token, req: get("/v1/health/service/web", remote), want: 200},
		{name: "token: metrics are open by default", token: token, req: get("/metrics", remote), want: 200},

		// --api-reads=token.
		{name: "reads token: a read without it is refused", token: token, readsToken: true, req: get("/v1/catalog/services", loop4), want: 403, reason: deniedNoToken},
		{name: "reads token: metrics without it are refused", token: token, readsToken: true, req: get("/metrics", remote), want: 403, reason: deniedNoToken},
		{name: "reads token: prometheus targets without it are refused", token: token, readsToken: true, req: get("/v1/prometheus/targets", remote), want: 403, reason: deniedNoToken},
		{name: "reads token: a read with it is served", token: token, readsToken: true, req: get("/v1/catalog/services", remote, "X-Consul-Token", token), want: 200},
		{name: "reads token: a read with a wrong one is refused", token: token, readsToken: true, req: get("/v1/catalog/services", remote, "X-Consul-Token", "nope"), want: 403, reason: deniedWrongToken},
		{name: "reads token: /healthz stays open", token: token, readsToken: true, req: get("/healthz", remote), want: 200},
		{name: "reads token: /readyz stays open", token: token, readsToken: true, req: get("/readyz", remote), want: 200},

		// The dashboard: its page is open, its data is a read, its actions
		// are writes.
		{name: "reads token: the dashboard's page stays open", token: token, readsToken: true, req: get("/ui/", remote), want: 200},
		{name: "reads token: the dashboard's script stays open", token: token, readsToken: true, req: get("/ui/static/app.js", remote), want: 200},
		{name: "reads token: the dashboard's data without it is refused", token: token, readsToken: true, req: get("/ui/api/stream", remote), want: 403, reason: deniedNoToken},
		{name: "reads token: a dashboard's path is no way around it", token: token, readsToken: true, req: get("/ui/static/../api/stream", remote), want: 400},
		{name: "token: a dashboard action without it is refused", token: token, req: req{"POST", "/ui/api/unit/web/stop", loop4, nil}, want: 403, reason: deniedNoToken},
		{name: "token: a POST to the page is a write", token: token, req: req{"POST", "/ui/", loop4, nil}, want: 403, reason: deniedNoToken},
		{name: "no token file: a dashboard action from another address is refused", req: req{"POST", "/ui/api/unit/web/stop", remote, nil}, want: 403, reason: deniedNotLoopback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tok []byte
			if tc.token != "" {
				tok = []byte(tc.token)
			}
			reg := prometheus.NewRegistry()
			a := newAPIAuth(tok, tc.readsToken, reg, slog.New(slog.DiscardHandler))
			var seen *http.Request
			h := a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
			r := httptest.NewRequest(tc.req.method, tc.req.target, strings.NewReader("{}"))
			r.RemoteAddr = tc.req.remote
			for k, v := range tc.req.header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.want {
				t.Fatalf("%s %s from %s: %d %q, want %d", tc.req.method, tc.req.target, tc.req.remote, rec.Code, body, tc.want)
			}
			if tc.want == 200 {
				if seen == nil {
					t.Fatal("the request was not passed on")
				}
				if strings.Contains(seen.URL.String(), token) || strings.Contains(seen.RequestURI, token) {
					t.Errorf("the request passed on still carries ?token=: %s", seen.RequestURI)
				}
				return
			}
			if seen != nil {
				t.Error("a refused request was passed on")
			}
			if tc.want == 400 {
				if !strings.HasPrefix(string(body), "malformed path") {
					t.Errorf("400 body %q does not say the path is malformed", body)
				}
				return
			}
			if !strings.HasPrefix(string(body), "Permission denied: ") {
				t.Errorf("403 body %q does not start like Consul's", body)
			}
			for _, secret := range []string{token, "guess", "nope"} {
				if strings.Contains(string(body), secret) {
					t.Errorf("403 body %q repeats the token sent", body)
				}
			}
			if got := testutil.ToFloat64(a.denied.WithLabelValues(tc.reason)); got != 1 {
				t.Errorf("berth_api_requests_denied_total{reason=%q} = %v, want 1", tc.reason, got)
			}
		})
	}
}

// A request that carries the API token is marked so, whatever it asks:
// reads may then show what only token holders see (check headers).
func TestAPIAuthMarksTheToken(t *testing.T) {
	t.Parallel()
	const token = "m4rk-t0ken"
	withToken := newAPIAuth([]byte(token), false, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	without := newAPIAuth(nil, false, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		name   string
		a      *apiAuth
		target string
		header map[string]string
		want   bool
	}{
		{"an open read without a token", withToken, "/v1/agent/checks", nil, false},
		{"an open read with the token", withToken, "/v1/agent/checks", map[string]string{"X-Consul-Token": token}, true},
		{"an open read with a bearer token", withToken, "/v1/health/checks/web", map[string]string{"Authorization": "Bearer " + token}, true},
		{"an open read with ?token=", withToken, "/v1/health/state/any?token=" + token, nil, true},
		{"an open read with a wrong token", withToken, "/v1/agent/checks", map[string]string{"X-Consul-Token": "nope"}, false},
		{"no token file: loopback is not a token", without, "/v1/agent/checks", map[string]string{"X-Consul-Token": token}, false},
	} {
		var seen *http.Request
		h := tc.a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
		r := httptest.NewRequest("GET", tc.target, nil)
		r.RemoteAddr = "127.0.0.1:40000"
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen == nil {
			t.Errorf("%s: not passed on", tc.name)
			continue
		}
		if got := carriesToken(seen); got != tc.want {
			t.Errorf("%s: carriesToken = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// headers turns key, value, key, value... into a map.
func headers(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestAPIAuthMessages(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	withToken := newAPIAuth([]byte("t0ken"), false, reg, slog.New(slog.DiscardHandler))
	without := newAPIAuth(nil, false, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct {
		a      *apiAuth
		header string
		remote string
		want   string
	}{
		{withToken, "", "127.0.0.1:1", "Permission denied: this API needs a token: send it as the X-Consul-Token header or as Authorization: Bearer\n"},
		{withToken, "wrong", "127.0.0.1:1", "Permission denied: the token sent is not this controller's --api-token-file token\n"},
		{without, "", "192.0.2.1:1", "Permission denied: writes and logs need a token from addresses other than loopback, and this controller has no --api-token-file\n"},
	} {
		r := httptest.NewRequest("PUT", "/v1/agent/check/pass/x", nil)
		r.RemoteAddr = tc.remote
		if tc.header != "" {
			r.Header.Set("X-Consul-Token", tc.header)
		}
		rec := httptest.NewRecorder()
		tc.a.Handler(next).ServeHTTP(rec, r)
		if rec.Code != 403 || rec.Body.String() != tc.want {
			t.Errorf("token %q from %s: %d %q, want 403 %q", tc.header, tc.remote, rec.Code, rec.Body, tc.want)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("403 Content-Type %q, want text/plain", ct)
		}
	}
	// The counter is exposed from zero, for every reason.
	n, err := testutil.GatherAndCount(reg, "berth_api_requests_denied_total")
	if err != nil || n != 3 {
		t.Errorf("berth_api_requests_denied_total has %d series (%v), want 3", n, err)
	}
}

// A controller given --tls-cert, --tls-key and --api-token-file serves its
// API over TLS only, says so in its host record, and refuses writes
// without the token.
func TestRunServesTLSWithToken(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	cfg := testConfig(t)
	cfg.EtcdEndpoints = testenv.Etcd(t)
	cfg.TLSCert, cfg.TLSKey = certs.ServerCert, certs.ServerKey
	cfg.APITokenFile = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(cfg.APITokenFile, []byte("tls-t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testenv.NewStore(t, store.Config{Endpoints: cfg.EtcdEndpoints})
	start(t, cfg)

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(certs.CACert)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("CA: %v", err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(c.CloseIdleConnections)
	do := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, "https://"+cfg.Listen+path, strings.NewReader(`{"Name":"tls-web","Port":8080}`))
		if token != "" {
			req.Header.Set("X-Consul-Token", token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 10*time.Second, "/readyz answers 200 over HTTPS", func() (bool, string) {
		code, body := do("GET", "/readyz", "")
		return code == 200, fmt.Sprint(code, body)
	})
	if code, body := get("http://" + cfg.Listen + "/healthz"); code != 400 {
		t.Errorf("plain HTTP to the TLS port: %d %q, want 400", code, body)
	}
	if code, body := do("PUT", "/v1/agent/service/register", ""); code != 403 || !strings.HasPrefix(body, "Permission denied") {
		t.Errorf("register without the token: %d %q, want 403 Permission denied", code, body)
	}
	if code, body := do("PUT", "/v1/agent/service/register", "tls-t0ken"); code != 200 {
		t.Errorf("register with the token: %d %q, want 200", code, body)
	}
	code, body := do("GET", "/metrics", "")
	if v := metricValue(body, `berth_api_requests_denied_total{reason="no_token"}`); code != 200 || v != 1 {
		t.Errorf("/metrics: %d, berth_api_requests_denied_total{reason=\"no_token\"} = %v, want 1", code, v)
	}
	eventually(t, 10*time.Second, "the host record says https", func() (bool, string) {
		h := readHost(t, s, cfg.HostName)
		return h.Status.HTTPScheme == "https", fmt.Sprintf("httpScheme %q", h.Status.HTTPScheme)
	})
}
