package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// Ports inside each namespace: every namespace has its own, so they are
// the same on every simulated machine.
const (
	mhEtcdClientPort = 2379
	mhEtcdPeerPort   = 2380
	mhAPIPort        = 8500
	mhDNSPort        = 8600
)

// multiHost is three machines simulated by network namespaces on one
// bridge: an etcd member and a controller in each, with TLS everywhere and
// etcd's roles, sharing the machine's Docker engine.
type multiHost struct {
	t     *testing.T
	lab   *netLab
	certs string   // hack/certs.sh's directory
	hosts []string // host names, host i in namespace i
	etcd  []*nsProc
	ctl   []*nsProc
	api   *http.Client // trusts the cluster's CA
	unit  string       // the Unit and its Service
}

// TestMultiHost runs a three-host deployment on one machine: three
// network namespaces on a bridge, a 3-member etcd cluster with TLS and
// roles across them, and a controller in each. A Unit with two replicas
// runs on two hosts and its service resolves over DNS from the third;
// when one running host is cut off, it shows DOWN, its instance moves to
// the third host and DNS stops answering its address; when it is plugged
// back in, it is UP again, its etcd member is healthy, its stale container
// is removed and DNS answers the two running hosts.
func TestMultiHost(t *testing.T) {
	requireNetns(t)
	requireDocker(t)
	etcdBin := testenv.RequireEtcdBinary(t)
	for _, tool := range []string{"etcdctl", "dig", "openssl"} {
		_, err := exec.LookPath(tool)
		testenv.Require(t, err == nil, "%s not found on PATH", tool)
	}
	m := &multiHost{t: t, lab: newNetLab(t, 3), certs: filepath.Join(t.TempDir(), "certs")}
	m.unit = "web-" + m.lab.sfx
	for i := range m.lab.ns {
		m.hosts = append(m.hosts, fmt.Sprintf("h%d-%s", i+1, m.lab.sfx))
	}
	t.Cleanup(m.logOnFailure)

	for i, ns := range m.lab.ns {
		hackCerts(t, m.certs, "etcd", m.member(i), ns.addr)
		hackCerts(t, m.certs, "controller", m.hosts[i], ns.addr)
	}
	hackCerts(t, m.certs, "operator", "root")
	hackCerts(t, m.certs, "operator", "alice")
	m.api = m.apiClient()

	m.startEtcd(etcdBin)
	hackEtcdAuth(t, m.certs, m.endpoints(0, 1, 2), "enable")
	for _, h := range m.hosts {
		hackEtcdAuth(t, m.certs, m.endpoints(0, 1, 2), "host", h)
	}
	hackEtcdAuth(t, m.certs, m.endpoints(0, 1, 2), "operator", "alice")
	m.startControllers()

	unit := writeFile(t, "web.yaml", fmt.Sprintf(`apiVersion: berth.dev/v1
kind: Unit
metadata: {name: %[1]s, labels: {app: %[1]s}}
spec:
  container:
    image: %[2]s
    ports: [{name: http, containerPort: 8080}]
  placement: {hosts: [%[3]s], replicas: 2}
---
apiVersion: berth.dev/v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  port: http
`, m.unit, testImage, strings.Join(m.hosts, ", ")))
	all := m.endpoints(0, 1, 2)
	if out, errOut, code := m.applyctl(all, "apply", "-f", unit); code != 0 {
		t.Fatalf("apply as operator alice: exit %d: %s%s", code, out, errOut)
	}

	// Two instances on two different hosts.
	var running []int
	eventually(t, 120*time.Second, "2 instances RUNNING on two hosts", func() (bool, string) {
		var desc string
		running, _, desc = m.runningOn(all)
		return len(running) == 2, desc
	})
	// The host cut off is the leading controller when it runs an
	// instance: then the cluster-wide loops must move to another host
	// before anything is rescheduled.
	leader := m.leader()
	cut, stay := running[1], running[0]
	if leader == stay {
		cut, stay = stay, cut
	}
	idle := 3 - cut - stay
	t.Logf("%s runs on %s and %s; %s runs none; %s leads; %s", m.unit, m.hosts[stay], m.hosts[cut], m.hosts[idle],
		m.hosts[leader], m.etcdLeader())

	// Resolved over DNS from the namespace that runs none, against a
	// controller in another namespace.
	name := m.unit + ".service.berth."
	eventually(t, 30*time.Second, name+" from "+m.lab.ns[idle].name+" answering "+m.addrs(stay, cut), func() (bool, string) {
		got, desc := m.dig(idle, stay, name, "A")
		return slices.Equal(got, m.addrList(stay, cut)), desc
	})
	eventually(t, 30*time.Second, name+" SRV naming "+m.hosts[stay]+" and "+m.hosts[cut], func() (bool, string) {
		got, desc := m.dig(idle, stay, name, "SRV")
		return len(got) == 2 && srvTargets(got, m.hosts[stay], m.hosts[cut]), desc
	})

	// Cut one running host off: the others see it DOWN, its instance
	// moves to the idle host, and DNS forgets its address.
	// The hosts that stay connected keep their leases through the cut:
	// their alive keys are the same keys (same create revision) after it.
	aliveBefore := m.aliveRevisions(stay, idle)
	t.Logf("cutting %s (%s) off", m.hosts[cut], m.lab.ns[cut].name)
	m.lab.cut(cut)
	rest := m.endpoints(stay, idle)
	eventually(t, 60*time.Second, m.hosts[cut]+" shown DOWN, the others UP", func() (bool, string) {
		states, desc := m.hostStates(rest)
		return states[m.hosts[cut]] == v1.HostDown && states[m.hosts[stay]] == v1.HostUp &&
			states[m.hosts[idle]] == v1.HostUp, desc
	})
	eventually(t, 120*time.Second, m.unit+" RUNNING on "+m.hosts[stay]+" and "+m.hosts[idle], func() (bool, string) {
		on, desc := m.runningOnUp(rest)
		return slices.Equal(on, []int{min(stay, idle), max(stay, idle)}), desc
	})
	eventually(t, 30*time.Second, m.hosts[cut]+"'s endpoint gone from the catalog, "+m.hosts[idle]+"'s there", func() (bool, string) {
		out, errOut, code := m.applyctl(rest, "get", "endpoints", m.unit)
		return code == 0 && !strings.Contains(out, m.hosts[cut]) && strings.Contains(out, m.hosts[stay]) &&
			strings.Contains(out, m.hosts[idle]), out + errOut
	})
	for _, server := range []int{stay, idle} {
		eventually(t, 30*time.Second, name+" from "+m.hosts[server]+"'s DNS answering "+m.addrs(stay, idle), func() (bool, string) {
			got, desc := m.dig(idle, server, name, "A")
			return slices.Equal(got, m.addrList(stay, idle)), desc
		})
	}

	if after := m.aliveRevisions(stay, idle); !maps.Equal(after, aliveBefore) {
		t.Errorf("a host that stayed connected lost its lease during the cut: alive keys created at %v before, %v after", aliveBefore, after)
	}

	// Plug it back in: it rejoins, its etcd member is healthy, it removes
	// its stale container and status, and every DNS server answers the two
	// running hosts.
	t.Logf("plugging %s (%s) back in", m.hosts[cut], m.lab.ns[cut].name)
	m.lab.restore(cut)
	eventually(t, 60*time.Second, "all three hosts UP", func() (bool, string) {
		states, desc := m.hostStates(all)
		return states[m.hosts[0]] == v1.HostUp && states[m.hosts[1]] == v1.HostUp && states[m.hosts[2]] == v1.HostUp, desc
	})
	eventually(t, 60*time.Second, "the three etcd members healthy", func() (bool, string) {
		out, err := m.etcdctl("endpoint", "health")
		return err == nil && strings.Count(out, "is healthy") == 3, fmt.Sprintf("%v: %s", err, out)
	})
	eventually(t, 60*time.Second, m.hosts[cut]+" without containers", func() (bool, string) {
		out, err := docker("ps", "-a", "--filter", "label="+v1.LabelHost+"="+m.hosts[cut], "--format", "{{.Names}} {{.Status}}")
		return err == nil && out == "", fmt.Sprintf("docker ps: %v: %q", err, out)
	})
	eventually(t, 60*time.Second, m.unit+" with exactly 2 instances, RUNNING on "+m.hosts[stay]+" and "+m.hosts[idle], func() (bool, string) {
		on, n, desc := m.runningOn(all)
		return n == 2 && slices.Equal(on, []int{min(stay, idle), max(stay, idle)}), desc
	})
	for server := range m.hosts {
		eventually(t, 30*time.Second, name+" from "+m.hosts[server]+"'s DNS answering "+m.addrs(stay, idle), func() (bool, string) {
			got, desc := m.dig(cut, server, name, "A")
			return slices.Equal(got, m.addrList(stay, idle)), desc
		})
	}
	for _, p := range append(slices.Clone(m.etcd), m.ctl...) {
		if gone, why := p.exited(); gone {
			t.Errorf("%s, want it running to the end", why)
		}
	}
}

