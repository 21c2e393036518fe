package probe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"berth.dev/berth/internal/probe"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	check := probe.Check{Type: probe.TypeHTTP, HTTP: srv.URL + "/healthz"}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("as a catalog check:", probe.New(nil, probe.Consul).Do(ctx, check).Status)
	fmt.Println("as a container's health:", probe.New(nil, probe.Container).Do(ctx, check).Status)
	// Output:
	// as a catalog check: warning
	// as a container's health: critical
}
