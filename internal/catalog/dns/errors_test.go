package catalogdns

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"berth.dev/berth/internal/catalog"
)

// rawExchange sends b over UDP and returns the parsed answer.
func rawExchange(t *testing.T, addr string, b []byte) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	return r
}

func TestFormErr(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})

	two := new(dns.Msg)
	two.SetQuestion("web.service.berth.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "node1.node.berth.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	twoWire, err := two.Pack()
	if err != nil {
		t.Fatal(err)
	}
	none := new(dns.Msg)
	none.Id = 7
	noneWire, err := none.Pack()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		wire []byte
	}{
		{"garbage after a header asking one question", append([]byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0}, 0xff, 0xfe, 0x00)},
		{"a name pointing past the end", []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0, 1, 0, 1}},
		{"two questions", twoWire},
		{"no question", noneWire},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rawExchange(t, addr, tc.wire)
			if r.Rcode != dns.RcodeFormatError {
				t.Errorf("rcode %s, want FORMERR", dns.RcodeToString[r.Rcode])
			}
		})
	}

	// The handler alone, as a test or another server would call it.
	for _, q := range [][]dns.Question{nil, two.Question} {
		w := &recorder{}
		req := new(dns.Msg)
		req.Question = q
		(mustNew(t, fixture(), Config{})).ServeDNS(w, req)
		if w.msg == nil || w.msg.Rcode != dns.RcodeFormatError {
			t.Errorf("%d questions: %v, want FORMERR", len(q), w.msg)
		}
	}
}

func TestNotImplemented(t *testing.T) {
	t.Parallel()
	s := mustNew(t, fixture(), Config{})
	req := new(dns.Msg)
	req.SetNotify("berth.")
	w := &recorder{}
	s.ServeDNS(w, req)
	if w.msg.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: rcode %s, want NOTIMP", dns.RcodeToString[w.msg.Rcode])
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	first, addr := startServer(t, fixture(), Config{})
	if err := first.Start(context.Background()); err == nil {
		t.Error("a second Start returned no error")
	}
	s := mustNew(t, fixture(), Config{Listen: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), addr) {
		t.Errorf("Start on a taken port: %v, want an error naming %s and saying it is in use", err, addr)
	}
	if ctx.Err() != nil {
		t.Error("Start waited for its context instead of failing fast")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil): no error")
	}
	if _, err := New(catalog.NewMemory(), Config{Domain: "."}); err == nil {
		t.Error("root domain: no error")
	}
	if _, err := New(catalog.NewMemory(), Config{Domain: "bad..domain"}); err == nil {
		t.Error("bad..domain: no error")
	}
	s := mustNew(t, catalog.NewMemory(), Config{Domain: "Consul"})
	if s.domain != "consul." {
		t.Errorf("domain %q, want consul.", s.domain)
	}
	if u, tc := s.Addr(); u != nil || tc != nil {
		t.Errorf("Addr before Start: %v %v, want nils", u, tc)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	_, addr := startServer(t, fixture(), Config{Metrics: reg})
	query(t, addr, "udp", "web.service.berth.", dns.TypeA, 0)
	query(t, addr, "tcp", "web.service.berth.", dns.TypeSRV, 0)
	query(t, addr, "udp", "nothere.service.berth.", dns.TypeA, 0)
	query(t, addr, "udp", "example.com.", dns.TypeTLSA, 0)

	queries := gather(t, reg, "berth_dns_queries_total")
	for _, c := range []struct {
		labels string
		n      float64
	}{
		{"qtype=A,rcode=NOERROR", 1}, {"qtype=SRV,rcode=NOERROR", 1}, {"qtype=A,rcode=NXDOMAIN", 1},
		{"qtype=other,rcode=REFUSED", 1}, {"qtype=AAAA,rcode=NOERROR", 0},
	} {
		if got, ok := queries[c.labels]; !ok || got != c.n {
			t.Errorf("berth_dns_queries_total{%s} = %v (present: %v), want %v", c.labels, got, ok, c.n)
		}
	}
	durations := gather(t, reg, "berth_dns_request_duration_seconds")
	if durations["proto=udp"] != 3 || durations["proto=tcp"] != 1 || len(durations) != 2 {
		t.Errorf("berth_dns_request_duration_seconds counts %v, want udp 3 and tcp 1", durations)
	}
	if limited := gather(t, reg, "berth_dns_rate_limited_total"); len(limited) != 2 || limited["action=drop"] != 0 || limited["action=truncate"] != 0 {
		t.Errorf("berth_dns_rate_limited_total %v, want drop and truncate at 0", limited)
	}
	// A second server on the registry (as the one for containers beside
	// the one on loopback) counts with the first.
	_, second := startServer(t, fixture(), Config{Metrics: reg})
	query(t, second, "udp", "web.service.berth.", dns.TypeA, 0)
	if got := gather(t, reg, "berth_dns_queries_total")["qtype=A,rcode=NOERROR"]; got != 2 {
		t.Errorf("berth_dns_queries_total{qtype=A,rcode=NOERROR} = %v after a query to each server, want 2", got)
	}
	// A registry where the name means something else refuses.
	other := prometheus.NewRegistry()
	other.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_dns_queries_total", Help: "another"}))
	if _, err := New(fixture(), Config{Metrics: other}); err == nil {
		t.Error("registering on a registry with another berth_dns_queries_total: no error")
	}
}

// gather returns the series of a metric family as "k=v,k=v" -> value
// (the sample count for histograms).
func gather(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

func mustNew(t testing.TB, r catalog.Reader, cfg Config) *Server {
	t.Helper()
	s, err := New(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
