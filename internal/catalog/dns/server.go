package catalogdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"berth.dev/berth/internal/catalog"
)

// Defaults of Config.
const (
	DefaultDomain          = "berth."
	DefaultListen          = "127.0.0.1:8600"
	DefaultRecursorTimeout = 2 * time.Second
)

// Config configures a Server. The zero value serves berth. on
// 127.0.0.1:8600 with no recursion.
type Config struct {
	// Domain is the zone answered, "berth." by default; it is made fully
	// qualified and lower-cased.
	Domain string
	// Listen is the address of both the UDP and the TCP listener,
	// "127.0.0.1:8600" by default. With port 0 the TCP listener takes the
	// port the UDP one was given.
	Listen string
	// Recursors are "host[:port]" servers that names outside Domain are
	// forwarded to, in order. None: such names are REFUSED.
	Recursors []string
	// RecursorTimeout bounds each forwarded exchange (Consul's
	// recursor_timeout), 2s by default.
	RecursorTimeout time.Duration
	// RateLimit is how many queries a second one client address may send
	// over UDP before its queries are dropped or answered truncated
	// (0: no limit); RateBurst is how many it may send at once (0: one
	// second's worth). IPv6 clients are counted by /64. TCP is not rate
	// limited: see the package documentation. Loopback clients
	// (127.0.0.0/8, ::1) are not limited unless RateLimitLoopback is set:
	// the limit is against floods in the name of other machines, and a
	// program on this host, or a stub resolver forwarding its lookups
	// here, sends everything from one loopback address.
	RateLimit         float64
	RateBurst         int
	RateLimitLoopback bool
	// NodeTTL is the TTL of <host>.node answers, 0 by default.
	NodeTTL time.Duration
	// Log receives errors of the listeners and of forwarding; nil discards.
	Log *slog.Logger
	// Metrics, when set, registers berth_dns_queries_total,
	// berth_dns_request_duration_seconds and berth_dns_rate_limited_total;
	// servers given the same registerer count together.
	Metrics prometheus.Registerer
}

// Server answers DNS for the catalog behind a catalog.Reader. Its handler,
// ServeDNS, is safe for concurrent use; Start runs the listeners.
type Server struct {
	reader    catalog.Reader
	listen    string
	domain    string // "berth."
	suffix    string // ".berth."
	recursors []string
	recTO     time.Duration
	nodeTTL   uint32
	log       *slog.Logger
	metrics   *metrics
	limiter   *clientLimiter // nil: no rate limit
	// limitLoopback applies limiter to loopback clients too.
	limitLoopback bool
	answers       answerCache

	mu      sync.Mutex
	started bool
	udpAddr net.Addr
	tcpAddr net.Addr
	ready   chan struct{}
}

var _ dns.Handler = (*Server)(nil)

// New returns a Server answering from r. It fails when the domain, a
// recursor address or the rate limit is not valid, or when the metrics
// cannot be registered.
func New(r catalog.Reader, cfg Config) (*Server, error) {
	if r == nil {
		return nil, errors.New("dns: nil catalog reader")
	}
	domain := cfg.Domain
	if domain == "" {
		domain = DefaultDomain
	}
	domain = dns.CanonicalName(strings.TrimSpace(domain))
	if domain == "." {
		return nil, errors.New("dns: the domain cannot be the root")
	}
	if _, ok := dns.IsDomainName(domain); !ok {
		return nil, fmt.Errorf("dns: domain %q is not a domain name", cfg.Domain)
	}
	s := &Server{
		reader:  r,
		listen:  cfg.Listen,
		domain:  domain,
		suffix:  "." + domain,
		recTO:   cfg.RecursorTimeout,
		nodeTTL: ttlSeconds(cfg.NodeTTL),
		log:     cfg.Log,
		ready:   make(chan struct{}),
	}
	if s.recTO <= 0 {
		s.recTO = DefaultRecursorTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, rec := range cfg.Recursors {
		addr, err := recursorAddr(rec)
		if err != nil {
			return nil, err
		}
		s.recursors = append(s.recursors, addr)
	}
	switch {
	case math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0) || cfg.RateLimit < 0:
		return nil, fmt.Errorf("dns: rate limit %v: want a number of queries a second, 0 or more", cfg.RateLimit)
	case cfg.RateBurst < 0:
		return nil, fmt.Errorf("dns: rate burst %d: want a number of queries, 0 or more", cfg.RateBurst)
	case cfg.RateLimit > 0:
		burst := cfg.RateBurst
		if burst == 0 {
			burst = int(min(math.Ceil(cfg.RateLimit), 1<<20))
		}
		s.limiter = newClientLimiter(cfg.RateLimit, burst, maxClients)
		s.limitLoopback = cfg.RateLimitLoopback
	}
	if cfg.Metrics != nil {
		m, err := newMetrics(cfg.Metrics)
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	return s, nil
}

// recursorAddr adds port 53 to a recursor given without one.
func recursorAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("dns: empty recursor address")
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	return "", fmt.Errorf("dns: recursor %q: want an IP address with an optional port", s)
}

