package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// The tests of this file prove issue 5 (service discovery and health)
// against the real binaries, the real Docker engine and etcd, through the
// real github.com/hashicorp/consul/api client, miekg/dns and dig.
//
// Every controller registers the published ports of every container of its
// engine, so a plain container one test runs is also registered by the
// controllers of the tests running beside it, each in its own catalog
// under its own host name. So each test uses service names of its own and
// asserts only what its own host registered; it removes its plain
// containers by name.

// TestDiscoveryWalkThrough is the seed's walk-through: a container started
// with a plain docker run is found by HTTP and DNS, leaves DNS (but not the
// catalog, where it is critical) while its check fails, comes back when the
// check passes again, and leaves the catalog when it stops.
func TestDiscoveryWalkThrough(t *testing.T) {
	t.Parallel()
	h := newDiscoveryHost(t, controllerOpts{})
	cl, server := h.c.consulClient(nil), h.c.dnsAddr()
	svc, name := "files-"+h.sfx, "e2e-d-"+h.sfx+"-files"
	flags := t.TempDir()
	port := testenv.FreePort(t)
	start := time.Now()
	runPlain(t, name, "-e", "SERVICE_NAME="+svc, "-e", "SERVICE_CHECK_HTTP=/healthz", "-e", "SERVICE_CHECK_INTERVAL=1s",
		"-p", fmt.Sprintf("%d:8080", port), "-v", flags+":/flags",
		testImage, "--listen", ":8080", "--unhealthy-file", "/flags/sick")

	eventually(t, 15*time.Second, svc+" in /v1/catalog/service", func() (bool, string) {
		eps, last := endpointsOn(cl, svc, h.name)
		return len(eps) == 1 && eps[0].ServicePort == port && eps[0].ServiceAddress == "127.0.0.1" &&
			eps[0].ServiceID == fmt.Sprintf("%s:%s:8080", h.name, name), last
	})
	fqdn := svc + ".service.berth"
	eventually(t, 15*time.Second, fqdn+" resolves", func() (bool, string) {
		return resolvesTo(server, fqdn, "127.0.0.1")
	})
	t.Logf("docker run → resolvable by DNS in %s", time.Since(start).Round(time.Millisecond))
	srv, last := srvPorts(server, fqdn)
	if want := fmt.Sprintf("1 1 %d %s.node.berth.", port, h.name); !slices.Equal(srv, []string{want}) {
		t.Errorf("SRV %s = %q, want [%q]; %s", fqdn, srv, want, last)
	}

	// A failing check takes it out of DNS; the catalog keeps it, critical,
	// with the check's output.
	if err := os.WriteFile(filepath.Join(flags, "sick"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sick := time.Now()
	eventually(t, 10*time.Second, fqdn+" NXDOMAIN while its check fails", func() (bool, string) {
		return nxdomain(server, fqdn)
	})
	t.Logf("check failing → NXDOMAIN in %s", time.Since(sick).Round(time.Millisecond))
	if eps, last := endpointsOn(cl, svc, h.name); len(eps) != 1 {
		t.Errorf("a critical endpoint left the catalog: %s", last)
	}
	c, last := serviceCheck(cl, svc, h.name)
	if c == nil || c.Status != consul.HealthCritical || !strings.Contains(c.Output, "503") {
		t.Errorf("health of the failing endpoint: %s; want critical with a 503 in the output", last)
	}
	out, errOut, code := applyctl(t, h.etcd, "", "get", "endpoints", svc)
	row := tableRow(out, fmt.Sprintf("%s:%s:8080", h.name, name))
	if code != 0 || len(row) < 7 || row[5] != "critical" || !strings.Contains(strings.Join(row[6:], " "), "503") {
		t.Errorf("get endpoints %s: exit %d, row %q, want critical with the check's 503:\n%s%s", svc, code, row, out, errOut)
	}

	// Fixing the check brings it back.
	if err := os.Remove(filepath.Join(flags, "sick")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, fqdn+" resolves again once its check passes", func() (bool, string) {
		return resolvesTo(server, fqdn, "127.0.0.1")
	})
	if c, last := serviceCheck(cl, svc, h.name); c == nil || c.Status != consul.HealthPassing {
		t.Errorf("health after the fix: %s", last)
	}

	// Stopping the container removes it from the catalog.
	mustDocker(t, "stop", "-t", "5", name)
	eventually(t, 10*time.Second, svc+" gone from the catalog once stopped", func() (bool, string) {
		eps, last := endpointsOn(cl, svc, h.name)
		return len(eps) == 0, last
	})
	if ok, last := nxdomain(server, fqdn); !ok {
		t.Errorf("%s after the container stopped: %s", fqdn, last)
	}
}

// TestDiscoveryConsulClient drives the controller with the real Consul
// client: services, health with passing only, an outside service with a
// TTL check, and a blocking query that returns on a change.
func TestDiscoveryConsulClient(t *testing.T) {
	t.Parallel()
	h := newDiscoveryHost(t, controllerOpts{})
	server := h.c.dnsAddr()
	// A transport that says when a request has been sent, so that the
	// blocking query below is known to be in flight before the change.
	sent := make(chan string, 16)
	cl := h.c.consulClient(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			select {
			case sent <- r.URL.RawQuery:
			default:
			}
			return next.RoundTrip(r)
		})
	})
	svc, name := "web-"+h.sfx, "e2e-d-"+h.sfx+"-web"
	port := testenv.FreePort(t)
	runPlain(t, name, "-e", "SERVICE_NAME="+svc, "-e", "SERVICE_TAGS=primary,v1", "-e", "SERVICE_CHECK_HTTP=/healthz",
		"-e", "SERVICE_CHECK_INTERVAL=1s", "-p", fmt.Sprintf("%d:8080", port), testImage, "--listen", ":8080")
	eventually(t, 15*time.Second, svc+" passing", func() (bool, string) {
		c, last := serviceCheck(cl, svc, h.name)
		return c != nil && c.Status == consul.HealthPassing, last
	})

	self, err := cl.Agent().Self()
	if err != nil || self["Config"]["NodeName"] != h.name {
		t.Errorf("agent/self: NodeName %v, err %v", self["Config"]["NodeName"], err)
	}
	services, meta, err := cl.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if tags := services[svc]; !slices.Contains(tags, "primary") || !slices.Contains(tags, "v1") {
		t.Errorf("catalog/services[%s] = %q, want the tags primary and v1", svc, tags)
	}
	if meta.LastIndex == 0 {
		t.Errorf("catalog/services without X-Consul-Index")
	}

	// An outside service of the same name, with a TTL check that starts
	// critical: Health passing-only leaves it out until the TTL is updated.
	ext := consul.AgentServiceRegistration{
		ID: "ext-" + h.sfx, Name: svc, Address: "127.0.0.2", Port: 9999, Tags: []string{"outside"},
		Check: &consul.AgentServiceCheck{CheckID: "ttl-" + h.sfx, TTL: "30s"},
	}
	if err := cl.Agent().ServiceRegister(&ext); err != nil {
		t.Fatalf("ServiceRegister: %v", err)
	}
	// The catalog the API reads is a watched copy of etcd: it may lag the
	// registration by the watch's delay.
	eventually(t, 5*time.Second, "outside service in the health of "+svc, func() (bool, string) {
		all, _, err := cl.Health().Service(svc, "", false, nil)
		ids := entryIDs(entriesOn(all, h.name))
		return err == nil && len(ids) == 2, fmt.Sprint(ids, err)
	})
	passing, _, err := cl.Health().Service(svc, "", true, nil)
	if ids := entryIDs(entriesOn(passing, h.name)); err != nil || !slices.Equal(ids, []string{fmt.Sprintf("%s:%s:8080", h.name, name)}) {
		t.Errorf("health passing-only of %s before the TTL update = %q (err %v), want only the container", svc, ids, err)
	}
	if ok, last := resolvesTo(server, "outside."+svc+".service.berth", "127.0.0.2"); ok {
		t.Errorf("an outside service whose TTL check is critical resolves: %s", last)
	}

	if err := cl.Agent().UpdateTTL("ttl-"+h.sfx, "fine", consul.HealthPassing); err != nil {
		t.Fatalf("UpdateTTL: %v", err)
	}
	eventually(t, 5*time.Second, "health passing-only lists the container and the outside service", func() (bool, string) {
		passing, _, err := cl.Health().Service(svc, "", true, nil)
		ids := entryIDs(entriesOn(passing, h.name))
		return err == nil && len(ids) == 2, fmt.Sprint(ids, err)
	})
	eventually(t, 5*time.Second, "outside service resolvable by its tag", func() (bool, string) {
		return resolvesTo(server, "outside."+svc+".service.berth", "127.0.0.2")
	})

	// A blocking query on a scope that does not change blocks for its wait.
	_, qm, err := cl.Health().Service(svc, "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, qm2, err := cl.Health().Service(svc, "", false, &consul.QueryOptions{WaitIndex: qm.LastIndex, WaitTime: time.Second})
	if held := time.Since(began); err != nil || held < 900*time.Millisecond || qm2.LastIndex < qm.LastIndex {
		t.Errorf("blocking query without a change: held %s, index %d → %d, err %v; want held ~1s, index not back", held, qm.LastIndex, qm2.LastIndex, err)
	}

	// ... and returns promptly when an endpoint of the service changes.
	for len(sent) > 0 {
		<-sent
	}
	type result struct {
		at    time.Time
		index uint64
		err   error
	}
	done := make(chan result, 1)
	began = time.Now()
	go func() {
		_, m, err := cl.Health().Service(svc, "", false, &consul.QueryOptions{WaitIndex: qm2.LastIndex, WaitTime: 30 * time.Second})
		r := result{at: time.Now(), err: err}
		if m != nil {
			r.index = m.LastIndex
		}
		done <- r
	}()
	select {
	case <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("the blocking query was not sent")
	}
	changed := time.Now()
	if err := cl.Agent().UpdateTTL("ttl-"+h.sfx, "gone bad", consul.HealthCritical); err != nil {
		t.Fatalf("UpdateTTL critical: %v", err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.index <= qm2.LastIndex {
			t.Errorf("blocking query: index %d → %d, err %v", qm2.LastIndex, r.index, r.err)
		}
		t.Logf("blocking query returned %s after the change (%s after it was sent)", r.at.Sub(changed).Round(time.Millisecond), r.at.Sub(began).Round(time.Millisecond))
		if r.at.Sub(began) > 5*time.Second {
			t.Errorf("blocking query took %s to see the change, want < 5s", r.at.Sub(began))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query (wait 30s) did not return within 10s of a change of its service")
	}
	eventually(t, 5*time.Second, "outside service out of DNS once its TTL check is critical", func() (bool, string) {
		return nxdomain(server, "outside."+svc+".service.berth")
	})

	// Deregistering removes it; the container's endpoint stays.
	if err := cl.Agent().ServiceDeregister("ext-" + h.sfx); err != nil {
		t.Fatalf("ServiceDeregister: %v", err)
	}
	eventually(t, 5*time.Second, "only the container left in "+svc+" after ServiceDeregister", func() (bool, string) {
		all, _, err := cl.Health().Service(svc, "", false, nil)
		ids := entryIDs(entriesOn(all, h.name))
		return err == nil && slices.Equal(ids, []string{fmt.Sprintf("%s:%s:8080", h.name, name)}), fmt.Sprint(ids, err)
	})
	if ok, last := nxdomain(server, "outside."+svc+".service.berth"); !ok {
		t.Errorf("outside service after ServiceDeregister: %s", last)
	}
	if local, err := cl.Agent().Services(); err != nil || local["ext-"+h.sfx] != nil {
		t.Errorf("agent/services after ServiceDeregister still lists ext-%s (err %v)", h.sfx, err)
	}
}

// entriesOn keeps the health entries of node.
func entriesOn(es []*consul.ServiceEntry, node string) []*consul.ServiceEntry {
	var out []*consul.ServiceEntry
	for _, e := range es {
		if e.Node != nil && e.Node.Node == node {
			out = append(out, e)
		}
	}
	return out
}

// entryIDs returns the sorted service ids of health entries.
func entryIDs(es []*consul.ServiceEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Service.ID)
	}
	slices.Sort(out)
	return out
}

