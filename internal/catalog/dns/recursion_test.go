package catalogdns

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// exchange sends m to addr over netw ("udp" or "tcp") and returns the
// answer, which must carry m's id.
func exchange(t *testing.T, addr, netw string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %v: %v", netw, m.Question, err)
	}
	if r.Id != m.Id {
		t.Fatalf("%s %v: id %d, want %d", netw, m.Question, r.Id, m.Id)
	}
	return r
}

// countingRecursor is exampleRecursor that counts the queries it gets.
func countingRecursor(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	addr := startRecursor(t, func(w dns.ResponseWriter, req *dns.Msg) {
		n.Add(1)
		exampleRecursor(w, req)
	})
	return addr, &n
}

func TestWithoutRecursorsOutsideNamesAreRefusedWhateverRD(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	for _, netw := range []string{"udp", "tcp"} {
		for _, rd := range []bool{true, false} {
			for _, name := range []string{"example.com.", "berth.example.", "com.", "."} {
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				m.RecursionDesired = rd
				r := exchange(t, addr, netw, m)
				if r.Rcode != dns.RcodeRefused {
					t.Errorf("%s RD=%v %s: rcode %s, want REFUSED", netw, rd, name, dns.RcodeToString[r.Rcode])
				}
				if r.RecursionAvailable || len(r.Answer)+len(r.Ns) > 0 {
					t.Errorf("%s RD=%v %s: RA=%v with %d answers and %d authority records: want no RA and no records",
						netw, rd, name, r.RecursionAvailable, len(r.Answer), len(r.Ns))
				}
			}
		}
	}
	// Its own names are answered, saying no recursion is available.
	r := query(t, addr, "udp", "web.service.berth.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 || r.RecursionAvailable || !r.Authoritative {
		t.Errorf("web.service.berth.: %s with %d answers, RA=%v, AA=%v: want NOERROR with 2, AA and no RA",
			dns.RcodeToString[r.Rcode], len(r.Answer), r.RecursionAvailable, r.Authoritative)
	}
}

func TestRecursorsGetOnlyOutsideNames(t *testing.T) {
	t.Parallel()
	rec, forwarded := countingRecursor(t)
	_, addr := startServer(t, fixture(), Config{Recursors: []string{rec}})

	for _, netw := range []string{"udp", "tcp"} {
		for _, q := range []struct {
			name  string
			qtype uint16
			rcode int
		}{
			{"web.service.berth.", dns.TypeA, dns.RcodeSuccess},
			{"nothere.service.berth.", dns.TypeA, dns.RcodeNameError},
			{"berth.", dns.TypeSOA, dns.RcodeSuccess},
			{"Unknown.Kind.BERTH.", dns.TypeTXT, dns.RcodeNameError},
		} {
			if r := query(t, addr, netw, q.name, q.qtype, 0); r.Rcode != q.rcode || !r.Authoritative {
				t.Errorf("%s %s: %s AA=%v, want %s from the catalog", netw, q.name, dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[q.rcode])
			}
		}
	}
	if n := forwarded.Load(); n != 0 {
		t.Fatalf("the recursor got %d queries for names in the domain, want none", n)
	}

	r := query(t, addr, "udp", "example.com.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.RecursionAvailable {
		t.Errorf("example.com.: %s with %d answers, RA=%v: want the recursor's answer with RA", dns.RcodeToString[r.Rcode], len(r.Answer), r.RecursionAvailable)
	}
	if n := forwarded.Load(); n != 1 {
		t.Errorf("the recursor got %d queries, want the 1 for example.com.", n)
	}
}

