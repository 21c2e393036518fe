package consulapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
)

// The tests in this file speak raw HTTP, for what the client hides.

func do(t *testing.T, f *fixture, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestReadHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	for _, path := range []string{
		"/v1/agent/self", "/v1/agent/members", "/v1/agent/services", "/v1/agent/checks",
		"/v1/catalog/services", "/v1/catalog/service/web", "/v1/catalog/service/none", "/v1/catalog/nodes",
		"/v1/catalog/node/host-a", "/v1/health/service/web?passing", "/v1/health/checks/web",
		"/v1/health/node/host-b", "/v1/health/state/any", "/v1/catalog/services?stale&dc=dc1&filter=x",
		"/v1/catalog/service/web?consistent&cached&tag=v1&tag=http",
	} {
		resp, body := do(t, f, "GET", path, "")
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != "application/json" || h.Get("X-Consul-Index") == "" ||
			h.Get("X-Consul-Index") == "0" || h.Get("X-Consul-LastContact") != "0" || h.Get("X-Consul-KnownLeader") != "true" {
			t.Errorf("GET %s: %d %v %s", path, resp.StatusCode, h, body)
		}
		if body == "null" {
			t.Errorf("GET %s: null, want an empty list or object", path)
		}
	}
	// Lists are [] when empty, never null.
	for _, path := range []string{"/v1/catalog/service/none", "/v1/health/service/none", "/v1/health/checks/none", "/v1/health/state/warning?node-meta=zone:z"} {
		if _, body := do(t, f, "GET", path, ""); body != "[]" {
			t.Errorf("GET %s = %s, want []", path, body)
		}
	}
}

