package catalogdns

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// fixture is the catalog most tests answer from.
func fixture() *catalog.Memory {
	m := catalog.NewMemory()
	m.PutNode(catalog.Node{Name: "node1", Address: "10.0.0.1", Up: true, Meta: map[string]string{"rack": "r1", "zone": "eu-west"}}, 0)
	m.PutNode(catalog.Node{Name: "node2", Address: "10.0.0.2", Up: true}, 0)
	m.PutNode(catalog.Node{Name: "node3", Address: "10.0.0.3", Up: false}, 0)
	m.PutNode(catalog.Node{Name: "node6", Address: "fd00::6", Up: true}, 0)

	ep := func(id, svc, host, addr string, port int, tags ...string) catalog.Endpoint {
		return catalog.Endpoint{ID: id, Service: svc, Host: host, Address: addr, Port: port, Tags: tags, Source: catalog.SourceContainer}
	}
	web1 := ep("node1:web-a:8080", "web", "node1", "10.0.0.1", 8080, "primary", "v1")
	web1.Weights = catalog.Weights{Passing: 10, Warning: 1}
	web3 := withStatus(ep("node1:web-c:8082", "web", "node1", "10.0.0.1", 8082, "v2"), v1.CheckWarning)
	web3.Weights = catalog.Weights{Passing: 5, Warning: 2}
	strictWarn := withStatus(ep("node2:strict-b:9001", "strict", "node2", "10.0.0.2", 9001), v1.CheckWarning)
	strictWarn.OnlyPassing = true
	cached := ep("node2:cached:7000", "cached", "node2", "10.0.0.2", 7000)
	cached.DNSTTL = 30 * time.Second

	for _, e := range []catalog.Endpoint{
		passing(web1),
		passing(ep("node2:web-b:8081", "web", "node2", "10.0.0.2", 8081, "v1")),
		web3,
		withStatus(ep("node2:web-d:8083", "web", "node2", "10.0.0.9", 8083, "v1"), v1.CheckCritical),
		passing(ep("node1:strict-a:9000", "strict", "node1", "10.0.0.1", 9000)),
		strictWarn,
		withStatus(ep("node1:dead:1", "dead", "node1", "10.0.0.1", 1), v1.CheckCritical),
		withStatus(ep("node2:dead:2", "dead", "node2", "10.0.0.2", 2), v1.CheckCritical),
		passing(ep("node6:v6:80", "v6", "node6", "fd00::6", 80)),
		passing(ep("static-1", "static", "node1", "192.168.1.9", 5432)),
		passing(ep("ghost:x:53", "ghost", "ghost", "10.9.9.9", 53)),
		passing(ep("node3:down:80", "down", "node3", "10.0.0.3", 80)),
		passing(ep("node1:noaddr:81", "noaddr", "node1", "", 81)),
		cached,
	} {
		m.PutEndpoint(e, 0)
	}
	return m
}

