package catalogdns

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// A cached answer follows the catalog: an endpoint added, failing its
// check, moved or removed shows in the next answer, and a node that
// goes down takes its SRV target's name with it.
func TestAnswersFollowTheCatalog(t *testing.T) {
	mem := catalog.NewMemory()
	mem.PutNode(catalog.Node{Name: "a", Address: "10.0.0.1", Up: true}, 0)
	mem.PutNode(catalog.Node{Name: "b", Address: "10.0.0.2", Up: true}, 0)
	mem.PutEndpoint(catalog.Endpoint{ID: "w1", Service: "web", Host: "a", Port: 80}, 0)
	_, addr := startServer(t, mem, Config{})

	ask := func(qtype uint16) *dns.Msg {
		t.Helper()
		// Twice: the second answer is the cached one.
		query(t, addr, "udp", "web.service.berth.", qtype, 0)
		return query(t, addr, "udp", "web.service.berth.", qtype, 0)
	}
	checkSection(t, "answer", ask(dns.TypeA).Answer, zone(t, "web.service.berth. 0 IN A 10.0.0.1"))

	mem.PutEndpoint(catalog.Endpoint{ID: "w2", Service: "web", Host: "b", Port: 81}, 0)
	checkSection(t, "answer after a registration", ask(dns.TypeA).Answer,
		zone(t, "web.service.berth. 0 IN A 10.0.0.1", "web.service.berth. 0 IN A 10.0.0.2"))
	checkSection(t, "SRV answer", ask(dns.TypeSRV).Answer, zone(t,
		"web.service.berth. 0 IN SRV 1 1 80 a.node.berth.", "web.service.berth. 0 IN SRV 1 1 81 b.node.berth."))

	mem.PutEndpoint(withStatus(catalog.Endpoint{ID: "w1", Service: "web", Host: "a", Port: 80}, v1.CheckCritical), 0)
	checkSection(t, "answer after a failing check", ask(dns.TypeA).Answer, zone(t, "web.service.berth. 0 IN A 10.0.0.2"))

	mem.PutNode(catalog.Node{Name: "b", Address: "10.0.0.2", Up: false}, 0)
	checkSection(t, "SRV answer of a node gone down", ask(dns.TypeSRV).Answer,
		zone(t, "web.service.berth. 0 IN SRV 1 1 81 0a000002.addr.berth."))

	mem.DeleteEndpoint("b", "web", "w2", 0)
	if r := ask(dns.TypeA); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
		t.Errorf("after the last endpoint left: %s, %d answers; want NXDOMAIN", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
}

// Cached or not, each response shuffles the endpoints: over repeated
// queries, more than one endpoint comes first.
func TestCachedAnswersAreShuffled(t *testing.T) {
	mem := catalog.NewMemory()
	bigService(mem, "web", 10)
	_, addr := startServer(t, mem, Config{})
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		first := map[string]bool{}
		for range 100 {
			r := query(t, addr, "udp", "web.service.berth.", qtype, 4096)
			if len(r.Answer) != 10 {
				t.Fatalf("%s: %d answers, want 10", dns.TypeToString[qtype], len(r.Answer))
			}
			first[r.Answer[0].String()] = true
		}
		// 100 queries all starting with the same record of 10 happen
		// once in 10^99 when shuffled.
		if len(first) < 2 {
			t.Errorf("%s: every answer started with %v", dns.TypeToString[qtype], first)
		}
	}
}

// Responses built from one cached answer at once, each cut to its own
// client's buffer, never share what they cut: each carries whole records
// that fit, TC set when answers were left out.
func TestCachedAnswerUnderConcurrentTruncation(t *testing.T) {
	mem := catalog.NewMemory()
	bigService(mem, "web", 100)
	s := mustNew(t, mem, Config{})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 200 {
				req := new(dns.Msg)
				qtype := []uint16{dns.TypeA, dns.TypeSRV}[i%2]
				req.SetQuestion("web.service.berth.", qtype)
				size := []uint16{0, 1232, 4096}[(c+i)%3]
				if size > 0 {
					req.SetEdns0(size, false)
				}
				w := &recorder{}
				s.ServeDNS(w, req)
				if w.err != nil {
					t.Errorf("write: %v", w.err)
					return
				}
				packed, err := w.msg.Pack()
				if err != nil {
					t.Errorf("pack: %v", err)
					return
				}
				limit := max(int(size), dns.MinMsgSize)
				if len(packed) > limit {
					t.Errorf("%s with a %d-byte buffer: %d bytes", dns.TypeToString[qtype], size, len(packed))
				}
				if full := len(w.msg.Answer) == 100; full == w.msg.Truncated {
					t.Errorf("%s with a %d-byte buffer: %d answers, TC %v", dns.TypeToString[qtype], size, len(w.msg.Answer), w.msg.Truncated)
				}
			}
		})
	}
	wg.Wait()
}