// TestDiscoveryDNS asks the controller's DNS server, with miekg/dns and
// with dig, for every kind of name it answers.
func TestDiscoveryDNS(t *testing.T) {
	t.Parallel()
	h := newDiscoveryHost(t, controllerOpts{})
	server := h.c.dnsAddr()
	svc, name := "db-"+h.sfx, "e2e-d-"+h.sfx+"-db"
	port := testenv.FreePort(t)
	runPlain(t, name, "-e", "SERVICE_NAME="+svc, "-e", "SERVICE_TAGS=primary", "-p", fmt.Sprintf("%d:8080", port), testImage)
	fqdn := svc + ".service.berth"
	eventually(t, 15*time.Second, fqdn+" resolves", func() (bool, string) {
		return resolvesTo(server, fqdn, "127.0.0.1")
	})
	node := h.name + ".node.berth."
	want := []string{fmt.Sprintf("1 1 %d %s", port, node)}
	for _, q := range []string{fqdn, "primary." + fqdn, "_" + svc + "._tcp.service.berth", "_" + svc + "._primary.service.berth"} {
		r, err := ask(server, "udp", q, dns.TypeSRV)
		got, last := srvPorts(server, q)
		if !slices.Equal(got, want) {
			t.Errorf("SRV %s = %q, want %q; %s", q, got, want, last)
			continue
		}
		if err != nil || len(r.Extra) < 1 || !strings.Contains(describeMsg(r, err), node+" 0 IN A 127.0.0.1") {
			t.Errorf("SRV %s: no A of %s in the additional section: %s", q, node, describeMsg(r, err))
		}
	}
	for _, q := range []string{"primary." + fqdn, strings.ToUpper(fqdn), node} {
		if ok, last := resolvesTo(server, q, "127.0.0.1"); !ok {
			t.Errorf("A %s: %s", q, last)
		}
	}
	for _, q := range []string{"secondary." + fqdn, "nope-" + h.sfx + ".service.berth", "nope-" + h.sfx + ".node.berth"} {
		if ok, last := nxdomain(server, q); !ok {
			t.Errorf("A %s: %s, want NXDOMAIN with the SOA", q, last)
		}
	}
	// The same over TCP.
	if r, err := ask(server, "tcp", fqdn, dns.TypeA); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("A %s over TCP: %s", fqdn, describeMsg(r, err))
	}
	// Outside the domain: refused (no --dns-recursor).
	if r, err := ask(server, "udp", "example.com", dns.TypeA); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("A example.com: %s, want REFUSED", describeMsg(r, err))
	}

	dig, err := exec.LookPath("dig")
	if err != nil {
		testenv.Require(t, false, "dig not installed (bind9-dnsutils)")
		return
	}
	host, p, _ := strings.Cut(server, ":")
	digShort := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(dig, append([]string{"@" + host, "-p", p, "+short", "+time=2", "+tries=1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("dig %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := digShort(fqdn, "SRV"); got != want[0] {
		t.Errorf("dig %s SRV +short = %q, want %q", fqdn, got, want[0])
	}
	if got := digShort("_"+svc+"._tcp.service.berth", "SRV"); got != want[0] {
		t.Errorf("dig _%s._tcp.service.berth SRV +short = %q, want %q", svc, got, want[0])
	}
	if got := digShort("primary."+fqdn, "A"); got != "127.0.0.1" {
		t.Errorf("dig primary.%s A +short = %q", fqdn, got)
	}
	if got := digShort(node, "A"); got != "127.0.0.1" {
		t.Errorf("dig %s A +short = %q", node, got)
	}
	out, _ := exec.Command(dig, "@"+host, "-p", p, "+time=2", "+tries=1", "nope-"+h.sfx+".service.berth").CombinedOutput()
	if !bytes.Contains(out, []byte("status: NXDOMAIN")) {
		t.Errorf("dig of an unknown service:\n%s", out)
	}
}

// serviceUnitDocs returns a Service selecting the Unit's labels on port
// http, with an HTTP check every second, and the Unit, pinned to the host,
// with gracePeriod grace when not "".
func serviceUnitDocs(h *unitHost, short, grace string) (svc, unit string, docs []string) {
	svc, unit = h.unit(short), h.unit(short)
	g := ""
	if grace != "" {
		g = "  gracePeriod: " + grace + "\n"
	}
	return svc, unit, []string{
		fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: %s}\n  port: http\n  checks: [{http: /healthz, interval: 1s}]\n", svc, unit),
		fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s, labels: {app: %s}}\nspec:\n  placement: {hosts: [%s]}\n%s  container:\n    image: %s\n    ports: [{name: http, containerPort: 8080}]\n", unit, unit, h.name, g, testImage),
	}
}

