package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
	unitsctl "berth.dev/berth/controllers/units"
	"berth.dev/berth/internal/catalog"
	catalogdns "berth.dev/berth/internal/catalog/dns"
	"berth.dev/berth/internal/runtime"
)

// ContainerDNSOff is the --container-dns that serves nothing for
// containers; "" (the default) is the berth network's gateway.
const ContainerDNSOff = "off"

// containerDNSRecheck is how often the container DNS address is looked up
// again and a listener that could not be bound is tried again.
const containerDNSRecheck = 30 * time.Second

// resolvConf is where the default recursors of the container DNS are read.
const resolvConf = "/etc/resolv.conf"

// containerDNS serves DNS on port 53, and the HTTP API in plain HTTP on
// the port of --listen, on an address of this host that its containers
// reach (--container-dns: the gateway of the berth network by default),
// and gives that address to the containers the host creates
// (unitsctl.Resolver).
//
// Its DNS forwards names outside the domain to the recursors
// (--dns-recursor, else the host's resolvers) and rate-limits its clients,
// which are containers, never loopback. Its HTTP API is the one of
// --listen, with the same access control: containers are not loopback, so
// writes and logs need the token. When the address is taken (several
// controllers share one engine), it says so once and tries again every
// containerDNSRecheck, so that one of them serves it at any time; the
// containers of all of them use it.
type containerDNS struct {
	fixed     string // --container-dns when it is an address; "" for the gateway
	rt        runtime.Runtime
	cat       catalog.Reader
	dnsCfg    catalogdns.Config // Listen and Recursors are set per address
	recursors []string          // --dns-recursor; nil: those of resolvConf
	api       *http.Server      // the --listen server, whose handler and limits are served
	httpPort  string
	dnsPort   string // "53"
	search    string // service.<domain> without the final dot
	recheck   time.Duration
	log       *slog.Logger

	mu   sync.Mutex
	addr string // the address last looked up; "" before
}

// newContainerDNS returns the container DNS of cfg, or nil when
// --container-dns is off. api is the --listen server, apiAddr its address.
func newContainerDNS(cfg Config, rt runtime.Runtime, cat catalog.Reader, api *http.Server, apiAddr net.Addr,
	dnsMetrics prometheus.Registerer, log *slog.Logger) *containerDNS {
	if cfg.ContainerDNS == ContainerDNSOff {
		return nil
	}
	_, port, _ := net.SplitHostPort(apiAddr.String())
	return &containerDNS{
		fixed: cfg.ContainerDNS, rt: rt, cat: cat, recursors: cfg.DNSRecursors, api: api, httpPort: port,
		dnsCfg: catalogdns.Config{Domain: cfg.DNSDomain, RateLimit: cfg.DNSRateLimit, RateBurst: cfg.DNSRateBurst,
			Log: log, Metrics: dnsMetrics},
		search:  "service." + strings.TrimSuffix(dns.CanonicalName(cfg.DNSDomain), "."),
		dnsPort: "53", recheck: containerDNSRecheck, log: log,
	}
}

// validateContainerDNS checks --container-dns: off, empty (the gateway),
// or an IP address that containers can reach and that is not every
// address of the host.
func validateContainerDNS(v string) error {
	if v == "" || v == ContainerDNSOff {
		return nil
	}
	ip, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		return fmt.Errorf("--container-dns %q: want an IP address of this host, or off", v)
	case ip.IsLoopback():
		return fmt.Errorf("--container-dns %s: containers cannot reach this host's loopback addresses; give the address of a bridge or a link-local one (default: the berth network's gateway)", v)
	case ip.IsUnspecified() || ip.IsMulticast():
		return fmt.Errorf("--container-dns %s: want one address of this host, which containers reach and other machines do not", v)
	}
	return nil
}

// resolver returns what unitsctl.Options.Resolver takes: nil when c is.
func (c *containerDNS) resolver() func(context.Context) (unitsctl.Resolver, error) {
	if c == nil {
		return nil
	}
	return func(ctx context.Context) (unitsctl.Resolver, error) {
		addr, err := c.address(ctx, false)
		if err != nil {
			return unitsctl.Resolver{}, err
		}
		return unitsctl.Resolver{Nameserver: addr, Search: c.search, HTTPAddress: net.JoinHostPort(addr, c.httpPort)}, nil
	}
}

// address returns the container DNS address: --container-dns, or the
// berth network's gateway, which it creates when missing. The gateway is
// looked up once, then only again when fresh is set.
func (c *containerDNS) address(ctx context.Context, fresh bool) (string, error) {
	if c.fixed != "" {
		return c.fixed, nil
	}
	c.mu.Lock()
	addr := c.addr
	c.mu.Unlock()
	if addr != "" && !fresh {
		return addr, nil
	}
	if err := c.rt.EnsureNetwork(ctx, v1.NetworkName, map[string]string{v1.Group + "/network": "true"}); err != nil {
		return "", fmt.Errorf("network %s: %w", v1.NetworkName, err)
	}
	n, err := c.rt.InspectNetwork(ctx, v1.NetworkName)
	if err != nil {
		return "", fmt.Errorf("network %s: %w", v1.NetworkName, err)
	}
	if n.Gateway == "" {
		return "", fmt.Errorf("network %s has no IPv4 gateway for containers to reach this host at (controller --container-dns names another address)", v1.NetworkName)
	}
	c.mu.Lock()
	c.addr = n.Gateway
	c.mu.Unlock()
	return n.Gateway, nil
}

