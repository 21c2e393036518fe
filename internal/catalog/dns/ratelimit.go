package catalogdns

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"
)

const (
	// maxClients bounds the client addresses whose buckets are kept: past
	// it, the client seen least recently is forgotten (and starts again
	// with a full bucket when it comes back).
	maxClients = 16384
	// slip is BIND's RRL slip: of a client's queries over its rate, one in
	// slip gets an empty truncated response (so that a real client retries
	// over TCP), the others are dropped.
	slip = 2
)

// limitAction is what becomes of a UDP query.
type limitAction int

const (
	limitAllow    limitAction = iota // answered as usual
	limitDrop                        // not answered
	limitTruncate                    // answered empty with the TC bit
)

// clientLimiter is a token bucket per client address (IPv4 addresses one
// by one, IPv6 ones by /64, as a host usually holds a whole /64), in a
// least-recently-seen list bounded by max. A client unseen for the time
// its bucket takes to fill up is forgotten: a new bucket is the same. It is
// safe for concurrent use.
type clientLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // time for an empty bucket to fill up
	max   int

	mu      sync.Mutex
	clients map[netip.Addr]*list.Element
	lru     list.List // of *clientBucket, most recently seen first
}

type clientBucket struct {
	addr   netip.Addr
	bucket *rate.Limiter
	seen   time.Time
	over   uint64 // queries over the rate so far
}

// newClientLimiter limits each client to limit queries a second, burst
// at once (limit > 0, burst > 0), keeping at most max clients.
func newClientLimiter(limit float64, burst, max int) *clientLimiter {
	return &clientLimiter{
		limit:   rate.Limit(limit),
		burst:   burst,
		idle:    time.Duration(min(float64(burst)/limit, 1e6) * float64(time.Second)), // 1e6s: no overflow
		max:     max,
		clients: map[netip.Addr]*list.Element{},
	}
}

// take spends one token of addr's bucket at now and says what becomes of
// its query.
func (l *clientLimiter) take(addr netip.Addr, now time.Time) limitAction {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget up to two idle clients for each one seen, so that the list
	// shrinks back after a burst of new addresses.
	for range 2 {
		e := l.lru.Back()
		if e == nil || now.Sub(e.Value.(*clientBucket).seen) < l.idle {
			break
		}
		l.remove(e)
	}
	var b *clientBucket
	if e, ok := l.clients[addr]; ok {
		b = e.Value.(*clientBucket)
		l.lru.MoveToFront(e)
	} else {
		if l.lru.Len() >= l.max {
			l.remove(l.lru.Back())
		}
		b = &clientBucket{addr: addr, bucket: rate.NewLimiter(l.limit, l.burst)}
		l.clients[addr] = l.lru.PushFront(b)
	}
	if now.After(b.seen) {
		b.seen = now
	}
	if b.bucket.AllowN(now, 1) {
		return limitAllow
	}
	b.over++
	if b.over%slip == 0 {
		return limitTruncate
	}
	return limitDrop
}

func (l *clientLimiter) remove(e *list.Element) {
	delete(l.clients, e.Value.(*clientBucket).addr)
	l.lru.Remove(e)
}

// tracked is the number of clients whose buckets are kept.
func (l *clientLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// clientAddr is the IP address a packet came from, unmapped; the zero
// Addr when a is not an IP address.
func clientAddr(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return ap.Addr().Unmap()
}

// clientKey is the address a client is counted by: its IP, and for IPv6
// its /64.
func clientKey(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// limitedReader reads UDP queries for miekg/dns's server and applies the
// rate of each client before a query is parsed: over it, the query is
// dropped, or answered empty with the TC bit (see slip) right here. It
// reads into a buffer of its own, so that a dropped query costs no
// allocation of its size; only the server's one UDP read loop calls it.
type limitedReader struct {
	dns.Reader
	s   *Server
	buf []byte
}

func newLimitedReader(r dns.Reader, s *Server) *limitedReader {
	return &limitedReader{Reader: r, s: s, buf: make([]byte, maxUDPSize)}
}

var _ dns.PacketConnReader = (*limitedReader)(nil)

// ReadUDP returns the next query whose client is within its rate. It sets
// no read deadline (timeout is not used): the read ends with a packet, or
// with the deadline in the past that the server's shutdown sets.
func (r *limitedReader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	for {
		n, sess, err := dns.ReadFromSessionUDP(conn, r.buf)
		if err != nil {
			return nil, nil, err
		}
		m := r.buf[:n]
		b, act := r.s.admit(m, sess.RemoteAddr())
		if act == limitAllow {
			return append([]byte(nil), m...), sess, nil
		}
		if b != nil {
			if _, err := dns.WriteToSessionUDP(conn, b, sess); err != nil {
				r.s.log.Debug("dns: write truncated response", "remote", addrString(sess.RemoteAddr()), "err", err)
			}
		}
	}
}

// ReadPacketConn is ReadUDP for a net.PacketConn that is not a
// *net.UDPConn.
func (r *limitedReader) ReadPacketConn(conn net.PacketConn, timeout time.Duration) ([]byte, net.Addr, error) {
	for {
		n, addr, err := conn.ReadFrom(r.buf)
		if err != nil {
			return nil, nil, err
		}
		m := r.buf[:n]
		b, act := r.s.admit(m, addr)
		if act == limitAllow {
			return append([]byte(nil), m...), addr, nil
		}
		if b != nil {
			if _, err := conn.WriteTo(b, addr); err != nil {
				r.s.log.Debug("dns: write truncated response", "remote", addrString(addr), "err", err)
			}
		}
	}
}

// admit applies the client's rate to the raw query m from addr. Over it,
// it returns the truncated response to send (nil: drop), and counts what
// it did. Loopback clients are let through without a bucket, unless the
// server limits them too.
func (s *Server) admit(m []byte, addr net.Addr) ([]byte, limitAction) {
	ip := clientAddr(addr)
	if ip.IsLoopback() && !s.limitLoopback {
		return nil, limitAllow
	}
	act := s.limiter.take(clientKey(ip), time.Now())
	var b []byte
	switch act {
	case limitAllow:
		return nil, act
	case limitTruncate:
		if b = s.truncatedReply(m); b == nil {
			act = limitDrop
		}
	}
	if s.metrics != nil {
		label := "drop"
		if act == limitTruncate {
			label = "truncate"
		}
		s.metrics.limited.WithLabelValues(label).Inc()
	}
	return b, act
}

// truncatedReply is the packed empty response, TC bit set, to the raw
// query m; nil when m is not a query with one question. It holds the
// header and the question only, about the size of the query: nothing to
// amplify.
func (s *Server) truncatedReply(m []byte) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(m); err != nil || req.Response || req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return nil
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Truncated = true
	resp.RecursionAvailable = len(s.recursors) > 0
	b, err := resp.Pack()
	if err != nil {
		return nil
	}
	return b
}
