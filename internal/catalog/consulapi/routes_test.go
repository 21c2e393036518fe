package consulapi_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
)

// TestRoutesAreWhatRegisterMounts: a mux may hold Routes before the Server
// exists (the controller does, answering 503 until its catalog loads), so
// they must be exactly what Register serves, with Agent on the routes
// under /v1/agent/; everything else under /v1/ is NotFound.
func TestRoutesAreWhatRegisterMounts(t *testing.T) {
	t.Parallel()
	mem := catalog.NewMemory()
	mux := http.NewServeMux()
	consulapi.New(mem, newFakeAgent(mem, "host-a"), consulapi.Options{}).Register(mux)

	wildcard := regexp.MustCompile(`\{[a-z]+(\.\.\.)?\}`)
	routes := consulapi.Routes()
	if len(routes) < 20 {
		t.Fatalf("Routes() lists %d routes, want the API's 22", len(routes))
	}
	seen := map[string]bool{}
	for _, r := range routes {
		if seen[r.Pattern] {
			t.Errorf("route %q listed twice", r.Pattern)
		}
		seen[r.Pattern] = true
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok {
			t.Errorf("route %q has no method", r.Pattern)
			continue
		}
		req := httptest.NewRequest(method, wildcard.ReplaceAllString(path, "x"), nil)
		if _, got := mux.Handler(req); got != r.Pattern {
			t.Errorf("%s %s is served by Register's pattern %q, want %q", method, req.URL.Path, got, r.Pattern)
		}
		if agent := strings.HasPrefix(path, "/v1/agent/"); r.Agent != agent {
			t.Errorf("route %q: Agent %v, want %v", r.Pattern, r.Agent, agent)
		}
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/kv/x"},
		{"GET", "/v1/catalog/nothing"},
		{"DELETE", "/v1/catalog/services"},
		{"GET", "/v1/agent/check/pass/x"},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		want := "no such API: " + tc.method + " " + tc.path + "\n"
		if w.Code != http.StatusNotFound || w.Body.String() != want {
			t.Errorf("%s %s: %d %q, want 404 %q", tc.method, tc.path, w.Code, w.Body.String(), want)
		}
	}
}