func TestLookups(t *testing.T) {
	t.Parallel()
	mem := fixture()
	_, addr := startServer(t, mem, Config{NodeTTL: 5 * time.Second})
	soa := fmt.Sprintf("berth. 0 IN SOA ns.berth. hostmaster.berth. %d 3600 600 86400 0", mem.Index())

	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		ns     []string
		extra  []string
	}{
		{name: "A: one record per address, critical excluded, warning included",
			qname: "web.service.berth.", qtype: dns.TypeA,
			answer: []string{"web.service.berth. 0 IN A 10.0.0.1", "web.service.berth. 0 IN A 10.0.0.2"}},
		{name: "case-insensitive",
			qname: "WEB.Service.BERTH.", qtype: dns.TypeA,
			answer: []string{"web.service.berth. 0 IN A 10.0.0.1", "web.service.berth. 0 IN A 10.0.0.2"}},
		{name: "SRV with weights and the nodes' A in additional",
			qname: "web.service.berth.", qtype: dns.TypeSRV,
			answer: []string{
				"web.service.berth. 0 IN SRV 1 10 8080 node1.node.berth.",
				"web.service.berth. 0 IN SRV 1 1 8081 node2.node.berth.",
				"web.service.berth. 0 IN SRV 1 2 8082 node1.node.berth.", // warning: Weights.Warning
			},
			extra: []string{"node1.node.berth. 0 IN A 10.0.0.1", "node2.node.berth. 0 IN A 10.0.0.2"}},
		{name: "tag",
			qname: "primary.web.service.berth.", qtype: dns.TypeSRV,
			answer: []string{"primary.web.service.berth. 0 IN SRV 1 10 8080 node1.node.berth."},
			extra:  []string{"node1.node.berth. 0 IN A 10.0.0.1"}},
		{name: "tag, case-insensitive, A",
			qname: "V1.web.service.berth.", qtype: dns.TypeA,
			answer: []string{"v1.web.service.berth. 0 IN A 10.0.0.1", "v1.web.service.berth. 0 IN A 10.0.0.2"}},
		{name: "tag nobody carries",
			qname: "nope.web.service.berth.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "RFC 2782 with a tag",
			qname: "_web._v2.service.berth.", qtype: dns.TypeSRV,
			answer: []string{"_web._v2.service.berth. 0 IN SRV 1 2 8082 node1.node.berth."},
			extra:  []string{"node1.node.berth. 0 IN A 10.0.0.1"}},
		{name: "RFC 2782 _tcp: no tag filter",
			qname: "_web._tcp.service.berth.", qtype: dns.TypeSRV,
			answer: []string{
				"_web._tcp.service.berth. 0 IN SRV 1 10 8080 node1.node.berth.",
				"_web._tcp.service.berth. 0 IN SRV 1 1 8081 node2.node.berth.",
				"_web._tcp.service.berth. 0 IN SRV 1 2 8082 node1.node.berth.",
			},
			extra: []string{"node1.node.berth. 0 IN A 10.0.0.1", "node2.node.berth. 0 IN A 10.0.0.2"}},
		{name: "RFC 2782 _udp, A",
			qname: "_web._udp.service.berth.", qtype: dns.TypeA,
			answer: []string{"_web._udp.service.berth. 0 IN A 10.0.0.1", "_web._udp.service.berth. 0 IN A 10.0.0.2"}},
		{name: "RFC 2782 without .service",
			qname: "_web._primary.berth.", qtype: dns.TypeSRV,
			answer: []string{"_web._primary.berth. 0 IN SRV 1 10 8080 node1.node.berth."},
			extra:  []string{"node1.node.berth. 0 IN A 10.0.0.1"}},
		{name: "all critical: NXDOMAIN",
			qname: "dead.service.berth.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "unknown service: NXDOMAIN",
			qname: "nothere.service.berth.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "warning left out when only passing",
			qname: "strict.service.berth.", qtype: dns.TypeSRV,
			answer: []string{"strict.service.berth. 0 IN SRV 1 1 9000 node1.node.berth."},
			extra:  []string{"node1.node.berth. 0 IN A 10.0.0.1"}},
		{name: "AAAA of an IPv6 endpoint",
			qname: "v6.service.berth.", qtype: dns.TypeAAAA,
			answer: []string{"v6.service.berth. 0 IN AAAA fd00::6"}},
		{name: "A of an IPv6-only service: no data",
			qname: "v6.service.berth.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "AAAA of an IPv4 service: no data",
			qname: "web.service.berth.", qtype: dns.TypeAAAA, ns: []string{soa}},
		{name: "TXT of a service: no data",
			qname: "web.service.berth.", qtype: dns.TypeTXT, ns: []string{soa}},
		{name: "SRV of IPv6 on its node",
			qname: "v6.service.berth.", qtype: dns.TypeSRV,
			answer: []string{"v6.service.berth. 0 IN SRV 1 1 80 node6.node.berth."},
			extra:  []string{"node6.node.berth. 0 IN AAAA fd00::6"}},
		{name: "SRV of an endpoint away from its node's address: addr target",
			qname: "static.service.berth.", qtype: dns.TypeSRV,
			answer: []string{"static.service.berth. 0 IN SRV 1 1 5432 c0a80109.addr.berth."},
			extra:  []string{"c0a80109.addr.berth. 0 IN A 192.168.1.9"}},
		{name: "SRV of an endpoint on an unknown node: addr target",
			qname: "ghost.service.berth.", qtype: dns.TypeSRV,
			answer: []string{"ghost.service.berth. 0 IN SRV 1 1 53 0a090909.addr.berth."},
			extra:  []string{"0a090909.addr.berth. 0 IN A 10.9.9.9"}},
		{name: "SRV of an endpoint on a Down node: addr target",
			qname: "down.service.berth.", qtype: dns.TypeSRV,
			answer: []string{"down.service.berth. 0 IN SRV 1 1 80 0a000003.addr.berth."},
			extra:  []string{"0a000003.addr.berth. 0 IN A 10.0.0.3"}},
		{name: "endpoint without an address: its node's",
			qname: "noaddr.service.berth.", qtype: dns.TypeA,
			answer: []string{"noaddr.service.berth. 0 IN A 10.0.0.1"}},
		{name: "addr name",
			qname: "0a090909.addr.berth.", qtype: dns.TypeA,
			answer: []string{"0a090909.addr.berth. 0 IN A 10.9.9.9"}},
		{name: "addr name, IPv6",
			qname: "fd000000000000000000000000000006.addr.berth.", qtype: dns.TypeAAAA,
			answer: []string{"fd000000000000000000000000000006.addr.berth. 0 IN AAAA fd00::6"}},
		{name: "addr name, not hex",
			qname: "zz.addr.berth.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "TTL of the service",
			qname: "cached.service.berth.", qtype: dns.TypeA,
			answer: []string{"cached.service.berth. 30 IN A 10.0.0.2"}},
		{name: "node A with the node TTL",
			qname: "node1.node.berth.", qtype: dns.TypeA,
			answer: []string{"node1.node.berth. 5 IN A 10.0.0.1"}},
		{name: "node TXT of its meta",
			qname: "node1.node.berth.", qtype: dns.TypeTXT,
			answer: []string{`node1.node.berth. 5 IN TXT "rack=r1"`, `node1.node.berth. 5 IN TXT "zone=eu-west"`}},
		{name: "node ANY",
			qname: "Node1.NODE.berth.", qtype: dns.TypeANY,
			answer: []string{"node1.node.berth. 5 IN A 10.0.0.1", `node1.node.berth. 5 IN TXT "rack=r1"`, `node1.node.berth. 5 IN TXT "zone=eu-west"`}},
		{name: "node without meta, TXT: no data",
			qname: "node2.node.berth.", qtype: dns.TypeTXT, ns: []string{soa}},
		{name: "node AAAA",
			qname: "node6.node.berth.", qtype: dns.TypeAAAA,
			answer: []string{"node6.node.berth. 5 IN AAAA fd00::6"}},
		{name: "Down node: NXDOMAIN",
			qname: "node3.node.berth.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "unknown node: NXDOMAIN",
			qname: "nobody.node.berth.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "SOA of the domain",
			qname: "berth.", qtype: dns.TypeSOA, answer: []string{soa}},
		{name: "NS of the domain",
			qname: "BERTH.", qtype: dns.TypeNS, answer: []string{"berth. 0 IN NS ns.berth."}},
		{name: "A of the domain: no data",
			qname: "berth.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "service.<domain> is an empty non-terminal",
			qname: "service.berth.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "unknown kind of name: NXDOMAIN",
			qname: "web.nothing.berth.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "too many labels: NXDOMAIN",
			qname: "a.b.web.service.berth.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
	}
	for _, tc := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			if tc.qtype == dns.TypeANY && netw == "udp" {
				continue // truncated, to be asked again over TCP: TestANYOverUDPIsTruncated
			}
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				r := query(t, addr, netw, tc.qname, tc.qtype, 0)
				if r.Rcode != tc.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if !r.Authoritative {
					t.Error("AA not set")
				}
				if r.RecursionAvailable {
					t.Error("RA set without recursors")
				}
				if r.Truncated {
					t.Error("TC set")
				}
				checkSection(t, "answer", r.Answer, zone(t, tc.answer...))
				checkSection(t, "authority", r.Ns, zone(t, tc.ns...))
				checkSection(t, "additional", r.Extra, zone(t, tc.extra...))
			})
		}
	}
}

