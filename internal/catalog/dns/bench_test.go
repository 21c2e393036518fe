package catalogdns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"

	"berth.dev/berth/internal/catalog"
)

// BenchmarkServeDNS is the handler alone (no sockets), packing included,
// for a service of 100 endpoints on 100 nodes, EDNS0 4096 over UDP.
func BenchmarkServeDNS(b *testing.B) {
	mem := catalog.NewMemory()
	bigService(mem, "web", 100)
	s := mustNew(b, mem, Config{})
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		b.Run(dns.TypeToString[qtype], func(b *testing.B) {
			req := new(dns.Msg)
			req.SetQuestion("web.service.berth.", qtype)
			req.SetEdns0(4096, false)
			w := &recorder{}
			b.ReportAllocs()
			for b.Loop() {
				s.ServeDNS(w, req)
			}
			if w.err != nil || len(w.msg.Answer) != 100 {
				b.Fatalf("%v, %d answers", w.err, len(w.msg.Answer))
			}
		})
	}
}

// BenchmarkAdmit is the rate limit's decision on a UDP query, at the
// controller's default rate: for a loopback client (let through without a
// bucket) and for another one whose bucket never empties.
func BenchmarkAdmit(b *testing.B) {
	s := mustNew(b, catalog.NewMemory(), Config{RateLimit: 100, RateBurst: 1000})
	s.limiter.limit = rate.Inf // the other client is never over its rate
	m, err := new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		addr net.Addr
	}{
		{"loopback", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}},
		{"other", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, act := s.admit(m, c.addr); act != limitAllow {
					b.Fatalf("%v: %v", c.addr, act)
				}
			}
		})
	}
}