// member is the etcd member name of namespace i.
func (m *multiHost) member(i int) string { return fmt.Sprintf("e%d-%s", i+1, m.lab.sfx) }

// endpoints are the etcd client URLs of the members of the namespaces
// given.
// aliveRevisions reads, through the members of namespaces ns, the create
// revision of the alive key of the hosts of ns.
func (m *multiHost) aliveRevisions(ns ...int) map[string]int64 {
	m.t.Helper()
	st := storeAs(m.t, m.certs, strings.Split(m.endpoints(ns...), ",")[0], "user-root")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]int64{}
	for _, i := range ns {
		kv, err := st.Get(ctx, store.AliveKey(m.hosts[i]))
		if err != nil {
			m.t.Fatalf("alive key of %s: %v", m.hosts[i], err)
		}
		out[m.hosts[i]] = kv.CreateRevision
	}
	return out
}

func (m *multiHost) endpoints(ns ...int) string {
	var eps []string
	for _, i := range ns {
		eps = append(eps, fmt.Sprintf("https://%s:%d", m.lab.ns[i].addr, mhEtcdClientPort))
	}
	return strings.Join(eps, ",")
}

// addrList is the sorted addresses of the namespaces given.
func (m *multiHost) addrList(ns ...int) []string {
	var out []string
	for _, i := range ns {
		out = append(out, m.lab.ns[i].addr)
	}
	slices.Sort(out)
	return out
}