// TestDiscoveryServiceSelectsUnit: a Unit's container is registered under
// the Service that selects it, checked by the Service's check, and leaves
// the catalog with the Unit; with a gracePeriod, it leaves DNS before its
// container stops.
func TestDiscoveryServiceSelectsUnit(t *testing.T) {
	t.Parallel()
	h := newDiscoveryHost(t, controllerOpts{})
	server, cl := h.c.dnsAddr(), h.c.consulClient(nil)

	svc, unit, docs := serviceUnitDocs(h, "web", "")
	h.apply(docs...)
	in := h.waitRunning("web", 60*time.Second)
	port := hostPort(t, in, "http")
	fqdn := svc + ".service.berth"
	eventually(t, 15*time.Second, fqdn+" resolves", func() (bool, string) {
		return resolvesTo(server, fqdn, "127.0.0.1")
	})
	if got, last := srvPorts(server, fqdn); !slices.Equal(got, []string{fmt.Sprintf("1 1 %d %s.node.berth.", port, h.name)}) {
		t.Errorf("SRV %s = %q, want the Unit's host port %d; %s", fqdn, got, port, last)
	}
	eps, last := endpointsOn(cl, svc, h.name)
	if len(eps) != 1 || eps[0].ServiceID != fmt.Sprintf("%s:%s:8080", h.name, h.container("web")) {
		t.Errorf("catalog of %s: %s", svc, last)
	}
	// A container a Service selects is registered for that Service only,
	// not also under its image's name.
	if eps, _ := endpointsOn(cl, "testapp", h.name); slices.ContainsFunc(eps, func(e *consul.CatalogService) bool {
		return strings.Contains(e.ServiceID, h.container("web"))
	}) {
		t.Errorf("the selected container is also registered as testapp")
	}
	eventually(t, 10*time.Second, "get services shows "+svc+" passing", func() (bool, string) {
		out, errOut, code := applyctl(t, h.etcd, "", "get", "services")
		row := tableRow(out, svc)
		return code == 0 && len(row) >= 5 && row[1] == "1" && row[2] == "1" && row[4] == "0", out + errOut
	})

	// Deleting the Unit removes its endpoint.
	if out, errOut, code := applyctl(t, h.etcd, "", "delete", "unit", unit); code != 0 {
		t.Fatalf("delete unit: exit %d: %s%s", code, out, errOut)
	}
	eventually(t, 30*time.Second, svc+" empty once the Unit is deleted", func() (bool, string) {
		eps, last := endpointsOn(cl, svc, h.name)
		return len(eps) == 0, last
	})
	if ok, last := nxdomain(server, fqdn); !ok {
		t.Errorf("%s after the Unit was deleted: %s", fqdn, last)
	}

	// gracePeriod: out of DNS while the container still runs.
	gsvc, gunit, gdocs := serviceUnitDocs(h, "graceful", "2s")
	h.apply(gdocs...)
	h.waitRunning("graceful", 60*time.Second)
	gfqdn := gsvc + ".service.berth"
	eventually(t, 15*time.Second, gfqdn+" resolves", func() (bool, string) {
		return resolvesTo(server, gfqdn, "127.0.0.1")
	})
	if out, errOut, code := applyctl(t, h.etcd, "", "stop", "unit", gunit); code != 0 {
		t.Fatalf("stop unit: exit %d: %s%s", code, out, errOut)
	}
	stopped := time.Now()
	eventually(t, 10*time.Second, gfqdn+" NXDOMAIN after stop unit", func() (bool, string) {
		return nxdomain(server, gfqdn)
	})
	drained := time.Since(stopped)
	if state, err := inspect(h.container("graceful"), "{{.State.Status}}"); err != nil || state != "running" {
		t.Errorf("when %s left DNS (%s after stop unit) the container was %q (%v), want still running for the grace period",
			gfqdn, drained.Round(time.Millisecond), state, err)
	}
	h.waitInstance("graceful", "STOPPED", 30*time.Second, func(in v1.InstanceStatus) bool { return in.State == v1.StateStopped })
	t.Logf("gracePeriod 2s: out of DNS %s after stop unit, container stopped %s after it", drained.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	if got := containerTime(t, h.container("graceful"), "State.FinishedAt"); got.Sub(stopped) < 1500*time.Millisecond {
		t.Errorf("container finished %s after stop unit, want the 2s grace period first", got.Sub(stopped))
	}
}

// TestDiscoveryDeadHostEndpointsExpire: a controller killed with SIGKILL
// cannot deregister anything; its endpoints vanish with its lease, as
// another controller on the same etcd sees them, and come back when it
// starts again.
func TestDiscoveryDeadHostEndpointsExpire(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	etcd := testenv.EtcdProcess(t)
	ep := strings.Join(etcd.Endpoints(), ",")
	const ttl = 3 * time.Second
	dead := newDiscoveryHost(t, controllerOpts{etcdEndpoints: ep, ttl: "3s"})
	watcher := newDiscoveryHost(t, controllerOpts{etcdEndpoints: ep, ttl: "3s"})
	cl, server := watcher.c.consulClient(nil), watcher.c.dnsAddr()

	// One container endpoint (each controller registers the container
	// under its own host) and one outside service through the agent API of
	// the host that will die.
	svc, name := "app-"+dead.sfx, "e2e-d-"+dead.sfx+"-app"
	runPlain(t, name, "-e", "SERVICE_NAME="+svc, "-p", fmt.Sprintf("%d:8080", testenv.FreePort(t)), testImage)
	ext := "ext-" + dead.sfx
	if err := dead.c.consulClient(nil).Agent().ServiceRegister(&consul.AgentServiceRegistration{Name: ext, Address: "127.0.0.3", Port: 7000}); err != nil {
		t.Fatalf("ServiceRegister on the host that will die: %v", err)
	}
	present := func() (int, string) {
		a, l1 := endpointsOn(cl, svc, dead.name)
		b, l2 := endpointsOn(cl, ext, dead.name)
		return len(a) + len(b), l1 + "; " + l2
	}
	eventually(t, 15*time.Second, "both endpoints of the host seen by the other", func() (bool, string) {
		n, last := present()
		return n == 2, last
	})
	eventually(t, 5*time.Second, ext+" resolves through the other host", func() (bool, string) {
		return resolvesTo(server, ext+".service.berth", "127.0.0.3")
	})

	dead.c.kill() // SIGKILL to its process group: no lease revoked, nothing deregistered
	killed := time.Now()
	eventually(t, ttl+10*time.Second, "the dead host's endpoints gone", func() (bool, string) {
		n, last := present()
		return n == 0, last
	})
	gone := time.Since(killed)
	t.Logf("SIGKILL → endpoints gone from the other host's catalog in %s (lease TTL %s)", gone.Round(time.Millisecond), ttl)
	if gone > ttl+2*time.Second {
		t.Errorf("endpoints of a dead host went after %s, want within the lease TTL %s (+2s)", gone, ttl)
	}
	if ok, last := nxdomain(server, ext+".service.berth"); !ok {
		t.Errorf("%s after its host died: %s", ext, last)
	}
	if eps, last := endpointsOn(cl, svc, watcher.name); len(eps) != 1 {
		t.Errorf("the living host's own endpoint of %s: %s", svc, last)
	}

	// Restarted (same data directory), it registers both again.
	dead.c.start()
	eventually(t, 15*time.Second, "the host's endpoints back after a restart", func() (bool, string) {
		n, last := present()
		return n == 2, last
	})
	eventually(t, 5*time.Second, ext+" resolves again", func() (bool, string) {
		return resolvesTo(server, ext+".service.berth", "127.0.0.3")
	})
}

// TestDiscoveryAPIHostileInput: oversized and garbage bodies get 413 and
// 400 with a reason, and the controller keeps serving.
func TestDiscoveryAPIHostileInput(t *testing.T) {
	t.Parallel()
	h := newDiscoveryHost(t, controllerOpts{})
	url := "http://" + h.c.listen + "/v1/agent/service/register"
	put := func(body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	big := append([]byte(`{"Name":"big","Meta":{"x":"`), bytes.Repeat([]byte("a"), 2<<20)...)
	big = append(big, `"}}`...)
	if code, body := put(big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: %d %.200s, want 413", code, body)
	}
	for _, garbage := range []string{`{"Name": `, `not json at all`, `{"Name": 5}`, `[1,2,3]`, "\x00\xff\xfe"} {
		code, body := put([]byte(garbage))
		if code != http.StatusBadRequest || strings.TrimSpace(body) == "" {
			t.Errorf("body %q: %d %q, want 400 with a reason", garbage, code, body)
		}
	}
	if code, body := httpGet("http://" + h.c.listen + "/healthz"); code != 200 {
		t.Errorf("healthz after hostile input: %d %s", code, body)
	}
	cl := h.c.consulClient(nil)
	svc := "after-" + h.sfx
	if err := cl.Agent().ServiceRegister(&consul.AgentServiceRegistration{Name: svc, Address: "127.0.0.1", Port: 1234}); err != nil {
		t.Fatalf("a good registration after hostile input: %v", err)
	}
	eventually(t, 5*time.Second, "a good registration after hostile input in the catalog", func() (bool, string) {
		eps, last := endpointsOn(cl, svc, h.name)
		return len(eps) == 1 && eps[0].ServicePort == 1234, last
	})
	if ok, last := resolvesTo(h.c.dnsAddr(), svc+".service.berth", "127.0.0.1"); !ok {
		t.Errorf("DNS after hostile input: %s", last)
	}
}