// The length a cached answer was measured at holds for any order of its
// records: compression saves the same bytes whatever comes first, with
// node, addr (IPv4 and IPv6) and host-name targets in other domains mixed,
// and the question in capitals.
func TestCachedLengthDoesNotDependOnOrder(t *testing.T) {
	mem := catalog.NewMemory()
	for i := range 40 {
		host := fmt.Sprintf("node-%d", i)
		mem.PutNode(catalog.Node{Name: host, Address: fmt.Sprintf("10.2.0.%d", i+1), Up: i%5 != 0}, 0)
		e := catalog.Endpoint{ID: fmt.Sprint(i), Service: "mixed", Host: host, Port: 9000 + i}
		switch i % 5 {
		case 1:
			e.Address = fmt.Sprintf("192.168.%d.%d", i, i)
		case 2:
			e.Address = fmt.Sprintf("db-%d.example.internal", i)
		case 3:
			e.Address = fmt.Sprintf("fd00::%x", i)
		case 4:
			e.Address = fmt.Sprintf("web-%d.other.test.", i)
		}
		mem.PutEndpoint(e, 0)
	}
	s := mustNew(t, mem, Config{})
	for _, owner := range []string{"mixed.service.berth.", "MiXed.Service.BERTH."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeANY} {
			a := s.lookup(owner, "mixed.service", qtype)
			if len(a.answer) == 0 || a.cached == nil {
				t.Fatalf("%s %s: no cached answer", owner, dns.TypeToString[qtype])
			}
			lengths := map[int]bool{}
			for range 200 {
				m := new(dns.Msg)
				m.SetQuestion(owner, qtype)
				a.cached.fill(m)
				m.SetEdns0(maxUDPSize, false)
				m.Compress = true
				b, err := m.Pack()
				if err != nil {
					t.Fatal(err)
				}
				lengths[len(b)] = true
			}
			if len(lengths) != 1 {
				t.Errorf("%s %s: packed lengths %v in different orders, want one", owner, dns.TypeToString[qtype], lengths)
			}
		}
	}
}

// The cache holds at most maxCachedAnswers answers however many names
// clients ask for, and only names that have answers.
func TestAnswerCacheIsBounded(t *testing.T) {
	mem := catalog.NewMemory()
	mem.PutNode(catalog.Node{Name: "a", Address: "10.0.0.1", Up: true}, 0)
	services := maxCachedAnswers + 100
	for i := range services {
		mem.PutEndpoint(catalog.Endpoint{ID: "e", Service: fmt.Sprintf("svc-%d", i), Host: "a", Port: 80}, 0)
	}
	s := mustNew(t, mem, Config{})
	cached := func() int {
		s.answers.mu.RLock()
		defer s.answers.mu.RUnlock()
		return len(s.answers.entries)
	}
	ask := func(name string) *dns.Msg {
		req := new(dns.Msg)
		req.SetQuestion(name, dns.TypeA)
		w := &recorder{}
		s.ServeDNS(w, req)
		return w.msg
	}
	for i := range services {
		if r := ask(fmt.Sprintf("svc-%d.service.berth.", i)); len(r.Answer) != 1 {
			t.Fatalf("svc-%d: %d answers, want 1", i, len(r.Answer))
		}
	}
	if n := cached(); n != maxCachedAnswers {
		t.Errorf("%d answers cached after %d services asked for, want %d", n, services, maxCachedAnswers)
	}
	for i := range 100 {
		if r := ask(fmt.Sprintf("nothing-%d.service.berth.", rand.Int())); r.Rcode != dns.RcodeNameError {
			t.Fatalf("query %d of an unknown service: %s", i, dns.RcodeToString[r.Rcode])
		}
	}
	if n := cached(); n != maxCachedAnswers {
		t.Errorf("%d answers cached after unknown names, want %d", n, maxCachedAnswers)
	}
}

// A buffer that holds every answer record but not every address of their
// targets gets the same cut each time, whether truncation measured it or
// it was remembered: all the SRV records, as many addresses as fit, no TC.
func TestRememberedCutMatchesTruncation(t *testing.T) {
	mem := catalog.NewMemory()
	bigService(mem, "web", 100)
	s := mustNew(t, mem, Config{})
	var extras []int
	for range 20 {
		req := new(dns.Msg)
		req.SetQuestion("web.service.berth.", dns.TypeSRV)
		req.SetEdns0(4096, false)
		w := &recorder{}
		s.ServeDNS(w, req)
		packed, err := w.msg.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if len(w.msg.Answer) != 100 || w.msg.Truncated || len(packed) > 4096 {
			t.Fatalf("%d answers, TC %v, %d bytes: want 100, no TC, at most 4096", len(w.msg.Answer), w.msg.Truncated, len(packed))
		}
		n := 0
		for _, rr := range w.msg.Extra {
			if rr.Header().Rrtype != dns.TypeOPT {
				n++
			}
		}
		if w.msg.IsEdns0() == nil {
			t.Fatal("the response lost its OPT record")
		}
		extras = append(extras, n)
	}
	for _, n := range extras {
		if n != extras[0] || n == 0 || n == 100 {
			t.Fatalf("additional records kept per response: %v; want one number, some but not all of 100", extras)
		}
	}
	e := s.answers.get(mem.Index(), answerKey{"web.service.berth.", dns.TypeSRV})
	if e == nil || e.cuts[0] != (cut{size: 4096, edns: true, extra: extras[0]}) {
		t.Errorf("the cut to 4096 bytes was not remembered: %+v", e)
	}
}