// Run serves until ctx ends: it looks the address up, serves DNS and HTTP
// there, and every containerDNSRecheck looks again, rebinding when the
// address has changed and retrying a listener that could not be bound.
func (c *containerDNS) Run(ctx context.Context) {
	if c == nil {
		return
	}
	dnsL := &listener{what: "DNS", port: c.dnsPort, recheck: c.recheck, log: c.log, start: c.startDNS}
	httpL := &listener{what: "HTTP API", port: c.httpPort, recheck: c.recheck, log: c.log, start: c.startHTTP}
	defer dnsL.stop()
	defer httpL.stop()
	t := time.NewTicker(c.recheck)
	defer t.Stop()
	var lastErr string
	for {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		addr, err := c.address(actx, true)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			if err.Error() != lastErr {
				c.log.Warn("container DNS: no address to serve yet; trying again", "err", err, "in", c.recheck)
			}
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
			dnsL.serve(ctx, addr)
			httpL.serve(ctx, addr)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startDNS serves DNS on addr:53 until ctx ends or it is stopped; the
// error says why it could not bind.
func (c *containerDNS) startDNS(ctx context.Context, addr string) (*served, error) {
	cfg := c.dnsCfg
	cfg.Listen = net.JoinHostPort(addr, c.dnsPort)
	cfg.Recursors = c.recursors
	if len(cfg.Recursors) == 0 {
		cfg.Recursors = hostRecursors(resolvConf, addr, c.log)
	}
	srv, err := catalogdns.New(c.cat, cfg)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	s := serve(cancel, func() error { return srv.Start(sctx) })
	select {
	case <-srv.Ready():
	case <-s.done:
		return nil, s.stop()
	}
	c.log.Info("serving DNS for containers", "listen", cfg.Listen, "recursors", cfg.Recursors)
	return s, nil
}

// startHTTP serves the API in plain HTTP on addr and the --listen port.
func (c *containerDNS) startHTTP(ctx context.Context, addr string) (*served, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(addr, c.httpPort))
	if err != nil {
		return nil, err
	}
	a := c.api
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: a.ReadHeaderTimeout, ReadTimeout: a.ReadTimeout,
		WriteTimeout: a.WriteTimeout, IdleTimeout: a.IdleTimeout, MaxHeaderBytes: a.MaxHeaderBytes, ErrorLog: a.ErrorLog}
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	c.log.Info("serving the HTTP API for containers", "listen", ln.Addr().String(), "scheme", "http")
	return serve(shutdown, func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}), nil
}

// served is a server running in its own goroutine.
type served struct {
	done chan struct{} // closed when run has returned
	err  error         // what run returned, once done is closed
	end  func()        // makes run return
	once sync.Once
}

// serve runs run in a goroutine; end makes it return.
func serve(end func(), run func() error) *served {
	s := &served{done: make(chan struct{}), end: end}
	go func() {
		defer close(s.done)
		s.err = run()
	}()
	return s
}

// stop ends the server, waits for it and returns its error.
func (s *served) stop() error {
	s.once.Do(s.end)
	<-s.done
	return s.err
}

// exited reports whether the server has stopped by itself.
func (s *served) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// listener is one of the container DNS's listeners (DNS or HTTP), served
// on one address at a time.
type listener struct {
	what, port string
	recheck    time.Duration
	log        *slog.Logger
	start      func(ctx context.Context, addr string) (*served, error)

	addr    string  // where it serves; "" when it does not
	cur     *served // the server at addr
	lastErr string  // the last error logged, so that it is logged once
}

// serve makes the listener serve on addr: it stops serving elsewhere and
// starts when it does not serve. A failure to bind is logged once until
// something else happens.
func (l *listener) serve(ctx context.Context, addr string) {
	if l.addr == addr && !l.cur.exited() {
		return
	}
	l.stop()
	cur, err := l.start(ctx, addr)
	if err != nil {
		if err.Error() != l.lastErr {
			l.lastErr = err.Error()
			if errors.Is(err, syscall.EADDRINUSE) {
				l.log.Info("container "+l.what+": the address is served by another process (another controller on this Docker engine?); this host's containers use it, and this controller serves it once it is free",
					"listen", net.JoinHostPort(addr, l.port))
			} else {
				l.log.Warn("container "+l.what+": cannot serve; trying again", "listen", net.JoinHostPort(addr, l.port), "err", err, "in", l.recheck)
			}
		}
		return
	}
	l.addr, l.cur, l.lastErr = addr, cur, ""
}

// stop stops serving.
func (l *listener) stop() {
	if l.cur != nil {
		if err := l.cur.stop(); err != nil {
			l.log.Warn("container "+l.what+" stopped", "listen", net.JoinHostPort(l.addr, l.port), "err", err)
		}
	}
	l.addr, l.cur = "", nil
}

// hostRecursors returns the nameservers of the resolv.conf at path that
// are not loopback and not self, as host:port, as Docker gives its
// containers the host's; when it lists only loopback ones (a local stub
// resolver), those, which the controller, unlike a container, reaches.
// None when the file cannot be read or lists none.
func hostRecursors(path, self string, log *slog.Logger) []string {
	conf, err := dns.ClientConfigFromFile(path)
	if err != nil {
		log.Warn("container DNS: cannot read the host's resolvers; names outside the domain are refused (controller --dns-recursor names recursors)", "file", path, "err", err)
		return nil
	}
	var outside, loopback []string
	for _, s := range conf.Servers {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.WithZone("").String() == self {
			continue
		}
		hp := net.JoinHostPort(s, conf.Port)
		if ip.IsLoopback() {
			loopback = append(loopback, hp)
		} else {
			outside = append(outside, hp)
		}
	}
	if len(outside) == 0 {
		outside = loopback
	}
	if len(outside) == 0 {
		log.Warn("container DNS: the host lists no resolvers; names outside the domain are refused (controller --dns-recursor names recursors)", "file", path)
	}
	return outside
}
