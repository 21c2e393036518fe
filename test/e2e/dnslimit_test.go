package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/testenv"
)

// TestDNSFromThisHostIsNotRateLimited: at the default flags (100 queries a
// second and 1000 at once per client), a program on the host doing
// thousands of lookups over UDP from loopback gets every answer whole.
func TestDNSFromThisHostIsNotRateLimited(t *testing.T) {
	t.Parallel()
	c := newDiscoveryHost(t, controllerOpts{}).c
	name := registerForDNS(t, c, c.dnsAddr())
	conns := make([]net.Conn, 16)
	for i := range conns {
		conn, err := net.Dial("udp", c.dnsAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns[i] = conn
	}
	// Three times the burst, as fast as the server answers.
	st := lookupStorm(conns, name, 3000, 2*time.Second)
	t.Logf("from loopback: %s", st)
	if st.whole != 3000 {
		t.Errorf("from loopback: %s; want all 3000 answered whole", st)
	}
	_, metrics := httpGet("http://" + c.listen + "/metrics")
	for _, action := range []string{"drop", "truncate"} {
		if want := fmt.Sprintf(`berth_dns_rate_limited_total{action=%q} 0`, action); !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestDNSFromAnotherMachineIsRateLimited: at the default flags, a client
// on another machine (a network namespace) that reaches the controller's
// --dns-listen is held to its burst and rate: past them, its queries are
// dropped or answered empty with TC.
func TestDNSFromAnotherMachineIsRateLimited(t *testing.T) {
	t.Parallel()
	lab := newNetLab(t, 1)
	listen := fmt.Sprintf("%s254:%d", lab.prefix, testenv.FreePort(t))
	c := startController(t, controllerOpts{name: "e2e-dnsnet-" + randomSuffix(6),
		extra: []string{"--advertise-address", "127.0.0.1", "--dns-listen", listen}})
	name := registerForDNS(t, c, listen)
	conns := make([]net.Conn, 8)
	for i := range conns {
		conn := dialUDPInNetns(t, lab.ns[0].name, listen)
		defer conn.Close()
		conns[i] = conn
	}
	// 1500 queries: the burst of 1000, then 500 more, of which about
	// 100 a second are answered; a dropped query is given up after 100ms.
	start := time.Now()
	st := lookupStorm(conns, name, 1500, 100*time.Millisecond)
	elapsed := time.Since(start)
	t.Logf("from %s, in %s: %s", lab.ns[0].addr, elapsed.Round(time.Millisecond), st)
	if max := 1000 + int(100*elapsed.Seconds()) + 50; st.whole > max || st.truncated == 0 || st.lost == 0 {
		t.Errorf("from another machine: %s; want at most %d answered whole (the burst and the rate), the others lost or truncated", st, max)
	}
	_, metrics := httpGet("http://" + c.listen + "/metrics")
	if strings.Contains(metrics, `berth_dns_rate_limited_total{action="drop"} 0`) {
		t.Error(`berth_dns_rate_limited_total{action="drop"} is 0 after the flood`)
	}
}

// registerForDNS registers a service of its own on c through the Consul
// API, waits until dnsAddr answers it, and returns its DNS name.
func registerForDNS(t *testing.T, c *controller, dnsAddr string) string {
	t.Helper()
	service := "storm-" + randomSuffix(6)
	if err := c.consulClient(nil).Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: service, Name: service, Port: 7002}); err != nil {
		t.Fatal(err)
	}
	name := service + ".service.berth."
	eventually(t, 10*time.Second, "the service in DNS", func() (bool, string) { return resolvesTo(dnsAddr, name, "127.0.0.1") })
	return name
}

// storm is what became of the queries of a lookupStorm.
type storm struct {
	whole     int // NOERROR with the one A record
	truncated int // empty, with TC
	lost      int // no answer within the timeout
	other     []string
}

func (s storm) String() string {
	out := fmt.Sprintf("%d answered whole, %d empty with TC, %d lost", s.whole, s.truncated, s.lost)
	if len(s.other) > 0 {
		out += fmt.Sprintf(", %d other (e.g. %s)", len(s.other), s.other[0])
	}
	return out
}

// lookupStorm asks total A queries of name over the UDP sockets conns, one
// goroutine per socket each waiting for its answer (or timeout) before
// the next, as a busy program does.
func lookupStorm(conns []net.Conn, name string, total int, timeout time.Duration) storm {
	var (
		mu   sync.Mutex
		st   storm
		left = total
		wg   sync.WaitGroup
	)
	for _, conn := range conns {
		wg.Go(func() {
			cl := &dns.Client{Net: "udp", Timeout: timeout}
			dc := &dns.Conn{Conn: conn}
			for {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				r, _, err := cl.ExchangeWithConn(new(dns.Msg).SetQuestion(name, dns.TypeA), dc)
				mu.Lock()
				var nerr net.Error
				switch {
				case errors.As(err, &nerr) && nerr.Timeout():
					st.lost++
				case err != nil:
					st.other = append(st.other, err.Error())
				case r.Truncated && len(r.Answer) == 0:
					st.truncated++
				case !r.Truncated && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1:
					st.whole++
				default:
					st.other = append(st.other, describeMsg(r, nil))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return st
}

// dialUDPInNetns returns a UDP socket to addr made inside the network
// namespace ns (ip netns), as a program on that machine would have.
func dialUDPInNetns(t *testing.T, ns, addr string) *net.UDPConn {
	t.Helper()
	type result struct {
		conn *net.UDPConn
		err  error
	}
	done := make(chan result, 1)
	// A goroutine of its own on a locked thread: the thread enters the
	// namespace, makes the socket (which stays in it), and comes back; if
	// it cannot come back, it is not unlocked, and the runtime ends the
	// thread with the goroutine.
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("enter %s: %w", ns, err)}
			return
		}
		raddr, err := net.ResolveUDPAddr("udp", addr)
		var conn *net.UDPConn
		if err == nil {
			conn, err = net.DialUDP("udp", nil, raddr)
		}
		if back := setns(self); back != nil {
			if conn != nil {
				conn.Close()
			}
			done <- result{err: fmt.Errorf("leave %s: %w", ns, back)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{conn, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("a UDP socket in namespace %s: %v", ns, r.err)
	}
	return r.conn
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }
