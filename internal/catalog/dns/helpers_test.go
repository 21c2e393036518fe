package catalogdns

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// startServer runs a Server for r on a free loopback port until the test
// ends, and returns it with its address (the same port for UDP and TCP).
func startServer(t *testing.T, r catalog.Reader, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("the server did not start within 10s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v after its context ended", err)
		}
	})
	udp, tcp := s.Addr()
	if udp.String() != tcp.String() {
		t.Fatalf("Addr: udp %s, tcp %s: want one address", udp, tcp)
	}
	return s, udp.String()
}

// query asks addr over netw ("udp" or "tcp") for name and qtype, with an
// EDNS0 buffer of edns bytes when edns > 0.
func query(t *testing.T, addr, netw, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", netw, name, dns.TypeToString[qtype], err)
	}
	if r.Id != m.Id {
		t.Fatalf("%s %s: id %d, want %d", name, dns.TypeToString[qtype], r.Id, m.Id)
	}
	return r
}

// zone parses records written as zone text, one per line.
func zone(t *testing.T, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("zone text %q: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

// canon is a section as sorted zone text lines with lower-cased owners,
// OPT records left out: the order of answers is random by design.
func canon(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		rr = dns.Copy(rr)
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	slices.Sort(out)
	return out
}

func checkSection(t *testing.T, section string, got, want []dns.RR) {
	t.Helper()
	g, w := canon(got), canon(want)
	if !slices.Equal(g, w) {
		t.Errorf("%s section:\ngot:\n  %s\nwant:\n  %s", section, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

func passing(e catalog.Endpoint) catalog.Endpoint { return e }

func withStatus(e catalog.Endpoint, st v1.CheckStatus) catalog.Endpoint {
	e.Checks = append(e.Checks, catalog.Check{ID: "c-" + e.ID, Name: "check", Type: catalog.CheckTTL, Status: st})
	return e
}

// freeUDPPort returns a loopback address where nothing listens on UDP.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// bigService puts n endpoints of service name, each on its own node
// host-<i> at 10.1.<i/250>.<i%250+1>.
func bigService(m *catalog.Memory, name string, n int) {
	for i := range n {
		host := fmt.Sprintf("host-%03d", i)
		addr := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		m.PutNode(catalog.Node{Name: host, Address: addr, Up: true}, 0)
		m.PutEndpoint(catalog.Endpoint{ID: host + ":big:80", Service: name, Host: host, Address: addr,
			Port: 8000 + i, Source: catalog.SourceStatic}, 0)
	}
}
