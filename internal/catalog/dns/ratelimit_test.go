package catalogdns

import (
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// flood sends n queries for web.service.berth. A on c, ids 1 to n, without
// waiting for answers.
func flood(t *testing.T, c net.Conn, from, n int) {
	t.Helper()
	for id := from; id < from+n; id++ {
		m := new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA)
		m.Id = uint16(id)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		write(t, c, b)
	}
}

// collect reads the answers arriving on c into a channel, until c is
// closed (at the end of the test).
func collect(t *testing.T, c net.Conn) <-chan *dns.Msg {
	out := make(chan *dns.Msg, 1024)
	go func() {
		defer close(out)
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			r := new(dns.Msg)
			if r.Unpack(buf[:n]) == nil {
				out <- r
			}
		}
	}()
	return out
}

// receive takes n answers from ch; it fails when they have not all come
// within 10s.
func receive(t *testing.T, ch <-chan *dns.Msg, n int) []*dns.Msg {
	t.Helper()
	var out []*dns.Msg
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("%d answers received, want %d", len(out), n)
			}
			out = append(out, r)
		case <-deadline:
			t.Fatalf("%d answers received within 10s, want %d", len(out), n)
		}
	}
	return out
}

// waitCounted waits until the server has dealt with n UDP queries:
// answered (berth_dns_queries_total) or rate limited
// (berth_dns_rate_limited_total). It fails after 10s.
func waitCounted(t *testing.T, reg *prometheus.Registry, n float64) (limited map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var total float64
		for _, v := range gather(t, reg, "berth_dns_queries_total") {
			total += v
		}
		limited = gather(t, reg, "berth_dns_rate_limited_total")
		total += limited["action=drop"] + limited["action=truncate"]
		if total == n {
			return limited
		}
		if total > n || time.Now().After(deadline) {
			t.Fatalf("the server counted %v queries, want %v", total, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAFloodFromOneAddressIsLimitedWhileOthersAreAnswered(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	_, addr := startServer(t, fixture(), Config{RateLimit: 5, RateBurst: 10, RateLimitLoopback: true, Metrics: reg})
	flooder := dialUDP(t, "127.0.0.1", addr)
	answers := collect(t, flooder)

	// 200 queries from 127.0.0.1 at once, and in the middle of them 5
	// from 127.0.0.2, each waiting for its answer.
	const n = 200
	flood(t, flooder, 1, n/2)
	other := dialUDP(t, "127.0.0.2", addr)
	for range 5 {
		checkGoodQuery(t, other, func(c net.Conn, b []byte) { write(t, c, b) }, read)
	}
	flood(t, flooder, n/2+1, n/2)

	limited := waitCounted(t, reg, n+5)
	drop, truncate := limited["action=drop"], limited["action=truncate"]
	t.Logf("of %d queries from one address: %v dropped, %v truncated", n, drop, truncate)
	// 10 at once and 5 a second: the flood goes over, unless it took
	// more than 20 seconds to send.
	if drop+truncate < n/2 {
		t.Errorf("%v of %d queries dropped and %v truncated: want at least half limited", drop, n, truncate)
	}
	// One in two of those over the rate is answered truncated (slip 2).
	if truncate < 1 || drop-truncate < 0 || drop-truncate > 1 {
		t.Errorf("%v dropped and %v truncated: want one in two truncated", drop, truncate)
	}

	full, tc := 0, 0
	for _, r := range receive(t, answers, n-int(drop)) {
		switch {
		case r.Id < 1 || r.Id > n:
			t.Errorf("an answer with id %d, not one of the flood's", r.Id)
		case r.Truncated && len(r.Answer) == 0 && len(r.Question) == 1 && !r.RecursionAvailable:
			tc++
		case !r.Truncated && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 2:
			full++
		default:
			t.Errorf("answer %d is neither whole nor empty with TC:\n%v", r.Id, r)
		}
	}
	if tc != int(truncate) || full != n-int(drop+truncate) {
		t.Errorf("received %d whole and %d truncated answers, want %v and %v", full, tc, n-drop-truncate, truncate)
	}

	// Over TCP the flooding address is answered in full.
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}}
	m := new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("TCP from the flooding address: %v", err)
	}
	if r.Truncated || len(r.Answer) != 2 {
		t.Errorf("TCP from the flooding address: TC=%v with %d answers, want the 2 in full", r.Truncated, len(r.Answer))
	}
}

func TestWithoutRateLimitAFloodIsAnswered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no limit", Config{RateLimit: 0, RateBurst: 1, RateLimitLoopback: true}},
		{"loopback clients are not limited by default", Config{RateLimit: 5, RateBurst: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewPedanticRegistry()
			tc.cfg.Metrics = reg
			_, addr := startServer(t, fixture(), tc.cfg)
			c := dialUDP(t, "127.0.0.1", addr)
			answers := collect(t, c)
			const n = 200
			flood(t, c, 1, n)
			for _, r := range receive(t, answers, n) {
				if r.Truncated || len(r.Answer) != 2 {
					t.Errorf("answer %d: TC=%v with %d answers, want the 2 in full", r.Id, r.Truncated, len(r.Answer))
				}
			}
			if limited := gather(t, reg, "berth_dns_rate_limited_total"); limited["action=drop"]+limited["action=truncate"] != 0 {
				t.Errorf("berth_dns_rate_limited_total %v, want 0", limited)
			}
		})
	}
}

