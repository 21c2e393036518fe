package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// TestContainerDNS proves discovery from inside containers, with nothing
// to configure: two hosts (controllers on one etcd, sharing this engine)
// with the default --container-dns, the berth network's gateway, which
// one of them serves while the other says so once. A Unit's container
// resolves, and fetches by name from, a service of its own host and one
// of the other host, by its full name and by the search domain; resolves
// a name outside the domain through a recursor the test runs on loopback
// (forwarded by the controller); reads the Consul API (health with
// ?passing, a blocking query) through CONSUL_HTTP_ADDR, and may write only
// with the token. A container on the host's network keeps the host's
// resolver; a plain docker run --dns on Docker's bridge opts in.
func TestContainerDNS(t *testing.T) {
	t.Parallel()
	outside := "outside-" + randomSuffix(6) + ".example."
	recursor := startRecursor(t, outside, "192.0.2.123")
	token := "container-dns-" + randomSuffix(16)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := []string{"--container-dns", "", "--dns-recursor", recursor, "--api-token-file", tokenFile, "--allow-host-network"}
	a := newUnitHost(t, controllerOpts{extra: extra}, false)
	b := newUnitHost(t, controllerOpts{etcdEndpoints: a.etcd, extra: extra}, false)
	gateway := mustDocker(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", v1.NetworkName)
	if net.ParseIP(gateway) == nil {
		t.Fatalf("the berth network's gateway: %q", gateway)
	}

	// One serves the address, the other says so once.
	serving := `msg="serving DNS for containers" component=container-dns listen=` + gateway + ":53"
	other := `msg="container DNS: the address is served by another process`
	eventually(t, 30*time.Second, "one controller serves the container DNS, the other says so", func() (bool, string) {
		la, lb := a.c.log(), b.c.log()
		one := strings.Contains(la, serving) && strings.Contains(lb, other) || strings.Contains(lb, serving) && strings.Contains(la, other)
		return one, "host a:\n" + grep(la, "container") + "host b:\n" + grep(lb, "container")
	})
	for _, h := range []*unitHost{a, b} {
		if n := strings.Count(h.c.log(), other); n > 1 {
			t.Errorf("%s said %d times that the address is served by another process, want at most once", h.name, n)
		}
	}

	files := func(h *unitHost, short string) string {
		return h.doc(short, testapp(`    env:
      - {name: MESSAGE, value: from-`+h.unit(short)+`}
      - {name: SERVICE_NAME, value: `+h.unit(short)+`-web}
    ports: [{name: http, containerPort: 8080}]
`, ""))
	}
	hostNetPort := strconv.Itoa(testenv.FreePort(t))
	a.apply(files(a, "files"),
		a.doc("client", testapp("", "")),
		a.doc("hostnet", testapp("    networkMode: host\n    args: [--listen, 127.0.0.1:"+hostNetPort+"]\n", "")))
	b.apply(files(b, "files"))
	portA := hostPort(t, a.waitRunning("files", time.Minute), "http")
	portB := hostPort(t, b.waitRunning("files", time.Minute), "http")
	a.waitRunning("client", time.Minute)
	a.waitRunning("hostnet", time.Minute)
	client := a.container("client")
	run := func(args ...string) (string, error) {
		return docker(append([]string{"exec", client, "/testapp"}, args...)...)
	}

	// The container's resolver is the gateway, with service.berth to
	// search.
	if dnsConf := mustDocker(t, "inspect", "-f", "{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}}", client); dnsConf != fmt.Sprintf(`["%s"] ["service.berth"]`, gateway) {
		t.Errorf("the client's resolver configuration: %s; want the gateway %s and service.berth", dnsConf, gateway)
	}
	if conf, err := run("cat", "/etc/resolv.conf"); err != nil || !strings.Contains(conf, "search service.berth") {
		t.Errorf("the client's /etc/resolv.conf: %v\n%s", err, conf)
	}

	// Services of both hosts, by their names and by the search domain,
	// fetched by name. (The Units' own names are their containers' on
	// this engine's berth network, which Docker's embedded DNS answers
	// first.)
	svcA, svcB := a.unit("files")+"-web", b.unit("files")+"-web"
	for _, tc := range []struct {
		name, from string
		port       int
	}{
		{svcA + ".service.berth", "from-" + a.unit("files"), portA},
		{svcB + ".service.berth", "from-" + b.unit("files"), portB},
		{svcB, "from-" + b.unit("files"), portB},
	} {
		eventually(t, 30*time.Second, "the client resolves "+tc.name, func() (bool, string) {
			out, err := run("hosts", tc.name)
			return err == nil && len(strings.Fields(out)) >= 2, fmt.Sprint(err, ": ", out)
		})
		url := fmt.Sprintf("http://%s:%d/", tc.name, tc.port)
		eventually(t, 30*time.Second, "the client fetches "+url, func() (bool, string) {
			out, err := run("get", url)
			return err == nil && strings.Contains(out, "message="+tc.from), fmt.Sprint(err, ": ", out)
		})
	}
	if out, err := run("hosts", "nothere-"+a.sfx+".service.berth"); err == nil {
		t.Errorf("a service that does not exist resolves: %s", out)
	}

	// A name outside the domain, through the recursor on loopback.
	eventually(t, 30*time.Second, "the client resolves "+outside, func() (bool, string) {
		out, err := run("hosts", strings.TrimSuffix(outside, "."))
		return err == nil && strings.HasPrefix(out, "192.0.2.123 "), fmt.Sprint(err, ": ", out)
	})

	// A plain container on Docker's bridge that asks for it.
	plain := "e2e-cdns-" + a.sfx
	t.Cleanup(func() { _, _ = docker("rm", "-f", plain) })
	if out, err := docker("run", "--name", plain, "--dns", gateway, testImage, "hosts", svcA+".service.berth"); err != nil || !strings.Contains(out, svcA+".service.berth") {
		t.Errorf("docker run --dns %s on the bridge: %v: %s", gateway, err, out)
	}

	// The host's network keeps the host's resolver.
	hostConf, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := docker("exec", a.container("hostnet"), "/testapp", "cat", "/etc/resolv.conf"); err != nil || out != strings.TrimSpace(string(hostConf)) {
		t.Errorf("resolv.conf of a container on the host's network:\n%s\n(%v), want the host's:\n%s", out, err, hostConf)
	}
	if dnsConf := mustDocker(t, "inspect", "-f", "{{json .HostConfig.Dns}}", a.container("hostnet")); dnsConf != "[]" && dnsConf != "null" {
		t.Errorf("a container on the host's network was given nameservers %s", dnsConf)
	}

	// The Consul API, from inside: reads open, writes with the token.
	apiAddr, err := run("env", "CONSUL_HTTP_ADDR")
	if _, port, _ := net.SplitHostPort(a.c.listen); err != nil || apiAddr != net.JoinHostPort(gateway, port) {
		t.Fatalf("CONSUL_HTTP_ADDR in the client = %q (%v), want the gateway and host a's --listen port", apiAddr, err)
	}
	api := "http://" + apiAddr
	health := api + "/v1/health/service/" + svcB + "?passing"
	out, err := run("http", "GET", health)
	if err != nil || !strings.HasPrefix(out, "200 ") || !strings.Contains(out, fmt.Sprintf(`"Port":%d`, portB)) {
		t.Errorf("GET %s from the client: %v: %s", health, err, out)
	}
	index := healthIndex(t, a, svcB)
	blocked := make(chan string, 1)
	go func() {
		out, err := run("http", "GET", fmt.Sprintf("%s&index=%d&wait=50s", health, index))
		blocked <- fmt.Sprint(err, ": ", out)
	}()
	consistently(t, time.Second, "the blocking query waits for a change", func() (bool, string) {
		select {
		case got := <-blocked:
			blocked <- got
			return false, got
		default:
			return true, ""
		}
	})
	if out, errOut, code := applyctl(t, a.etcd, "", "stop", "unit", b.unit("files")); code != 0 {
		t.Fatalf("stop unit: exit %d: %s%s", code, out, errOut)
	}
	select {
	case got := <-blocked:
		if !strings.HasPrefix(got, "<nil>: 200 ") || strings.Contains(got, fmt.Sprintf(`"Port":%d`, portB)) {
			t.Errorf("the blocking query answered %s; want 200 without the stopped endpoint", got)
		}
	case <-time.After(45 * time.Second):
		t.Errorf("the blocking query did not answer when %s stopped", b.unit("files"))
	}

	register := api + "/v1/agent/service/register"
	svc := fmt.Sprintf(`{"Name":"%s","Port":9999}`, a.unit("self"))
	if out, err := run("http", "PUT", register, svc); err == nil || !strings.HasPrefix(out, "403 Permission denied") {
		t.Errorf("PUT %s without the token from the client: %v: %s; want 403", register, err, out)
	}
	if out, err := run("http", "PUT", register+"?token="+token, svc); err != nil || !strings.HasPrefix(out, "200") {
		t.Errorf("PUT %s with the token from the client: %v: %s", register, err, out)
	}
	eventually(t, 30*time.Second, "the service registered with the token resolves", func() (bool, string) {
		out, err := run("hosts", a.unit("self"))
		return err == nil, fmt.Sprint(err, ": ", out)
	})
}

// healthIndex returns the X-Consul-Index of host h's health of service.
func healthIndex(t *testing.T, h *unitHost, service string) uint64 {
	t.Helper()
	_, meta, err := h.c.consulClient(nil).Health().Service(service, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return meta.LastIndex
}

// startRecursor serves name A addr over UDP and TCP on a loopback port,
// as an upstream resolver would, and returns its address.
func startRecursor(t *testing.T, name, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		if q.Question[0].Name != name {
			m.Rcode = dns.RcodeNameError
		} else if q.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.ParseIP(addr)}}
		}
		_ = w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}