func TestOwnerKeepsTheQuestionsCase(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	r := query(t, addr, "udp", "Web.Service.Berth.", dns.TypeA, 0)
	for _, rr := range r.Answer {
		if rr.Header().Name != "Web.Service.Berth." {
			t.Errorf("owner %q, want the question's %q", rr.Header().Name, "Web.Service.Berth.")
		}
	}
}

func TestShuffle(t *testing.T) {
	t.Parallel()
	mem := catalog.NewMemory()
	bigService(mem, "big", 20)
	_, addr := startServer(t, mem, Config{})
	first := map[string]bool{}
	for range 30 {
		r := query(t, addr, "udp", "big.service.berth.", dns.TypeA, 0)
		if len(r.Answer) != 20 {
			t.Fatalf("%d answers, want 20", len(r.Answer))
		}
		first[r.Answer[0].(*dns.A).A.String()] = true
	}
	// 30 draws among 20 addresses: a single first address would be a 1 in 20^29 event.
	if len(first) < 2 {
		t.Errorf("the first answer was %v in all 30 queries: not shuffled", first)
	}
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	mem := catalog.NewMemory()
	bigService(mem, "big", 200)
	_, addr := startServer(t, mem, Config{})

	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		t.Run(dns.TypeToString[qtype], func(t *testing.T) {
			t.Parallel()
			// UDP without EDNS0: 512 bytes, TC set, a part of the answer.
			r := query(t, addr, "udp", "big.service.berth.", qtype, 0)
			if !r.Truncated {
				t.Error("TC not set over UDP")
			}
			if n := wireLen(r); n > dns.MinMsgSize {
				t.Errorf("UDP answer of %d bytes, more than 512", n)
			}
			if len(r.Answer) == 0 || len(r.Answer) >= 200 {
				t.Errorf("%d answers over UDP, want some but not all 200", len(r.Answer))
			}
			checkExtraMatchesTargets(t, r)
			small := len(r.Answer)

			// A bigger EDNS0 buffer: more fits, and the OPT record is echoed.
			r = query(t, addr, "udp", "big.service.berth.", qtype, 1232)
			if wireLen(r) > 1232 {
				t.Errorf("UDP answer of %d bytes, more than the 1232 asked", wireLen(r))
			}
			if len(r.Answer) <= small {
				t.Errorf("%d answers with a 1232-byte buffer, no more than the %d of 512 bytes", len(r.Answer), small)
			}
			opt := r.IsEdns0()
			if opt == nil {
				t.Fatal("no OPT record in the answer to an EDNS0 query")
			}
			if opt.UDPSize() != maxUDPSize {
				t.Errorf("OPT UDP size %d, want %d", opt.UDPSize(), maxUDPSize)
			}
			checkExtraMatchesTargets(t, r)

			// TCP: the whole answer.
			r = query(t, addr, "tcp", "big.service.berth.", qtype, 0)
			if r.Truncated {
				t.Error("TC set over TCP")
			}
			if len(r.Answer) != 200 {
				t.Errorf("%d answers over TCP, want 200", len(r.Answer))
			}
			if qtype == dns.TypeSRV && len(r.Extra) != 200 {
				t.Errorf("%d additional records over TCP, want 200", len(r.Extra))
			}
		})
	}

	t.Run("4096-byte buffer fits 200 A records", func(t *testing.T) {
		t.Parallel()
		r := query(t, addr, "udp", "big.service.berth.", dns.TypeA, 4096)
		if r.Truncated || len(r.Answer) != 200 {
			t.Errorf("TC=%v with %d answers, want the 200 whole", r.Truncated, len(r.Answer))
		}
	})
	t.Run("additional records left out do not set TC", func(t *testing.T) {
		t.Parallel()
		mem := catalog.NewMemory()
		bigService(mem, "hundred", 100)
		_, addr := startServer(t, mem, Config{})
		// 100 SRV records fit in 4096 bytes, their 100 addresses do not all.
		r := query(t, addr, "udp", "hundred.service.berth.", dns.TypeSRV, 4096)
		if r.Truncated || len(r.Answer) != 100 {
			t.Errorf("TC=%v with %d answers, want all 100 without TC", r.Truncated, len(r.Answer))
		}
		if n := len(r.Extra) - 1; n <= 0 || n >= 100 {
			t.Errorf("%d additional addresses, want some but not all 100", n)
		}
		checkExtraMatchesTargets(t, r)
	})
	t.Run("a buffer above 4096 is capped", func(t *testing.T) {
		t.Parallel()
		r := query(t, addr, "udp", "big.service.berth.", dns.TypeSRV, 65000)
		if !r.Truncated || wireLen(r) > maxUDPSize {
			t.Errorf("TC=%v with %d bytes, want TC and at most %d bytes", r.Truncated, wireLen(r), maxUDPSize)
		}
	})
}

