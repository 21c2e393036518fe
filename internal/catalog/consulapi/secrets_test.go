package consulapi_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
)

// Check definitions are served on reads anyone may make: the values of
// their HTTP headers and the password in their URLs are not, unless the
// controller says the request may see them (it carries the API token).
func TestCheckSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	const secret = "Bearer s3cr3t-value"
	f := newFixture(t, consulapi.Options{ShowSecrets: func(r *http.Request) bool { return r.Header.Get("X-Test-Privileged") == "yes" }})
	e := catalog.Endpoint{ID: "api-1", Service: "api", Host: "host-a", Address: "10.0.0.5", Port: 9000, Source: catalog.SourceAgent,
		Weights: catalog.Weights{Passing: 1, Warning: 1},
		Checks: []catalog.Check{{ID: "api-http", Name: "api http", Type: catalog.CheckHTTP, Status: v1.CheckPassing,
			HTTP: "http://probe:pr0be-pass@10.0.0.5:9000/health", Method: "GET", Interval: 10e9,
			Header: map[string][]string{"Authorization": {secret}, "X-Api-Key": {"k3y-one", "k3y-two"}}}}}
	f.agent.local[e.ID] = e
	f.mem.PutEndpoint(e, 0)

	paths := []string{"/v1/agent/checks", "/v1/health/checks/api", "/v1/health/service/api", "/v1/health/node/host-a", "/v1/health/state/any"}
	for _, path := range paths {
		_, body := do(t, f, "GET", path, "")
		for _, s := range []string{"s3cr3t", "k3y-one", "k3y-two", "pr0be-pass"} {
			if strings.Contains(body, s) {
				t.Errorf("GET %s shows %q: %s", path, s, body)
			}
		}
		if !strings.Contains(body, `"Authorization":["[redacted]"]`) || !strings.Contains(body, "probe:xxxxx@10.0.0.5") {
			t.Errorf("GET %s: want the header's name with its value redacted, and the URL's user: %s", path, body)
		}
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("X-Test-Privileged", "yes")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "s3cr3t-value") || !strings.Contains(string(b), "pr0be-pass") {
			t.Errorf("GET %s with the right to see secrets: %s", path, b)
		}
	}

	// What a Consul client reads: the header is there, its value is not.
	checks, err := newClient(t, f).Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	c := checks["api-http"]
	if c == nil || len(c.Definition.Header["Authorization"]) != 1 || c.Definition.Header["Authorization"][0] != consulapi.Redacted ||
		len(c.Definition.Header["X-Api-Key"]) != 2 {
		t.Errorf("agent checks through the Consul client: %+v", c)
	}
}

// A registration the agent's policy refuses is 403 with the agent's
// reason, which the Consul client reports.
func TestRefusedRegistration(t *testing.T) {
	t.Parallel()
	f := newFixture(t, consulapi.Options{})
	const reason = "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true"
	f.agent.err = &catalog.RefusedError{Reason: reason}
	err := newClient(t, f).Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "x",
		Check: &api.AgentServiceCheck{Args: []string{"true"}, DockerContainerID: "abc", Interval: "10s"}})
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.Contains(err.Error(), reason) {
		t.Errorf("ServiceRegister refused by the agent: %v, want 403 with the reason", err)
	}
	f.agent.err = errors.New("etcd is gone")
	resp, body := do(t, f, "PUT", "/v1/agent/service/register", `{"Name":"y"}`)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "etcd is gone") {
		t.Errorf("a failing agent: %d %q, want 500", resp.StatusCode, body)
	}
}