// TestPretty: ?pretty answers the same JSON indented by four spaces with a
// final newline, as Consul does, on every read; without it the answer is
// compact.
func TestPretty(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	for _, path := range []string{"/v1/catalog/services", "/v1/catalog/service/web", "/v1/health/service/web?passing", "/v1/catalog/nodes"} {
		_, compact := do(t, f, "GET", path, "")
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		resp, pretty := do(t, f, "GET", path+sep+"pretty", "")
		var want bytes.Buffer
		if err := json.Indent(&want, []byte(compact), "", "    "); err != nil {
			t.Fatalf("GET %s: %v: %q", path, err, compact)
		}
		want.WriteByte('\n')
		if resp.StatusCode != 200 || pretty != want.String() || !strings.Contains(pretty, "\n    ") || strings.Contains(compact, "\n") {
			t.Errorf("GET %s?pretty = %d\n%s\nwant\n%s(and without ?pretty %q)", path, resp.StatusCode, pretty, want.String(), compact)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{MaxBodyBytes: 4096})
	f.agent.local["api-1"] = catalog.Endpoint{ID: "api-1", Service: "api", Host: "host-a",
		Checks: []catalog.Check{{ID: "api-http", Type: catalog.CheckHTTP, HTTP: "http://x:1/", Status: v1.CheckCritical}}}
	f.agent.local["ctr-1"] = catalog.Endpoint{ID: "ctr-1", Service: "ctr", Host: "host-a", Source: catalog.SourceContainer}
	huge := `{"Name":"x","Tags":["` + strings.Repeat("a", 5000) + `"]}`
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		says                     string
	}{
		{"bad JSON", "PUT", "/v1/agent/service/register", `{"Name":`, 400, "decode"},
		{"empty body", "PUT", "/v1/agent/service/register", ``, 400, "empty body"},
		{"null body", "PUT", "/v1/agent/service/register", `null`, 400, "want a JSON object"},
		{"array body", "PUT", "/v1/agent/service/register", `[1]`, 400, "decode"},
		{"no name", "PUT", "/v1/agent/service/register", `{"Port":80}`, 400, "missing service Name"},
		{"slash in name", "PUT", "/v1/agent/service/register", `{"Name":"a/b"}`, 400, "'/'"},
		{"dot name", "PUT", "/v1/agent/service/register", `{"Name":".."}`, 400, "URL path"},
		{"dot check id", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"CheckID":"x/./y","TTL":"1s"}}`, 400, "path segments"},
		{"port type", "PUT", "/v1/agent/service/register", `{"Name":"a","Port":"80"}`, 400, "Port"},
		{"port range", "PUT", "/v1/agent/service/register", `{"Name":"a","Port":70000}`, 400, "Port 70000"},
		{"weights", "PUT", "/v1/agent/service/register", `{"Name":"a","Weights":{"Passing":0}}`, 400, "Passing must be greater than 0"},
		{"kind", "PUT", "/v1/agent/service/register", `{"Name":"a","Kind":"connect-proxy"}`, 400, "Kind"},
		{"same field twice", "PUT", "/v1/agent/service/register", `{"Name":"a","name":"b"}`, 400, "same field"},
		{"check without type", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"Interval":"10s"}}`, 400, "no type"},
		{"check of two types", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"HTTP":"http://a/","TCP":"a:1","Interval":"1s"}}`, 400, "several types"},
		{"grpc check", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"GRPC":"a:1","Interval":"1s"}}`, 400, "GRPC"},
		{"script on the host", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"Args":["true"],"Interval":"1s"}}`, 400, "DockerContainerID"},
		{"no interval", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"HTTP":"http://a/"}}`, 400, "Interval must be > 0"},
		{"bad duration", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"TTL":"soon"}}`, 400, "TTL"},
		{"negative duration", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"TTL":"-1s"}}`, 400, "negative"},
		{"bad status", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"TTL":"1s","Status":"fine"}}`, 400, "invalid check status"},
		{"bad url", "PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"HTTP":"ftp://a/","Interval":"1s"}}`, 400, "http(s) URL"},
		{"duplicate check ids", "PUT", "/v1/agent/service/register", `{"Name":"a","Checks":[{"CheckID":"c","TTL":"1s"},{"CheckID":"c","TTL":"1s"}]}`, 400, "given twice"},
		{"bad query flag", "PUT", "/v1/agent/service/register?replace-existing-checks=maybe", `{"Name":"a"}`, 400, "replace-existing-checks"},
		{"huge body", "PUT", "/v1/agent/service/register", huge, 413, "larger than 4096"},
		{"huge check body", "PUT", "/v1/agent/check/register", huge, 413, ""},
		{"huge update", "PUT", "/v1/agent/check/update/api-http", huge, 413, ""},
		{"check register, bad JSON", "PUT", "/v1/agent/check/register", `{`, 400, "decode"},
		{"check register, no service", "PUT", "/v1/agent/check/register", `{"Name":"n","TTL":"1s"}`, 400, "ServiceID"},
		{"check register, unknown service", "PUT", "/v1/agent/check/register", `{"Name":"n","ServiceID":"zz","TTL":"1s"}`, 400, "not registered"},
		{"check register, a container's service", "PUT", "/v1/agent/check/register", `{"Name":"n","ServiceID":"ctr-1","TTL":"1s"}`, 400, "not registered through the agent API"},
		{"register over a container's endpoint", "PUT", "/v1/agent/service/register", `{"ID":"ctr-1","Name":"x"}`, 400, "pick another ID"},
		{"update, bad JSON", "PUT", "/v1/agent/check/update/api-http", `{"Status":}`, 400, "decode"},
		{"update, bad status", "PUT", "/v1/agent/check/update/api-http", `{"Status":"great"}`, 400, "invalid check status"},
		{"update, unknown check", "PUT", "/v1/agent/check/update/nope", `{"Status":"passing"}`, 404, "unknown check ID"},
		{"pass, unknown check", "PUT", "/v1/agent/check/pass/nope?note=x", ``, 404, "unknown check ID"},
		{"update, not TTL", "PUT", "/v1/agent/check/update/api-http", `{"Status":"passing"}`, 400, "not a TTL"},
		{"unknown path", "GET", "/v1/kv/some/key", ``, 404, "no such API"},
		{"unknown agent path", "PUT", "/v1/agent/maintenance?enable=true", ``, 404, "no such API"},
		{"bad index", "GET", "/v1/catalog/services?index=x", ``, 400, "invalid index"},
		{"bad wait", "GET", "/v1/catalog/services?index=1&wait=forever", ``, 400, "invalid wait"},
		{"other datacenter", "GET", "/v1/catalog/services?dc=dc9", ``, 400, "datacenter"},
		{"bad state", "GET", "/v1/health/state/sleepy", ``, 400, "invalid check state"},
		{"bad passing", "GET", "/v1/health/service/web?passing=sure", ``, 400, "passing"},
		{"bad node-meta", "GET", "/v1/catalog/nodes?node-meta=zone", ``, 400, "node-meta"},
		{"unknown agent service", "GET", "/v1/agent/service/nope", ``, 404, "unknown service"},
	} {
		resp, body := do(t, f, tc.method, tc.path, tc.body)
		if resp.StatusCode != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %s %s = %d %q, want %d saying %q", tc.name, tc.method, tc.path, resp.StatusCode, body, tc.code, tc.says)
		}
	}
}

