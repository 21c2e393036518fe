package catalogdns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"

	"berth.dev/berth/internal/catalog"
)

// BenchmarkServeDNS is the handler alone (no sockets), packing included,
// for a service of 100 endpoints on 100 nodes and one of 1 endpoint, EDNS0
// 4096 over UDP; "bare" replays berth's answer as hack/dnsbench's bare
// server does (a shallow copy with the query's id, packed), the floor
// under berth's figure.
func BenchmarkServeDNS(b *testing.B) {
	mem := catalog.NewMemory()
	bigService(mem, "web", 100)
	bigService(mem, "one", 1)
	s := mustNew(b, mem, Config{})
	for _, c := range []struct {
		name, qname string
		qtype       uint16
		answers     int
	}{
		{"A-1", "one.service.berth.", dns.TypeA, 1},
		{"A-100", "web.service.berth.", dns.TypeA, 100},
		{"SRV-100", "web.service.berth.", dns.TypeSRV, 100},
	} {
		req := new(dns.Msg)
		req.SetQuestion(c.qname, c.qtype)
		req.SetEdns0(4096, false)
		b.Run(c.name+"/berth", func(b *testing.B) {
			w := &recorder{}
			b.ReportAllocs()
			for b.Loop() {
				s.ServeDNS(w, req)
			}
			if w.err != nil || len(w.msg.Answer) != c.answers {
				b.Fatalf("%v, %d answers", w.err, len(w.msg.Answer))
			}
		})
		b.Run(c.name+"/bare", func(b *testing.B) {
			w := &recorder{}
			s.ServeDNS(w, req)
			fixed := w.msg
			b.ReportAllocs()
			for b.Loop() {
				m := *fixed
				m.Id = req.Id
				m.Compress = true
				w.WriteMsg(&m)
			}
			if w.err != nil || len(w.msg.Answer) != c.answers {
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