// TestLoopbackExemption: which client addresses the limit applies to, by
// default and under RateLimitLoopback. With a burst of 1, the second
// query at once is over the rate.
func TestLoopbackExemption(t *testing.T) {
	t.Parallel()
	query, err := new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr     net.Addr
		loopback bool
	}{
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}, true},
		{&net.UDPAddr{IP: net.IPv4(127, 45, 6, 7), Port: 5300}, true},
		{&net.UDPAddr{IP: net.IPv6loopback, Port: 5300}, true},
		{&net.UDPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 5300}, true},
		{&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5300}, false},
		{&net.UDPAddr{IP: net.IPv4(172, 17, 0, 2), Port: 5300}, false}, // a container on Docker's bridge
		{&net.UDPAddr{IP: net.IPv4(0, 0, 0, 0), Port: 5300}, false},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5300}, false},
		{&net.UDPAddr{IP: net.ParseIP("::2"), Port: 5300}, false}, // in ::1's /64, not loopback
		{&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 5300, Zone: "lo"}, false},
		{fakeAddr("not an address"), false},
	} {
		for _, limitLoopback := range []bool{false, true} {
			s := mustNew(t, fixture(), Config{RateLimit: 1, RateBurst: 1, RateLimitLoopback: limitLoopback})
			var got []limitAction
			for range 3 {
				_, act := s.admit(query, tc.addr)
				got = append(got, act)
			}
			want := []limitAction{limitAllow, limitDrop, limitTruncate}
			if tc.loopback && !limitLoopback {
				want = []limitAction{limitAllow, limitAllow, limitAllow}
			}
			if !equalActions(got, want) {
				t.Errorf("client %v, RateLimitLoopback %v: %v, want %v", tc.addr, limitLoopback, got, want)
			}
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "udp" }
func (a fakeAddr) String() string  { return string(a) }

func TestRateLimitConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{RateLimit: -1}, {RateLimit: math.NaN()}, {RateLimit: math.Inf(1)}, {RateLimit: 10, RateBurst: -1},
	} {
		_, err := New(fixture(), cfg)
		if err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("rate %v burst %d: %v, want an error about the rate", cfg.RateLimit, cfg.RateBurst, err)
		}
	}
	s := mustNew(t, fixture(), Config{RateLimit: 2.5})
	if s.limiter == nil || s.limiter.burst != 3 {
		t.Errorf("rate 2.5 without burst: limiter %+v, want a burst of 3", s.limiter)
	}
	if s := mustNew(t, fixture(), Config{RateLimit: 1e-300}); s.limiter.idle <= 0 {
		t.Errorf("a tiny rate: clients forgotten after %v, want a positive time", s.limiter.idle)
	}
	if s := mustNew(t, fixture(), Config{}); s.limiter != nil {
		t.Error("rate 0: a limiter, want none")
	}
}

func TestClientLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("192.0.2.1")

	t.Run("burst, then one in two truncated, then the rate", func(t *testing.T) {
		t.Parallel()
		l := newClientLimiter(1, 3, 10)
		var got []limitAction
		for range 7 {
			got = append(got, l.take(a, t0))
		}
		want := []limitAction{limitAllow, limitAllow, limitAllow, limitDrop, limitTruncate, limitDrop, limitTruncate}
		if !equalActions(got, want) {
			t.Errorf("at once: %v, want %v", got, want)
		}
		if got := l.take(a, t0.Add(time.Second)); got != limitAllow {
			t.Errorf("a second later: %v, want allowed", got)
		}
		if got := l.take(netip.MustParseAddr("192.0.2.2"), t0); got != limitAllow {
			t.Errorf("another address: %v, want allowed", got)
		}
	})
	t.Run("at most max clients", func(t *testing.T) {
		t.Parallel()
		l := newClientLimiter(1, 1, 4)
		for i := range 100 {
			l.take(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), t0)
		}
		if n := l.tracked(); n != 4 {
			t.Errorf("%d clients tracked after 100 addresses, want at most 4", n)
		}
		// The least recently seen goes first: the last four are there.
		if got := l.take(netip.AddrFrom4([4]byte{10, 0, 0, 99}), t0); got != limitDrop {
			t.Errorf("the last address seen, again: %v, want dropped (its bucket is kept)", got)
		}
	})
	t.Run("idle clients are forgotten", func(t *testing.T) {
		t.Parallel()
		l := newClientLimiter(10, 20, 1000) // an empty bucket is full after 2s
		for i := range 10 {
			l.take(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), t0)
		}
		later := t0.Add(2 * time.Second)
		for i := range 5 {
			l.take(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), later)
		}
		if n := l.tracked(); n != 5 {
			t.Errorf("%d clients tracked, want the 5 seen last: the 10 idle for 2s forgotten", n)
		}
	})
}

func equalActions(a, b []limitAction) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 53}, "127.0.0.2"},
		{&net.UDPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 53}, "10.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 53}, "2001:db8:1:2::"},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2::ffff"), Port: 53}, "2001:db8:1:2::"},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 53}, "2001:db8:1:3::"},
	} {
		if got := clientKey(clientAddr(tc.addr)).String(); got != tc.want {
			t.Errorf("clientKey(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestTCPConnectionsPerClientAndInAllAreBounded(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimitListener(ln, 3, 2, discardLog())
	defer l.Close()
	accepted := make(chan net.Conn)
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// kept dials from local and returns the server's side of the
	// connection, which the listener let through.
	kept := func(local string) net.Conn {
		t.Helper()
		dial(local)
		select {
		case c := <-accepted:
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("a connection from %s was not accepted", local)
			return nil
		}
	}
	// closed dials from local and checks that the server closes it.
	closed := func(local, why string) {
		t.Helper()
		c := dial(local)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("a connection from %s past %s: %v, want it closed by the server", local, why, err)
		}
	}

	first := kept("127.0.0.1")
	kept("127.0.0.1")
	closed("127.0.0.1", "2 of one client")
	kept("127.0.0.2")
	closed("127.0.0.3", "3 in all")
	first.Close()
	kept("127.0.0.1")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