// checkExtraMatchesTargets checks that a truncated SRV answer carries the
// addresses of its own targets only.
func checkExtraMatchesTargets(t *testing.T, r *dns.Msg) {
	t.Helper()
	targets := map[string]bool{}
	for _, rr := range r.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			targets[srv.Target] = true
		}
	}
	if len(targets) == 0 {
		return
	}
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != dns.TypeOPT && !targets[rr.Header().Name] {
			t.Errorf("additional %s is no target of the answer", rr)
		}
	}
}

func TestOutsideTheDomainRefused(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	for _, netw := range []string{"udp", "tcp"} {
		r := query(t, addr, netw, "example.com.", dns.TypeA, 0)
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("%s: rcode %s, want REFUSED", netw, dns.RcodeToString[r.Rcode])
		}
		if r.RecursionAvailable || len(r.Answer) > 0 {
			t.Errorf("%s: RA=%v, %d answers: want neither", netw, r.RecursionAvailable, len(r.Answer))
		}
	}
}

func TestOtherDomain(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{Domain: "Consul"})
	r := query(t, addr, "udp", "web.service.consul.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
		t.Errorf("web.service.consul.: %s with %d answers, want NOERROR with 2", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	if r := query(t, addr, "udp", "web.service.berth.", dns.TypeA, 0); r.Rcode != dns.RcodeRefused {
		t.Errorf("web.service.berth. under consul.: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

func TestEDNSVersion(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	m := new(dns.Msg)
	m.SetQuestion("web.service.berth.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	r, err := dns.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil {
		t.Errorf("rcode %s, OPT %v: want BADVERS with an OPT record", dns.RcodeToString[r.Rcode], r.IsEdns0())
	}
}

// wireLen is the size of r packed with compression, as the server sent it.
func wireLen(r *dns.Msg) int {
	c := r.Copy()
	c.Compress = true
	return c.Len()
}