func TestZoneTransfersAreRefused(t *testing.T) {
	t.Parallel()
	rec, forwarded := countingRecursor(t)
	for _, cfg := range []Config{{}, {Recursors: []string{rec}}} {
		_, addr := startServer(t, fixture(), cfg)
		for _, name := range []string{"berth.", "web.service.berth.", "example.com."} {
			axfr := new(dns.Msg)
			axfr.SetAxfr(name)
			ixfr := new(dns.Msg)
			ixfr.SetIxfr(name, 1, "ns."+name, "hostmaster."+name)
			for _, tc := range []struct {
				netw string
				m    *dns.Msg
			}{{"tcp", axfr}, {"udp", axfr}, {"tcp", ixfr}, {"udp", ixfr}} {
				r := exchange(t, addr, tc.netw, tc.m)
				if r.Rcode != dns.RcodeRefused || len(r.Answer) > 0 {
					t.Errorf("%d recursors: %s %s %s: %s with %d records, want REFUSED and none", len(cfg.Recursors), tc.netw,
						dns.TypeToString[tc.m.Question[0].Qtype], name, dns.RcodeToString[r.Rcode], len(r.Answer))
				}
			}
		}
	}
	if n := forwarded.Load(); n != 0 {
		t.Errorf("the recursor got %d zone transfers, want none", n)
	}

	// As a secondary server would ask, with dns.Transfer.
	_, addr := startServer(t, fixture(), Config{})
	m := new(dns.Msg)
	m.SetAxfr("berth.")
	ch, err := (&dns.Transfer{}).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	errs := 0
	for env := range ch {
		if env.Error != nil {
			errs++
		}
		if env.Error == nil {
			for _, rr := range env.RR {
				got = append(got, rr.String())
			}
		} else if !strings.HasSuffix(env.Error.Error(), fmt.Sprintf("rcode: %d", dns.RcodeRefused)) {
			t.Errorf("transfer error %q, want rcode %d (REFUSED)", env.Error, dns.RcodeRefused)
		}
	}
	if len(got) > 0 || errs != 1 {
		t.Errorf("the transfer received %d records (%q) and %d errors, want none and one", len(got), got, errs)
	}
}

func TestANYOverUDPIsTruncated(t *testing.T) {
	t.Parallel()
	rec, forwarded := countingRecursor(t)
	_, addr := startServer(t, fixture(), Config{Recursors: []string{rec}})
	for _, name := range []string{"node1.node.berth.", "web.service.berth.", "berth.", "example.com."} {
		for _, edns := range []uint16{0, 4096} {
			r := query(t, addr, "udp", name, dns.TypeANY, edns)
			if r.Rcode != dns.RcodeSuccess || !r.Truncated || len(r.Answer)+len(r.Ns) > 0 {
				t.Errorf("ANY %s over UDP (EDNS0 %d): %s, TC=%v, %d records: want NOERROR, TC and no record", name, edns,
					dns.RcodeToString[r.Rcode], r.Truncated, len(r.Answer)+len(r.Ns))
			}
			if edns > 0 && r.IsEdns0() == nil {
				t.Errorf("ANY %s over UDP with EDNS0: no OPT record in the answer", name)
			}
		}
	}
	if n := forwarded.Load(); n != 0 {
		t.Errorf("the recursor got %d ANY queries over UDP, want none", n)
	}

	// Over TCP, where the client proved its address, ANY is answered.
	r := query(t, addr, "tcp", "node1.node.berth.", dns.TypeANY, 0)
	if r.Truncated || len(r.Answer) != 3 {
		t.Errorf("ANY node1.node.berth. over TCP: TC=%v with %d answers, want its A and 2 TXT", r.Truncated, len(r.Answer))
	}
	if r := query(t, addr, "tcp", "example.com.", dns.TypeANY, 0); len(r.Answer) != 1 || forwarded.Load() != 1 {
		t.Errorf("ANY example.com. over TCP: %d answers after %d forwarded, want the recursor's one answer", len(r.Answer), forwarded.Load())
	}

	// dig retries over TCP by itself.
	dig := lookDig(t)
	got := digShort(t, dig, addr, "node1.node.berth", "ANY")
	if want := []string{`"rack=r1"`, `"zone=eu-west"`, "10.0.0.1"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dig ANY node1.node.berth: %q, want %q", got, want)
	}
}

var digHeader = regexp.MustCompile(`status: ([A-Z]+),.*\n;; flags: ([a-z ]*);`)

func TestDigOutsideTheDomainIsRefused(t *testing.T) {
	t.Parallel()
	dig := lookDig(t)
	_, addr := startServer(t, fixture(), Config{})
	for _, args := range [][]string{
		{"+recurse", "example.com", "A"},
		{"+norecurse", "example.com", "A"},
		{"+recurse", "+tcp", "example.com", "MX"},
		{"+norecurse", "+tcp", "com", "NS"},
	} {
		out := runDig(t, dig, addr, args...)
		m := digHeader.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("dig %v: no header in its output:\n%s", args, out)
		}
		if m[1] != "REFUSED" {
			t.Errorf("dig %v: status %s, want REFUSED", args, m[1])
		}
		if flags := strings.Fields(m[2]); containsString(flags, "ra") || containsString(flags, "aa") {
			t.Errorf("dig %v: flags %q, want neither ra nor aa", args, flags)
		}
	}
	out := runDig(t, dig, addr, "+norecurse", "web.service.berth", "A")
	if m := digHeader.FindStringSubmatch(out); m == nil || m[1] != "NOERROR" || containsString(strings.Fields(m[2]), "ra") {
		t.Errorf("dig +norecurse web.service.berth: want NOERROR without ra:\n%s", out)
	}
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