func TestWritesAnswerEmpty200(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	for _, tc := range []struct{ path, body string }{
		{"/v1/agent/service/register", `{"name":"x","port":1,"check":{"ttl":"10s"}}`},
		{"/v1/agent/check/update/service:x", `{"Status":"passing","Output":"ok"}`},
		{"/v1/agent/check/warn/service:x?note=slow", ``},
		{"/v1/agent/check/register", `{"Name":"x2","ServiceID":"x","TTL":"5s"}`},
		{"/v1/agent/check/deregister/x2", ``},
		{"/v1/agent/check/deregister/unknown", ``},
		{"/v1/agent/service/deregister/x", ``},
		{"/v1/agent/service/deregister/unknown", ``},
	} {
		if resp, body := do(t, f, "PUT", tc.path, tc.body); resp.StatusCode != 200 || body != "" {
			t.Errorf("PUT %s = %d %q, want 200 and no body", tc.path, resp.StatusCode, body)
		}
	}
}

func TestWriteFailureIs500(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	f.agent.err = errors.New("etcd: no leader")
	if resp, body := do(t, f, "PUT", "/v1/agent/service/register", `{"Name":"x"}`); resp.StatusCode != 500 || !strings.Contains(body, "no leader") {
		t.Errorf("register with a failing agent = %d %q, want 500 with the reason", resp.StatusCode, body)
	}
}

func TestRegisterMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		path    string
		body    string
		check   func(t *testing.T, e catalog.Endpoint)
		preload *catalog.Endpoint
	}{
		{
			name: "ID defaults to Name, check ID to service:<id>, status to critical",
			body: `{"Name":"solo","Address":"192.0.2.1","Port":80,"Check":{"TCP":"192.0.2.1:80","Interval":"5s"},"Checks":null}`,
			check: func(t *testing.T, e catalog.Endpoint) {
				if e.ID != "solo" || e.Address != "192.0.2.1" || len(e.Checks) != 1 || e.Checks[0].ID != "service:solo" ||
					e.Checks[0].Name != "Service 'solo' check" || e.Checks[0].Status != v1.CheckCritical || e.Checks[0].Type != catalog.CheckTCP {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name: "snake_case, script_args in a docker container, numeric durations",
			body: `{"name":"snake","port":81,"enable_tag_override":true,"check":{"script_args":["/bin/check","-q"],"docker_container_id":"abc123","interval":10000000000,"success_before_passing":2,"failures_before_critical":3,"status":"passing"}}`,
			check: func(t *testing.T, e catalog.Endpoint) {
				c := e.Checks[0]
				if e.Container != "abc123" || c.Type != catalog.CheckExec || !slices.Equal(c.Exec, []string{"/bin/check", "-q"}) ||
					c.Interval.Seconds() != 10 || c.SuccessBeforePassing != 2 || c.FailuresBeforeCritical != 3 || c.Status != v1.CheckPassing {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name:    "Args is ScriptArgs, in the endpoint's own container",
			body:    `{"ID":"ctr","Name":"ctr","Checks":[{"Args":["true"],"Interval":"1s"},{"HTTP":"http://h:1/x","Method":"HEAD","Header":{"X-A":["1"]},"Interval":"1s"}]}`,
			preload: &catalog.Endpoint{ID: "ctr", Service: "ctr", Host: "host-a", Container: "c0ffee", Source: catalog.SourceAgent},
			check: func(t *testing.T, e catalog.Endpoint) {
				if e.Container != "c0ffee" || e.Checks[0].ID != "service:ctr:1" || e.Checks[1].ID != "service:ctr:2" ||
					e.Checks[1].Method != "HEAD" || e.Checks[1].Header["X-A"][0] != "1" {
					t.Errorf("%+v", e)
				}
			},
		},
		{
			name: "re-registration keeps status and other checks",
			body: `{"ID":"re","Name":"re","Check":{"CheckID":"hb","TTL":"10s"}}`,
			preload: &catalog.Endpoint{ID: "re", Service: "re", Host: "host-a", Source: catalog.SourceAgent, Checks: []catalog.Check{
				{ID: "hb", Type: catalog.CheckTTL, TTL: 1e9, Status: v1.CheckPassing, Output: "fine"},
				{ID: "other", Type: catalog.CheckTTL, TTL: 1e9, Status: v1.CheckWarning}}},
			check: func(t *testing.T, e catalog.Endpoint) {
				if len(e.Checks) != 2 || e.Checks[0].Status != v1.CheckPassing || e.Checks[0].Output != "fine" ||
					e.Checks[0].TTL.Seconds() != 10 || e.Checks[1].ID != "other" {
					t.Errorf("%+v", e.Checks)
				}
			},
		},
		{
			name: "replace-existing-checks drops the others",
			path: "?replace-existing-checks",
			body: `{"ID":"re","Name":"re","Check":{"CheckID":"hb","TTL":"10s"}}`,
			preload: &catalog.Endpoint{ID: "re", Service: "re", Host: "host-a", Source: catalog.SourceAgent, Checks: []catalog.Check{
				{ID: "other", Type: catalog.CheckTTL, TTL: 1e9, Status: v1.CheckWarning}}},
			check: func(t *testing.T, e catalog.Endpoint) {
				if len(e.Checks) != 1 || e.Checks[0].ID != "hb" || e.Checks[0].Status != v1.CheckCritical {
					t.Errorf("%+v", e.Checks)
				}
			},
		},
		{
			name: "weights, tags, meta",
			body: `{"Name":"w","Tags":["a","b"],"Meta":{"k":"v"},"Weights":{"Passing":10,"Warning":2}}`,
			check: func(t *testing.T, e catalog.Endpoint) {
				if e.Weights != (catalog.Weights{Passing: 10, Warning: 2}) || !slices.Equal(e.Tags, []string{"a", "b"}) || e.Meta["k"] != "v" ||
					e.Address != "10.0.0.5" {
					t.Errorf("%+v", e)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, consulapi.Options{})
			if tc.preload != nil {
				f.agent.local[tc.preload.ID] = *tc.preload
			}
			if resp, body := do(t, f, "PUT", "/v1/agent/service/register"+tc.path, tc.body); resp.StatusCode != 200 {
				t.Fatalf("register = %d %s", resp.StatusCode, body)
			}
			var got catalog.Endpoint
			for _, e := range f.agent.Local() {
				if e.Service != "web" && e.Service != "db" {
					got = e
				}
			}
			tc.check(t, got)
		})
	}
}

func TestRenameDeregistersTheOld(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	for _, body := range []string{`{"ID":"x-1","Name":"old"}`, `{"ID":"x-1","Name":"new"}`} {
		if resp, msg := do(t, f, "PUT", "/v1/agent/service/register", body); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, msg)
		}
	}
	if eps, _ := f.mem.Endpoints("old"); len(eps) != 0 {
		t.Errorf("old still has %+v", eps)
	}
	if eps, _ := f.mem.Endpoints("new"); len(eps) != 1 {
		t.Errorf("new has %+v", eps)
	}
}