// addrs is addrList for messages.
func (m *multiHost) addrs(ns ...int) string { return strings.Join(m.addrList(ns...), " and ") }

// apiClient returns an HTTPS client that trusts hack/certs.sh's CA.
func (m *multiHost) apiClient() *http.Client {
	m.t.Helper()
	ca, err := os.ReadFile(filepath.Join(m.certs, "ca.pem"))
	if err != nil {
		m.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		m.t.Fatal("hack/certs.sh's ca.pem is not PEM")
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	m.t.Cleanup(c.CloseIdleConnections)
	return c
}

// startEtcd starts one member in each namespace, with TLS for clients and
// peers, and waits until the three are healthy.
func (m *multiHost) startEtcd(bin string) {
	m.t.Helper()
	var initial []string
	for i, ns := range m.lab.ns {
		initial = append(initial, fmt.Sprintf("%s=https://%s:%d", m.member(i), ns.addr, mhEtcdPeerPort))
	}
	ca := filepath.Join(m.certs, "ca.pem")
	for i, ns := range m.lab.ns {
		dir := m.t.TempDir()
		cert := filepath.Join(m.certs, "etcd-"+m.member(i))
		client := fmt.Sprintf("https://%s:%d", ns.addr, mhEtcdClientPort)
		peer := fmt.Sprintf("https://%s:%d", ns.addr, mhEtcdPeerPort)
		m.etcd = append(m.etcd, m.lab.start(i, "etcd "+m.member(i), filepath.Join(dir, "etcd.log"), []string{"ETCD_"}, bin,
			"--name", m.member(i),
			"--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "berth-"+m.lab.sfx,
			"--max-txn-ops", "10000", "--max-request-bytes", "33554432", // as SECURITY.md
			"--cert-file", cert+".pem", "--key-file", cert+"-key.pem",
			"--trusted-ca-file", ca, "--client-cert-auth",
			"--peer-cert-file", cert+".pem", "--peer-key-file", cert+"-key.pem",
			"--peer-trusted-ca-file", ca, "--peer-client-cert-auth",
			"--heartbeat-interval", "100", "--election-timeout", "1000",
			"--logger", "zap", "--log-level", "warn"))
	}
	eventually(m.t, 60*time.Second, "the three etcd members healthy", func() (bool, string) {
		for _, p := range m.etcd {
			if gone, why := p.exited(); gone {
				m.t.Fatalf("%s\n%s", why, p.tail(30))
			}
		}
		out, err := m.etcdctl("endpoint", "health")
		return err == nil && strings.Count(out, "is healthy") == 3, fmt.Sprintf("%v: %s", err, out)
	})
}

// etcdctl runs etcdctl from the root namespace against the three members,
// as etcd's root user.
func (m *multiHost) etcdctl(args ...string) (string, error) {
	cmd := exec.Command("etcdctl", append([]string{"--endpoints", m.endpoints(0, 1, 2),
		"--cacert", filepath.Join(m.certs, "ca.pem"), "--cert", filepath.Join(m.certs, "user-root.pem"),
		"--key", filepath.Join(m.certs, "user-root-key.pem"), "--command-timeout", "5s"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startControllers starts a controller in each namespace, each with its
// host's etcd certificate, an HTTPS API on its address with a token, DNS
// on its address, and the machine's Docker engine, and waits until each
// is ready.
func (m *multiHost) startControllers() {
	m.t.Helper()
	token := writeFile(m.t, "api-token", randomSuffix(32)+"\n")
	for i, ns := range m.lab.ns {
		h := m.hosts[i]
		// Cleanups run last-in first-out: the controller is killed, then
		// its host's containers are removed.
		m.t.Cleanup(func() { removeHostContainers(m.t, h) })
		args := []string{filepath.Join(binDir, "controller"),
			"--host-name", h,
			"--etcd-endpoints", m.endpoints(0, 1, 2),
			"--listen", fmt.Sprintf("%s:%d", ns.addr, mhAPIPort),
			"--tls-cert", filepath.Join(m.certs, "host-"+h+"-api.pem"),
			"--tls-key", filepath.Join(m.certs, "host-"+h+"-api-key.pem"),
			"--api-token-file", token,
			"--dns-listen", fmt.Sprintf("%s:%d", ns.addr, mhDNSPort),
			"--advertise-address", ns.addr,
			"--heartbeat-ttl", "3s",
			"--reschedule-after", "3s",
			"--data-dir", m.t.TempDir(),
			"--allowed-host-paths", filepath.Join(m.t.TempDir(), "berth-volumes"),
			"--docker-host", "unix:///var/run/docker.sock",
		}
		args = append(args, etcdFlags(m.certs, "host-"+h)...)
		m.ctl = append(m.ctl, m.lab.start(i, "controller "+h, filepath.Join(m.t.TempDir(), h+".log"), []string{"BERTH_"}, args...))
	}
	for i, ns := range m.lab.ns {
		url := fmt.Sprintf("https://%s:%d/readyz", ns.addr, mhAPIPort)
		eventually(m.t, 60*time.Second, "controller "+m.hosts[i]+" ready at "+url, func() (bool, string) {
			if gone, why := m.ctl[i].exited(); gone {
				m.t.Fatalf("%s\n%s", why, m.ctl[i].tail(30))
			}
			resp, err := m.api.Get(url)
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == 200, resp.Status
		})
	}
}

var mhLeaderLine = regexp.MustCompile(`(?m)^berth_leader (\S+)$`)

// leader waits until exactly one controller says berth_leader 1 on its
// /metrics and returns its namespace.
func (m *multiHost) leader() int {
	m.t.Helper()
	var leader int
	eventually(m.t, 30*time.Second, "exactly one controller leads", func() (bool, string) {
		var leading []int
		for i, ns := range m.lab.ns {
			resp, err := m.api.Get(fmt.Sprintf("https://%s:%d/metrics", ns.addr, mhAPIPort))
			if err != nil {
				return false, err.Error()
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if v := mhLeaderLine.FindSubmatch(body); v != nil && string(v[1]) == "1" {
				leading = append(leading, i)
			}
		}
		if len(leading) == 1 {
			leader = leading[0]
		}
		return len(leading) == 1, fmt.Sprintf("leading: %v", leading)
	})
	return leader
}

// etcdLeader says which etcd member leads, for the log.
func (m *multiHost) etcdLeader() string {
	out, err := m.etcdctl("endpoint", "status", "-w", "json")
	if err != nil {
		return fmt.Sprintf("etcd endpoint status: %v: %s", err, out)
	}
	var sts []struct {
		Endpoint string
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			}
			Leader uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		return fmt.Sprintf("etcd endpoint status: %v: %s", err, out)
	}
	for _, s := range sts {
		if s.Status.Header.MemberID == s.Status.Leader {
			return "etcd's leader is " + s.Endpoint
		}
	}
	return "etcd has no leader"
}

// applyctl runs applyctl from the root namespace as operator alice against
// the etcd endpoints given.
func (m *multiHost) applyctl(endpoints string, args ...string) (string, string, int) {
	m.t.Helper()
	return applyctl(m.t, endpoints, "", append(etcdFlags(m.certs, "user-alice"), args...)...)
}

// hostStates returns every host's state as applyctl get hosts shows it.
func (m *multiHost) hostStates(endpoints string) (map[string]v1.HostState, string) {
	out, errOut, code := m.applyctl(endpoints, "get", "hosts", "-o", "json")
	if code != 0 {
		return nil, fmt.Sprintf("get hosts: exit %d: %s", code, errOut)
	}
	var list struct{ Items []v1.Host }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Sprintf("get hosts -o json: %v: %s", err, out)
	}
	states := map[string]v1.HostState{}
	var desc []string
	for _, h := range list.Items {
		states[h.Metadata.Name] = h.Status.State
		desc = append(desc, h.Metadata.Name+" "+string(h.Status.State))
	}
	return states, "hosts: " + strings.Join(desc, ", ")
}

// unitStatus returns the Unit as applyctl get unit -o json shows it, with
// its instances.
func (m *multiHost) unitStatus(endpoints string) (*v1.Unit, string) {
	out, errOut, code := m.applyctl(endpoints, "get", "unit", m.unit, "-o", "json")
	if code != 0 {
		return nil, fmt.Sprintf("get unit %s: exit %d: %s", m.unit, code, errOut)
	}
	var u v1.Unit
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		return nil, fmt.Sprintf("get unit -o json: %v: %s", err, out)
	}
	var desc []string
	if u.Status != nil {
		for _, in := range u.Status.Instances {
			desc = append(desc, describeInstance(in))
		}
	}
	return &u, fmt.Sprintf("%s instances: [%s]", m.unit, strings.Join(desc, "; "))
}

// runningOn returns the namespaces (sorted) whose host reports a RUNNING
// instance of the Unit, and how many instances the Unit lists.
func (m *multiHost) runningOn(endpoints string) ([]int, int, string) {
	u, desc := m.unitStatus(endpoints)
	if u == nil || u.Status == nil {
		return nil, 0, desc
	}
	var on []int
	for _, in := range u.Status.Instances {
		if i := slices.Index(m.hosts, in.Host); i >= 0 && in.State == v1.StateRunning {
			on = append(on, i)
		}
	}
	slices.Sort(on)
	return on, len(u.Status.Instances), desc
}

// runningOnUp is runningOn counting only the hosts shown UP. The instance
// of a DOWN host is listed as that host last reported it (RUNNING, for a
// host cut off): only the host writes its status.
func (m *multiHost) runningOnUp(endpoints string) ([]int, string) {
	on, _, desc := m.runningOn(endpoints)
	states, hdesc := m.hostStates(endpoints)
	on = slices.DeleteFunc(on, func(i int) bool { return states[m.hosts[i]] != v1.HostUp })
	return on, desc + "; " + hdesc
}

// dig asks the DNS server of namespace server for name, from inside
// namespace from, and returns the answers of +short, sorted.
func (m *multiHost) dig(from, server int, name, qtype string) ([]string, string) {
	args := []string{"dig", "@" + m.lab.ns[server].addr, "-p", fmt.Sprint(mhDNSPort), name, qtype, "+short", "+time=2", "+tries=1"}
	out, err := m.lab.run(from, args...)
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			got = append(got, line)
		}
	}
	slices.Sort(got)
	return got, fmt.Sprintf("from %s: %s: %v %q", m.lab.ns[from].name, strings.Join(args, " "), err, out)
}

// srvTargets reports whether the SRV answers (priority weight port target)
// name exactly the hosts given.
func srvTargets(answers []string, hosts ...string) bool {
	var got, want []string
	for _, a := range answers {
		f := strings.Fields(a)
		if len(f) != 4 {
			return false
		}
		got = append(got, f[3])
	}
	for _, h := range hosts {
		want = append(want, h+".node.berth.")
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// logOnFailure shows the last lines of every etcd member's and
// controller's log when the test failed.
func (m *multiHost) logOnFailure() {
	if !m.t.Failed() {
		return
	}
	for _, p := range append(slices.Clone(m.etcd), m.ctl...) {
		m.t.Log(p.tail(40))
	}
}
