package catalogdns

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"berth.dev/berth/internal/catalog"
)

// startRecursor runs a miekg/dns server on loopback (UDP and TCP on one
// port) that answers every query with handler, until the test ends.
func startRecursor(t *testing.T, handler dns.HandlerFunc) string {
	t.Helper()
	pc, ln, err := listen("127.0.0.1:0") // another port when TCP's is taken
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		go func() { done <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("recursor: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.ShutdownContext(ctx)
			<-done
		})
	}
	return pc.LocalAddr().String()
}

// exampleRecursor knows example.com. and nothing else.
func exampleRecursor(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if req.Question[0].Name == "example.com." {
		rr, _ := dns.NewRR("example.com. 60 IN A 192.0.2.1")
		m.Answer = append(m.Answer, rr)
	} else {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

func rcodeRecursor(rcode int) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		w.WriteMsg(m)
	}
}

func TestForwarding(t *testing.T) {
	t.Parallel()
	good := startRecursor(t, exampleRecursor)
	servfail := startRecursor(t, rcodeRecursor(dns.RcodeServerFailure))
	refused := startRecursor(t, rcodeRecursor(dns.RcodeRefused))
	// Nothing listens on dead: over UDP the exchange fails at once (ICMP
	// port unreachable); over TCP the connection is refused.
	dead := freeUDPPort(t)
	_, addr := startServer(t, fixture(), Config{
		Recursors:       []string{dead, servfail, refused, good},
		RecursorTimeout: time.Second,
	})

	for _, netw := range []string{"udp", "tcp"} {
		t.Run(netw, func(t *testing.T) {
			t.Parallel()
			r := query(t, addr, netw, "example.com.", dns.TypeA, 0)
			if r.Rcode != dns.RcodeSuccess {
				t.Fatalf("rcode %s, want NOERROR from the fourth recursor", dns.RcodeToString[r.Rcode])
			}
			checkSection(t, "answer", r.Answer, zone(t, "example.com. 60 IN A 192.0.2.1"))
			if !r.RecursionAvailable {
				t.Error("RA not set with recursors")
			}

			r = query(t, addr, netw, "nowhere.example.", dns.TypeA, 0)
			if r.Rcode != dns.RcodeNameError {
				t.Errorf("rcode %s, want the recursor's NXDOMAIN", dns.RcodeToString[r.Rcode])
			}

			// The domain is still answered locally, with RA now set.
			r = query(t, addr, netw, "web.service.berth.", dns.TypeA, 0)
			if len(r.Answer) != 2 || !r.RecursionAvailable || !r.Authoritative {
				t.Errorf("%d answers, RA=%v, AA=%v: want 2, RA and AA", len(r.Answer), r.RecursionAvailable, r.Authoritative)
			}
		})
	}
}

func TestForwardingAllFail(t *testing.T) {
	t.Parallel()
	servfail := startRecursor(t, rcodeRecursor(dns.RcodeServerFailure))
	_, addr := startServer(t, catalog.NewMemory(), Config{Recursors: []string{servfail, freeUDPPort(t)}})
	r := query(t, addr, "udp", "example.com.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeServerFailure || !r.RecursionAvailable {
		t.Errorf("rcode %s, RA=%v: want SERVFAIL with RA", dns.RcodeToString[r.Rcode], r.RecursionAvailable)
	}
}

func TestRecursorTimeout(t *testing.T) {
	t.Parallel()
	// A recursor that never answers: the query waits one RecursorTimeout,
	// then the next recursor answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	good := startRecursor(t, exampleRecursor)
	_, addr := startServer(t, catalog.NewMemory(), Config{
		Recursors:       []string{silent.LocalAddr().String(), good},
		RecursorTimeout: 200 * time.Millisecond,
	})
	start := time.Now()
	r := query(t, addr, "udp", "example.com.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("rcode %s with %d answers, want the second recursor's", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("answered in %v, before the first recursor's timeout", d)
	}
}

func TestRecursorAddresses(t *testing.T) {
	t.Parallel()
	s, err := New(catalog.NewMemory(), Config{Recursors: []string{"192.0.2.53", "[2001:db8::53]", "192.0.2.54:5353"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53", "192.0.2.54:5353"}
	for i, w := range want {
		if s.recursors[i] != w {
			t.Errorf("recursor %d: %q, want %q", i, s.recursors[i], w)
		}
	}
	if _, err := New(catalog.NewMemory(), Config{Recursors: []string{"dns.google"}}); err == nil {
		t.Error("a recursor named by host name was accepted")
	}
}

func TestForwardedAnswersFitTheUDPClient(t *testing.T) {
	t.Parallel()
	// A recursor that answers 400 A records (about 6.5 KB) whatever it
	// is asked, over UDP too.
	big := startRecursor(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		for i := range 400 {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(req.Question[0].Name, dns.TypeA, 60), A: net.IPv4(10, 2, byte(i>>8), byte(i))})
		}
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), false)
		}
		w.WriteMsg(m)
	})
	_, addr := startServer(t, catalog.NewMemory(), Config{Recursors: []string{big}})
	r := query(t, addr, "udp", "example.com.", dns.TypeA, 65000)
	if n := wireLen(r); !r.Truncated || n > maxUDPSize || len(r.Answer) == 0 {
		t.Errorf("UDP with a 65000-byte buffer: TC=%v, %d bytes, %d answers: want TC and some answers in at most %d bytes",
			r.Truncated, n, len(r.Answer), maxUDPSize)
	}
	r = query(t, addr, "tcp", "example.com.", dns.TypeA, 0)
	if r.Truncated || len(r.Answer) != 400 {
		t.Errorf("TCP: TC=%v with %d answers, want the 400", r.Truncated, len(r.Answer))
	}
}
