package probe_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/probe"
)

// answers serves /<code> with that status code and a body naming it, /big
// with a body longer than MaxOutput, /echo-header with the X-Check header
// and method it was asked with.
func answers(t *testing.T, tls bool) *httptest.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			fmt.Fprint(w, strings.Repeat("x", 3*probe.MaxOutput))
		case "/echo-header":
			fmt.Fprintf(w, "%s %s", r.Method, r.Header.Get("X-Check"))
		case "/301":
			http.Redirect(w, r, "/503", http.StatusMovedPermanently)
		default:
			var code int
			fmt.Sscanf(r.URL.Path, "/%d", &code)
			w.WriteHeader(code)
			fmt.Fprintf(w, "answered %d\n", code)
		}
	})
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	srv := answers(t, false)
	secure := answers(t, true)
	withPassword, _ := url.Parse(srv.URL + "/200")
	withPassword.User = url.UserPassword("ops", "s3cret")
	for _, tc := range []struct {
		name     string
		check    probe.Check
		consul   v1.CheckStatus
		ctr      v1.CheckStatus
		output   string // the output starts with it
		contains string // and contains it
	}{
		{name: "200", check: probe.Check{HTTP: srv.URL + "/200"}, consul: v1.CheckPassing, ctr: v1.CheckPassing,
			output: "HTTP GET " + srv.URL + "/200: 200 OK Output: answered 200"},
		{name: "204", check: probe.Check{HTTP: srv.URL + "/204"}, consul: v1.CheckPassing, ctr: v1.CheckPassing,
			output: "HTTP GET " + srv.URL + "/204: 204 No Content Output: "},
		{name: "a redirect is an answer, not followed", check: probe.Check{HTTP: srv.URL + "/301"}, consul: v1.CheckCritical, ctr: v1.CheckPassing,
			output: "HTTP GET " + srv.URL + "/301: 301 Moved Permanently"},
		{name: "429 is a warning to Consul", check: probe.Check{HTTP: srv.URL + "/429"}, consul: v1.CheckWarning, ctr: v1.CheckCritical,
			output: "HTTP GET " + srv.URL + "/429: 429 Too Many Requests Output: answered 429"},
		{name: "503", check: probe.Check{HTTP: srv.URL + "/503"}, consul: v1.CheckCritical, ctr: v1.CheckCritical,
			output: "HTTP GET " + srv.URL + "/503: 503 Service Unavailable Output: answered 503"},
		{name: "404", check: probe.Check{HTTP: srv.URL + "/404"}, consul: v1.CheckCritical, ctr: v1.CheckCritical,
			output: "HTTP GET " + srv.URL + "/404: 404 Not Found"},
		{name: "method and header", check: probe.Check{HTTP: srv.URL + "/echo-header", Method: http.MethodPost, Header: map[string][]string{"X-Check": {"berth"}}},
			consul: v1.CheckPassing, ctr: v1.CheckPassing, output: "HTTP POST " + srv.URL + "/echo-header: 200 OK Output: POST berth"},
		{name: "a password in the URL is not shown", check: probe.Check{HTTP: withPassword.String()}, consul: v1.CheckPassing, ctr: v1.CheckPassing,
			output: "HTTP GET " + withPassword.Redacted() + ": 200 OK"},
		{name: "nothing listens", check: probe.Check{HTTP: "http://" + closedPort(t) + "/"}, consul: v1.CheckCritical, ctr: v1.CheckCritical,
			contains: "connection refused"},
		{name: "a bad URL", check: probe.Check{HTTP: "http://[::1"}, consul: v1.CheckCritical, ctr: v1.CheckCritical,
			contains: "missing ']'"},
		{name: "TLS verified by default", check: probe.Check{HTTP: secure.URL + "/200"}, consul: v1.CheckCritical, ctr: v1.CheckCritical,
			contains: "certificate"},
		{name: "TLS not verified when asked", check: probe.Check{HTTP: secure.URL + "/200", TLSSkipVerify: true}, consul: v1.CheckPassing, ctr: v1.CheckPassing,
			output: "HTTP GET " + secure.URL + "/200: 200 OK"},
	} {
		tc.check.Type = probe.TypeHTTP
		for _, r := range []struct {
			rules probe.Rules
			want  v1.CheckStatus
		}{{probe.Consul, tc.consul}, {probe.Container, tc.ctr}} {
			got := probe.New(nil, r.rules).Do(context.Background(), tc.check)
			if got.Status != r.want || !strings.HasPrefix(got.Output, tc.output) || !strings.Contains(got.Output, tc.contains) {
				t.Errorf("%s, rules %d: %s %q; want %s, output starting %q containing %q", tc.name, r.rules, got.Status, got.Output, r.want, tc.output, tc.contains)
			}
		}
		if strings.Contains(probe.New(nil, probe.Consul).Do(context.Background(), tc.check).Output, "s3cret") {
			t.Errorf("%s: the output shows the URL's password", tc.name)
		}
	}
}

func TestHTTPOutputIsCapped(t *testing.T) {
	t.Parallel()
	srv := answers(t, false)
	got := probe.New(nil, probe.Consul).Do(context.Background(), probe.Check{Type: probe.TypeHTTP, HTTP: srv.URL + "/big"})
	if got.Status != v1.CheckPassing || len(got.Output) != probe.MaxOutput || !strings.HasSuffix(got.Output, "xxx") {
		t.Errorf("a body of %d bytes: %s, output of %d bytes ending %q; want passing and %d bytes", 3*probe.MaxOutput, got.Status, len(got.Output), got.Output[max(0, len(got.Output)-10):], probe.MaxOutput)
	}
}

// An HTTP check that gets no answer ends with its context.
func TestHTTPEndsWithContext(t *testing.T) {
	t.Parallel()
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stuck) })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	got := probe.New(nil, probe.Consul).Do(ctx, probe.Check{Type: probe.TypeHTTP, HTTP: srv.URL})
	if got.Status != v1.CheckCritical || !strings.Contains(got.Output, "deadline exceeded") {
		t.Errorf("a server that does not answer: %s %q; want critical, deadline exceeded", got.Status, got.Output)
	}
}

func TestTCP(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed := closedPort(t)
	for _, rules := range []probe.Rules{probe.Consul, probe.Container} {
		p := probe.New(nil, rules)
		got := p.Do(context.Background(), probe.Check{Type: probe.TypeTCP, TCP: l.Addr().String()})
		if want := (probe.Result{Status: v1.CheckPassing, Output: "TCP connect " + l.Addr().String() + ": Success"}); got != want {
			t.Errorf("rules %d, a listener: %+v, want %+v", rules, got, want)
		}
		got = p.Do(context.Background(), probe.Check{Type: probe.TypeTCP, TCP: closed})
		if got.Status != v1.CheckCritical || got.Output != "TCP connect "+closed+": connect: connection refused" {
			t.Errorf("rules %d, nothing listening: %+v, want critical, connection refused", rules, got)
		}
	}
}

func TestUnknownType(t *testing.T) {
	t.Parallel()
	got := probe.New(nil, probe.Consul).Do(context.Background(), probe.Check{Type: "grpc"})
	if got.Status != v1.CheckCritical || got.Output != `unknown check type "grpc"` {
		t.Errorf("a grpc check: %+v", got)
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
