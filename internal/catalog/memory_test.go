package catalog_test

import (
	"slices"
	"testing"

	"berth.dev/berth/internal/catalog"
)

// hostsOf lists eps as host/id, in the order Endpoints gives them.
func hostsOf(eps []catalog.Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.Host+"/"+e.ID)
	}
	return out
}

// Two hosts registering the same service id (a Consul agent registration
// without an ID takes the service's name) are two endpoints; deleting one
// leaves the other.
func TestMemorySameIDOnTwoHosts(t *testing.T) {
	t.Parallel()
	m := catalog.NewMemory()
	m.PutEndpoint(catalog.Endpoint{ID: "web", Service: "web", Host: "host-b", Address: "10.0.0.2", Port: 80}, 0)
	m.PutEndpoint(catalog.Endpoint{ID: "web", Service: "web", Host: "host-a", Address: "10.0.0.1", Port: 80}, 0)
	eps, _ := m.Endpoints("web")
	if got, want := hostsOf(eps), []string{"host-a/web", "host-b/web"}; !slices.Equal(got, want) {
		t.Fatalf("endpoints of web = %v, want %v", got, want)
	}

	// Host a changes its endpoint: host b's is untouched.
	created := eps[0].CreateIndex
	m.PutEndpoint(catalog.Endpoint{ID: "web", Service: "web", Host: "host-a", Address: "10.0.0.1", Port: 81}, 0)
	eps, _ = m.Endpoints("web")
	if len(eps) != 2 || eps[0].Port != 81 || eps[0].CreateIndex != created || eps[1].Port != 80 {
		t.Fatalf("after host-a changed its port, endpoints of web = %+v", eps)
	}

	// Another host's endpoint of that id is no endpoint to delete.
	before := m.Index()
	m.DeleteEndpoint("host-c", "web", "web", 0)
	if m.Index() != before {
		t.Errorf("deleting an endpoint no host registered moved the index from %d to %d", before, m.Index())
	}

	m.DeleteEndpoint("host-a", "web", "web", 0)
	eps, idx := m.Endpoints("web")
	if got, want := hostsOf(eps), []string{"host-b/web"}; !slices.Equal(got, want) {
		t.Fatalf("after host-a deregistered web, endpoints of web = %v, want %v", got, want)
	}
	if idx <= before {
		t.Errorf("the index of web stayed at %d after a deletion", idx)
	}
	if _, ok := m.Services()["web"]; !ok {
		t.Error("web left the services while host-b still has an endpoint")
	}

	m.DeleteEndpoint("host-b", "web", "web", 0)
	if eps, _ := m.Endpoints("web"); len(eps) != 0 {
		t.Errorf("after both hosts deregistered, endpoints of web = %v", hostsOf(eps))
	}
	if _, ok := m.Services()["web"]; ok {
		t.Error("web is still a service with no endpoint left")
	}
}
