package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/testenv"
)

func TestValidateContainerDNS(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  string // substring of the error; "" for none
	}{
		{"", ""},
		{"off", ""},
		{"172.18.0.1", ""},
		{"169.254.20.10", ""},
		{"fd00::53", ""},
		{"gateway", `--container-dns "gateway": want an IP address of this host, or off`},
		{"127.0.0.1", "--container-dns 127.0.0.1: containers cannot reach this host's loopback addresses"},
		{"::1", "containers cannot reach this host's loopback addresses"},
		{"0.0.0.0", "--container-dns 0.0.0.0: want one address of this host, which containers reach and other machines do not"},
		{"::", "want one address of this host"},
		{"172.18.0.1:53", "want an IP address of this host"},
	} {
		err := validateContainerDNS(tc.value)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("validateContainerDNS(%q) = %v, want %q", tc.value, err, tc.want)
		}
	}
	cfg := Config{HostName: "h", DataDir: t.TempDir(), Listen: "127.0.0.1:8500", HeartbeatTTL: 10 * time.Second,
		Resync: time.Second, ContainerDNS: "127.0.0.2"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--container-dns 127.0.0.2") {
		t.Errorf("Validate with a loopback --container-dns = %v, want the flag's error", err)
	}
}

func TestHostRecursors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, conf string
		want       []string
	}{
		{"outside ones, loopback left out", "search corp.example\nnameserver 10.0.0.2\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 2001:db8::1\n",
			[]string{"10.0.0.2:53", "[2001:db8::1]:53"}},
		{"only a local stub", "nameserver 127.0.0.53\noptions edns0\n", []string{"127.0.0.53:53"}},
		{"not itself", "nameserver 172.18.0.1\nnameserver 10.0.0.2\n", []string{"10.0.0.2:53"}},
		{"only itself", "nameserver 172.18.0.1\n", nil},
		{"none", "search corp.example\n", nil},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(path, []byte(tc.conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := hostRecursors(path, "172.18.0.1", slog.New(slog.DiscardHandler)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: hostRecursors = %q, want %q", tc.name, got, tc.want)
		}
	}
	logs := &strings.Builder{}
	if got := hostRecursors(filepath.Join(dir, "missing"), "172.18.0.1", slog.New(slog.NewTextHandler(logs, nil))); got != nil {
		t.Errorf("hostRecursors of a missing file = %q, want none", got)
	}
	if !strings.Contains(logs.String(), "names outside the domain are refused") {
		t.Errorf("a missing resolv.conf is not logged: %s", logs.String())
	}
}

// gatewayAt is an engine whose berth network has its gateway on a
// loopback address, so that a test can serve there; it counts the
// lookups.
type gatewayAt struct {
	runtime.Runtime
	gateway string
	lookups atomic.Int64
}

func (g *gatewayAt) InspectNetwork(ctx context.Context, name string) (runtime.Network, error) {
	n, err := g.Runtime.InspectNetwork(ctx, name)
	n.Gateway = g.gateway
	g.lookups.Add(1)
	return n, err
}

// TestContainerDNSSharedAddress: of two controllers whose container DNS
// is on one address, one serves it, the other says so once however often
// it tries again, and serves it once the first has stopped. Both give
// their containers that address, with the berth network made when it is
// missing. Names outside the domain are forwarded to the recursors.
func TestContainerDNSSharedAddress(t *testing.T) {
	t.Parallel()
	recursor := startRecursor(t, "outside.example.", "192.0.2.99")
	dnsPort, httpPort := strconv.Itoa(testenv.FreePort(t)), strconv.Itoa(testenv.FreePort(t))
	newOne := func(name, answer string, logs io.Writer) (*containerDNS, *gatewayAt) {
		cat := catalog.NewMemory()
		cat.PutEndpoint(catalog.Endpoint{ID: "web-1", Service: "web", Host: name, Address: answer, Port: 80, Source: catalog.SourceAgent}, 1)
		rt := &gatewayAt{Runtime: fake.New(), gateway: "127.0.0.1"}
		api := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) })}
		cfg := Config{DNSDomain: "berth.", DNSRecursors: []string{recursor}}
		c := newContainerDNS(cfg, rt, cat, api, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8500}, nil, slog.New(slog.NewTextHandler(logs, nil)))
		c.dnsPort, c.httpPort, c.recheck = dnsPort, httpPort, 20*time.Millisecond
		return c, rt
	}
	server := "127.0.0.1:" + dnsPort
	answers := func(name, want string) func() (bool, string) {
		return func() (bool, string) {
			r, err := exchange(server, name)
			if err != nil {
				return false, err.Error()
			}
			if len(r.Answer) != 1 {
				return false, r.String()
			}
			a, ok := r.Answer[0].(*dns.A)
			return ok && a.A.String() == want, r.String()
		}
	}
	httpFrom := func(want string) func() (bool, string) {
		return func() (bool, string) {
			res, err := http.Get("http://127.0.0.1:" + httpPort + "/")
			if err != nil {
				return false, err.Error()
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return string(b) == want, string(b)
		}
	}

	a, _ := newOne("host-a", "192.0.2.10", io.Discard)
	actx, stopA := context.WithCancel(context.Background())
	aDone := make(chan struct{})
	go func() { defer close(aDone); a.Run(actx) }()
	t.Cleanup(func() { stopA(); <-aDone })
	eventually(t, 10*time.Second, "host-a's container DNS answers", answers("web.service.berth.", "192.0.2.10"))
	eventually(t, 10*time.Second, "host-a's container HTTP API answers", httpFrom("host-a"))
	eventually(t, 10*time.Second, "a name outside the domain is forwarded", answers("outside.example.", "192.0.2.99"))

	logs := &testenv.Buffer{}
	logged := logs.String
	b, brt := newOne("host-b", "192.0.2.20", logs)
	bctx, stopB := context.WithCancel(context.Background())
	bDone := make(chan struct{})
	go func() { defer close(bDone); b.Run(bctx) }()
	t.Cleanup(func() { stopB(); <-bDone })
	eventually(t, 10*time.Second, "host-b tried the address five times", func() (bool, string) {
		return brt.lookups.Load() >= 5, fmt.Sprint(brt.lookups.Load(), " lookups")
	})
	r, err := b.resolver()(context.Background())
	if err != nil || r.Nameserver != "127.0.0.1" || r.Search != "service.berth" || r.HTTPAddress != "127.0.0.1:"+httpPort {
		t.Errorf("host-b's resolver = %+v, %v; want the shared address, service.berth and its HTTP port", r, err)
	}
	if _, err := brt.Runtime.InspectNetwork(context.Background(), "berth"); err != nil {
		t.Errorf("the berth network was not made: %v", err)
	}
	for _, what := range []string{"container DNS", "container HTTP API"} {
		if n := strings.Count(logged(), `msg="`+what+`: the address is served by another process`); n != 1 {
			t.Errorf("host-b said %d times that %s is served by another process, want once:\n%s", n, what, logged())
		}
	}
	if ok, last := answers("web.service.berth.", "192.0.2.10")(); !ok {
		t.Errorf("host-a no longer answers: %s", last)
	}

	stopA()
	<-aDone
	eventually(t, 10*time.Second, "host-b's container DNS answers once host-a's stopped", answers("web.service.berth.", "192.0.2.20"))
	eventually(t, 10*time.Second, "host-b's container HTTP API answers once host-a's stopped", httpFrom("host-b"))
}

// startRecursor serves name A addr on a loopback UDP port and returns
// its address.
func startRecursor(t *testing.T, name, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(name, func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP(addr)}}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func exchange(server, name string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, server)
	return r, err
}
