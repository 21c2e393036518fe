package agent

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReadyzDetail: /readyz answers every client with its status and a
// line per check, and tells why a check fails (etcd's and Docker's error
// text) only to clients that may read the API: everyone when reads are
// open, holders of the token under --api-reads token.
func TestReadyzDetail(t *testing.T) {
	t.Parallel()
	const token = "r3adyz-Token"
	const etcdErr = "etcd: dial tcp 10.9.8.7:2379: connect: connection refused"
	const remote = "10.1.2.3:40000"
	notReady := "[+] api ok\n[+] caches ok\n[+] docker ok\n[-] etcd: " + etcdErr + "\nreadyz check failed\n"
	generic := "[+] api ok\n[+] caches ok\n[+] docker ok\n[-] etcd: not ready\nreadyz check failed\n"
	for _, tc := range []struct {
		name       string
		token      string // "": no --api-token-file
		readsToken bool
		target     string
		header     []string
		want       string
	}{
		{name: "reads open, no token file", target: "/readyz", want: notReady},
		{name: "reads open, a token file", token: token, target: "/readyz", want: notReady},
		{name: "reads token, without it", token: token, readsToken: true, target: "/readyz", want: generic},
		{name: "reads token, a wrong one", token: token, readsToken: true, target: "/readyz", header: []string{"X-Consul-Token", "guess"}, want: generic},
		{name: "reads token, X-Consul-Token", token: token, readsToken: true, target: "/readyz", header: []string{"X-Consul-Token", token}, want: notReady},
		{name: "reads token, bearer", token: token, readsToken: true, target: "/readyz", header: []string{"Authorization", "Bearer " + token}, want: notReady},
		{name: "reads token, ?token=", token: token, readsToken: true, target: "/readyz?token=" + token, want: notReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tok []byte
			if tc.token != "" {
				tok = []byte(tc.token)
			}
			a := newAPIAuth(tok, tc.readsToken, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			ready := newReadiness("etcd", "docker", "caches", "api")
			for _, n := range []string{"docker", "caches", "api"} {
				ready.set(n, nil)
			}
			ready.set("etcd", errors.New(etcdErr))
			mux := http.NewServeMux()
			mux.Handle("GET /readyz", ready.handler(a.mayRead))
			h := a.Handler(mux)

			serve := func() (int, string) {
				r := httptest.NewRequest("GET", tc.target, nil)
				r.RemoteAddr = remote
				for k, v := range headers(tc.header) {
					r.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				b, _ := io.ReadAll(w.Body)
				return w.Code, string(b)
			}
			if code, body := serve(); code != http.StatusServiceUnavailable || body != tc.want {
				t.Errorf("not ready: %d\n%s\nwant 503\n%s", code, body, tc.want)
			}
			ready.set("etcd", nil)
			want := "[+] api ok\n[+] caches ok\n[+] docker ok\n[+] etcd ok\nok\n"
			if code, body := serve(); code != http.StatusOK || body != want {
				t.Errorf("ready: %d\n%s\nwant 200\n%s", code, body, want)
			}
			if got := deniedTotal(a); got != 0 {
				t.Errorf("%v /readyz requests counted as refused, want none: it is always open", got)
			}
		})
	}
}

// deniedTotal is the sum of berth_api_requests_denied_total.
func deniedTotal(a *apiAuth) float64 {
	var sum float64
	for _, r := range []string{deniedNoToken, deniedWrongToken, deniedNotLoopback} {
		sum += testutil.ToFloat64(a.denied.WithLabelValues(r))
	}
	return sum
}
