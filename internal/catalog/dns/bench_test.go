package catalogdns

import (
	"testing"

	"github.com/miekg/dns"

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
