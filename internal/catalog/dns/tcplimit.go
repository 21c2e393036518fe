package catalogdns

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limits of the TCP listener. A TCP client proved its address, and its
// answers go to it alone, so its queries are not rate limited; what is
// bounded is what its connections hold.
const (
	// tcpReadTimeout bounds the wait for a connection's first query, and
	// tcpIdleTimeout for each one after it (RFC 7766's idle timeout).
	tcpReadTimeout = 2 * time.Second
	tcpIdleTimeout = 8 * time.Second
	// tcpWriteTimeout bounds the write of a response.
	tcpWriteTimeout = 2 * time.Second
	// maxTCPQueries is how many queries one connection may carry before
	// the server closes it.
	maxTCPQueries = 128
	// maxTCPConns bounds the connections open at once, and
	// maxTCPConnsPerClient those of one client address (counted as for
	// the rate limit: IPv6 by /64). A connection past either is closed as
	// soon as it is accepted.
	maxTCPConns          = 1024
	maxTCPConnsPerClient = 32
)

// connLimitListener is a net.Listener that closes, as soon as they are
// accepted, the connections past total open at once or past perClient of
// one client address. It is safe for concurrent use.
type connLimitListener struct {
	net.Listener
	total, perClient int
	log              *slog.Logger

	mu       sync.Mutex
	open     int
	byClient map[netip.Addr]int
}

func newConnLimitListener(ln net.Listener, total, perClient int, log *slog.Logger) *connLimitListener {
	return &connLimitListener{Listener: ln, total: total, perClient: perClient, log: log, byClient: map[netip.Addr]int{}}
}

// Accept returns the next connection within the limits; it returns the
// listener's error when it has one.
func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(clientAddr(c.RemoteAddr()))
		if l.acquire(key) {
			return &limitedConn{Conn: c, l: l, key: key}, nil
		}
		l.log.Debug("dns: too many TCP connections, closing one", "remote", addrString(c.RemoteAddr()))
		c.Close()
	}
}

func (l *connLimitListener) acquire(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total || l.byClient[key] >= l.perClient {
		return false
	}
	l.open++
	l.byClient[key]++
	return true
}

func (l *connLimitListener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byClient[key]--; l.byClient[key] <= 0 {
		delete(l.byClient, key)
	}
}

// limitedConn gives its place back to its listener when it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimitListener
	key  netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