// Start listens on UDP and TCP at cfg.Listen, serves until ctx ends, then
// shuts both listeners down and returns nil. It returns an error at once
// when a listener cannot be bound (the port is taken), or when a listener
// fails while serving. A second call returns an error.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	again := s.started
	s.started = true
	s.mu.Unlock()
	if again {
		return errors.New("dns: Start called twice")
	}
	pc, ln, err := listen(s.listenAddr())
	if err != nil {
		return err
	}

	// miekg/dns's server drops packets shorter than a header and
	// responses, and answers FORMERR to those that do not parse or do not
	// ask exactly one question (dns.DefaultMsgAcceptFunc), before the
	// handler. Over UDP, clients over their rate are dropped or truncated
	// before that (limitedReader); UDP payloads are read into 4096 bytes,
	// what is longer is cut and does not parse.
	udp := &dns.Server{PacketConn: pc, Handler: s, UDPSize: maxUDPSize, MsgInvalidFunc: s.invalid("udp")}
	if s.limiter != nil {
		udp.DecorateReader = func(r dns.Reader) dns.Reader { return newLimitedReader(r, s) }
	}
	tcp := &dns.Server{Listener: newConnLimitListener(ln, maxTCPConns, maxTCPConnsPerClient, s.log), Handler: s,
		ReadTimeout: tcpReadTimeout, WriteTimeout: tcpWriteTimeout, IdleTimeout: func() time.Duration { return tcpIdleTimeout },
		MaxTCPQueries: maxTCPQueries, MsgInvalidFunc: s.invalid("tcp")}
	type result struct{ err error }
	errc := make(chan result, 2)
	started := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{udp, tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { errc <- result{srv.ActivateAndServe()} }()
	}

	var serveErr error
	running := 2
	for n := 0; n < 2 && serveErr == nil; {
		select {
		case <-started:
			n++
		case r := <-errc:
			running--
			serveErr = fmt.Errorf("dns: serve: %w", r.err)
		}
	}
	if serveErr == nil {
		s.mu.Lock()
		s.udpAddr, s.tcpAddr = pc.LocalAddr(), ln.Addr()
		s.mu.Unlock()
		close(s.ready)
		s.log.Info("dns: serving", "domain", s.domain, "udp", pc.LocalAddr().String(), "tcp", ln.Addr().String())
		select {
		case <-ctx.Done():
		case r := <-errc:
			running--
			serveErr = fmt.Errorf("dns: serve: %w", r.err)
		}
	}

	if serveErr == nil {
		// Stop accepting and let the queries in flight finish, bounded.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, srv := range []*dns.Server{udp, tcp} {
			if err := srv.ShutdownContext(sctx); err != nil {
				s.log.Warn("dns: shutdown", "err", err)
			}
		}
	}
	// Closing the sockets ends whatever still serves, started or not.
	pc.Close()
	ln.Close()
	for ; running > 0; running-- {
		<-errc
	}
	return serveErr
}

// invalid logs, at debug level, packets that miekg/dns's server could not
// parse (their contents are not logged).
func (s *Server) invalid(proto string) dns.MsgInvalidFunc {
	return func(m []byte, err error) {
		s.log.Debug("dns: malformed packet", "proto", proto, "bytes", len(m), "err", err)
	}
}

// listen binds UDP and TCP on addr. With port 0, TCP takes the port UDP
// was given, so that one address serves both; when that port is taken for
// TCP, it tries again with another.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || attempt == 20 {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
	}
}

func (s *Server) listenAddr() string {
	if s.listen == "" {
		return DefaultListen
	}
	return s.listen
}

// Ready is closed once Start has bound both listeners and serves.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound UDP and TCP addresses, or nils before Start has
// bound them.
func (s *Server) Addr() (udp, tcp net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr, s.tcpAddr
}

func ttlSeconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	sec := d / time.Second
	if sec > 1<<31-1 { // RFC 2181: TTLs are at most 2^31-1
		sec = 1<<31 - 1
	}
	return uint32(sec)
}
