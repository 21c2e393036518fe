package consulapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
)

// FuzzRegister sends one body to every write that reads one: service and
// check registration and a TTL update. Nothing may panic, every answer is
// 200, 400, 404 or 413, and what a 200 registered reads back in the shapes
// the Consul client decodes. The seed corpus is in testdata/fuzz.
func FuzzRegister(f *testing.F) {
	for _, s := range []string{
		`{"ID":"web-1","Name":"web","Tags":["v1"],"Address":"172.17.0.3","Port":8080,"Meta":{"unit":"web"},"Check":{"HTTP":"http://172.17.0.3:8080/healthz","Interval":"10s","Timeout":"2s","DeregisterCriticalServiceAfter":"5m"},"Checks":null}`,
		`{"Name":"ttl","Checks":[{"TTL":"30s"},{"TCP":"a:1","Interval":"1s","Status":"passing"}]}`,
		`{"name":"s","check":{"script_args":["true"],"docker_container_id":"abc","interval":1000000000}}`,
		`{"ID":"web-1-ttl","Name":"web heartbeat","ServiceID":"web-1","TTL":"30s"}`,
		`{"Status":"passing","Output":"ok"}`,
		`{"Name":"w","Weights":{"Passing":3,"Warning":1},"Kind":""}`,
		`{"Name":"a","name":"b"}`,
		`null`, `[]`, `{}`, `{"Check":{"Interval":"-5s"}}`,
	} {
		f.Add([]byte(s))
	}
	// Hostile sizes: over the limit by one byte, and many small fields.
	over := append([]byte(`{"Name":"`), bytes.Repeat([]byte("a"), 64<<10)...)
	f.Add(append(over, `"}`...))
	f.Add([]byte(`{"Name":"m","Meta":{` + strings.Repeat(`"k":"v",`, 5000) + `"k":"v"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		mem := catalog.NewMemory()
		mem.PutNode(catalog.Node{Name: "host-a", Address: "10.0.0.5", Up: true}, 0)
		agent := newFakeAgent(mem, "host-a")
		// An endpoint with a TTL check for the update and check/register to find.
		_ = agent.Register(t.Context(), catalog.Endpoint{ID: "web-1", Service: "web", Host: "host-a",
			Checks: []catalog.Check{{ID: "service:web-1", Type: catalog.CheckTTL, TTL: 1e9, Status: "critical"}}})
		mux := http.NewServeMux()
		consulapi.New(mem, agent, consulapi.Options{MaxBodyBytes: 64 << 10}).Register(mux)

		for _, path := range []string{
			"/v1/agent/service/register", "/v1/agent/service/register?replace-existing-checks",
			"/v1/agent/check/register", "/v1/agent/check/update/service:web-1",
		} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("PUT", path, bytes.NewReader(body)))
			switch rec.Code {
			case 200:
				if rec.Body.Len() != 0 {
					t.Fatalf("PUT %s: 200 with a body %q", path, rec.Body)
				}
			case 400, 404, 413:
			default:
				t.Fatalf("PUT %s: %d %s", path, rec.Code, rec.Body)
			}
		}
		// Whatever was registered reads back as the client decodes it.
		for _, e := range agent.Local() {
			for _, path := range []string{"/v1/health/service/", "/v1/catalog/service/"} {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest("GET", path+url.PathEscape(e.Service), nil))
				if rec.Code != 200 {
					t.Fatalf("GET %s%s: %d %s", path, e.Service, rec.Code, rec.Body)
				}
				var out any = &[]api.ServiceEntry{}
				if path == "/v1/catalog/service/" {
					out = &[]api.CatalogService{}
				}
				if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
					t.Fatalf("GET %s%s: the client cannot decode %s: %v", path, e.Service, rec.Body, err)
				}
			}
		}
	})
}
