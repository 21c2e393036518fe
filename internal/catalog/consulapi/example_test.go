package consulapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
)

// A Server mounted on a mux answers Consul's API from the catalog.
func ExampleServer() {
	mem := catalog.NewMemory()
	mem.PutNode(catalog.Node{Name: "host-a", Address: "10.0.0.5", Up: true}, 0)
	mem.PutEndpoint(catalog.Endpoint{ID: "web-1", Service: "web", Host: "host-a", Address: "10.0.0.5", Port: 8080,
		Tags: []string{"v1"}, Weights: catalog.Weights{Passing: 1, Warning: 1},
		Checks: []catalog.Check{{ID: "service:web-1", Type: catalog.CheckTTL, Status: v1.CheckPassing}}}, 0)

	mux := http.NewServeMux()
	consulapi.New(mem, newFakeAgent(mem, "host-a"), consulapi.Options{}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v1/catalog/services")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Header.Get("X-Consul-Index"), string(body))
	// Output: 3 {"web":["v1"]}
}
