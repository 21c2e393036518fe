package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// The machines of the fault test: three network namespaces on a bridge
// (netLab), each with a member of a three-member etcd cluster (Debian's
// etcd, plain HTTP on the namespace's address) and a controller that
// talks to the whole cluster, all sharing the machine's Docker engine.
// Every process can be killed, frozen and started again, and every
// namespace cut off and plugged back in.

// Timings of the rig, which the checker's bounds are made of.
const (
	rigHeartbeatTTL    = 3 * time.Second // --heartbeat-ttl: a host's lease, and its endpoints'
	rigRescheduleAfter = 5 * time.Second // --reschedule-after
	rigElectionTimeout = time.Second     // etcd's --election-timeout
)

// faultRig is the machines of one fault test.
type faultRig struct {
	t         *testing.T
	lab       *netLab
	hosts     []string // host i runs in namespace i
	label     string   // host label fault=<label> on every host
	etcd      []*rigProc
	ctl       []*rigProc
	endpoints string         // client URLs of the members, comma-separated
	st        *store.Store   // of the whole cluster
	members   []*store.Store // of each member
}

// rigProc is a process of the rig that may be stopped and started again
// with the same arguments, in the same namespace, logging to one file.
type rigProc struct {
	lab     *netLab
	ns      int
	name    string
	args    []string
	drop    []string // environment variables left out, by prefix
	logPath string

	mu       sync.Mutex
	cur      *nsProc // nil while halted
	halted   *nsProc // the process halted last, until start
	haltedAt time.Time
}

// newFaultRig starts the namespaces, the etcd cluster and the
// controllers, and waits until every controller is ready.
func newFaultRig(t *testing.T) *faultRig {
	t.Helper()
	requireNetns(t)
	requireDocker(t)
	etcdBin := testenv.RequireEtcdBinary(t)
	r := &faultRig{t: t, lab: newNetLab(t, 3)}
	r.label = "f" + r.lab.sfx
	for i := range r.lab.ns {
		r.hosts = append(r.hosts, fmt.Sprintf("f%s-h%d", r.lab.sfx, i+1))
	}
	var initial, clients []string
	for i, ns := range r.lab.ns {
		initial = append(initial, fmt.Sprintf("m%d=http://%s:%d", i+1, ns.addr, mhEtcdPeerPort))
		clients = append(clients, fmt.Sprintf("http://%s:%d", ns.addr, mhEtcdClientPort))
	}
	r.endpoints = strings.Join(clients, ",")
	// The processes' logs outlive a failed test, for its post-mortem.
	logs, err := os.MkdirTemp("", "berth-fault-logs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the logs of every etcd member and controller are kept in %s", logs)
			return
		}
		os.RemoveAll(logs)
	})
	for i, ns := range r.lab.ns {
		peer := fmt.Sprintf("http://%s:%d", ns.addr, mhEtcdPeerPort)
		r.etcd = append(r.etcd, &rigProc{lab: r.lab, ns: i, name: fmt.Sprintf("etcd m%d", i+1),
			logPath: filepath.Join(logs, fmt.Sprintf("etcd-m%d.log", i+1)), drop: []string{"ETCD_"},
			args: []string{etcdBin, "--name", fmt.Sprintf("m%d", i+1), "--data-dir", filepath.Join(t.TempDir(), "etcd"),
				"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
				"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
				"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
				"--initial-cluster-token", "berth-" + r.lab.sfx,
				"--heartbeat-interval", "100", "--election-timeout", strconv.Itoa(int(rigElectionTimeout / time.Millisecond)),
				"--max-txn-ops", strconv.Itoa(store.EmbeddedMaxTxnOps),
				"--max-request-bytes", strconv.Itoa(store.EmbeddedMaxRequestBytes),
				"--logger", "zap", "--log-level", "warn"}})
	}
	for _, p := range r.etcd {
		p.start(t)
	}
	eventually(t, 60*time.Second, "the etcd cluster answering", func() (bool, string) {
		for _, p := range r.etcd {
			if gone, why := p.exited(); gone {
				t.Fatalf("%s\n%s", why, p.tail(30))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := store.New(ctx, store.Config{Endpoints: clients, DialTimeout: 2 * time.Second})
		if err == nil {
			if _, err = st.Revision(ctx); err != nil {
				st.Close()
			}
		}
		if err == nil {
			r.st = st
			t.Cleanup(func() { st.Close() })
		}
		return err == nil, fmt.Sprint(err)
	})
	// One client per member besides, for the checker: a client of the
	// whole cluster may wait seconds on a member that is frozen or cut off
	// before it tries another.
	for _, ep := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := store.New(ctx, store.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second})
		cancel()
		if err != nil {
			t.Fatalf("etcd client of %s: %v", ep, err)
		}
		t.Cleanup(func() { st.Close() })
		r.members = append(r.members, st)
	}

	for i, ns := range r.lab.ns {
		h := r.hosts[i]
		// Cleanups run last-in first-out: the controller is killed, then
		// its host's containers are removed.
		t.Cleanup(func() { removeHostContainers(t, h) })
		r.ctl = append(r.ctl, &rigProc{lab: r.lab, ns: i, name: "controller " + h,
			logPath: filepath.Join(logs, h+".log"), drop: []string{"BERTH_"},
			args: []string{filepath.Join(binDir, "controller"),
				"--host-name", h,
				"--host-labels", "fault=" + r.label,
				"--etcd-endpoints", r.endpoints,
				"--listen", fmt.Sprintf("%s:%d", ns.addr, mhAPIPort), "--insecure-http",
				"--dns-listen", fmt.Sprintf("%s:%d", ns.addr, mhDNSPort),
				"--advertise-address", ns.addr,
				"--heartbeat-ttl", rigHeartbeatTTL.String(),
				"--reschedule-after", rigRescheduleAfter.String(),
				"--data-dir", t.TempDir(),
				"--allowed-host-paths", filepath.Join(t.TempDir(), "berth-volumes"),
				"--docker-host", "unix:///var/run/docker.sock",
			}})
	}
	for _, p := range r.ctl {
		p.start(t)
	}
	for i := range r.ctl {
		r.waitReady(i, 60*time.Second)
	}
	t.Cleanup(r.logOnFailure)
	return r
}

// bridgeAddr is the root namespace's address on the bridge: where a
// container's port published on it is reached from every namespace.
func (r *faultRig) bridgeAddr() string { return r.lab.prefix + "254" }

// waitReady waits until controller i answers /readyz with 200.
func (r *faultRig) waitReady(i int, timeout time.Duration) {
	r.t.Helper()
	url := fmt.Sprintf("http://%s:%d/readyz", r.lab.ns[i].addr, mhAPIPort)
	eventually(r.t, timeout, r.ctl[i].name+" ready", func() (bool, string) {
		if gone, why := r.ctl[i].exited(); gone {
			r.t.Fatalf("%s\n%s", why, r.ctl[i].tail(30))
		}
		code, body := httpGet(url)
		return code == 200, fmt.Sprint(code, " ", body)
	})
}

// applyctl runs applyctl against the whole etcd cluster.
func (r *faultRig) applyctl(stdin string, args ...string) (string, string, int) {
	return applyctl(r.t, r.endpoints, stdin, args...)
}

// logOnFailure shows the end of every process's log when the test failed.
func (r *faultRig) logOnFailure() {
	if !r.t.Failed() {
		return
	}
	for _, p := range append(append([]*rigProc{}, r.etcd...), r.ctl...) {
		r.t.Log(p.tail(40))
	}
}

// start starts the process again once the one halted before has
// exited: it is killed when it has not exited stopGrace after it was
// halted.
func (p *rigProc) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		t.Fatalf("%s started twice", p.name)
	}
	if old := p.halted; old != nil {
		select {
		case <-old.done:
		case <-time.After(time.Until(p.haltedAt.Add(stopGrace))):
			old.kill()
		}
		p.halted = nil
	}
	p.cur = p.lab.start(p.ns, p.name, p.logPath, p.drop, p.args...)
}

// stopGrace is how long a process halted with SIGTERM has to exit.
const stopGrace = 10 * time.Second

// signal sends sig to the process's group.
func (p *rigProc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return fmt.Errorf("%s is not running", p.name)
	}
	return syscall.Kill(-p.cur.cmd.Process.Pid, sig)
}

// halt sends sig (and SIGCONT, for a frozen process) and returns: start
// waits for the process to exit. SIGKILL is waited for at once.
func (p *rigProc) halt(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.cur
	if cur == nil {
		return
	}
	p.cur, p.halted, p.haltedAt = nil, cur, time.Now()
	pg := -cur.cmd.Process.Pid
	_ = syscall.Kill(pg, sig)
	_ = syscall.Kill(pg, syscall.SIGCONT)
	if sig == syscall.SIGKILL {
		<-cur.done
	}
}

// exited reports whether the process has ended by itself (not by stop).
func (p *rigProc) exited() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return false, ""
	}
	return p.cur.exited()
}

// tail returns the last n lines of the process's log.
func (p *rigProc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("--- %s: no log: %v", p.name, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last lines of %s (%s) ---\n%s", p.name, p.logPath, strings.Join(lines, "\n"))
}

// containers lists every container labelled with one of the rig's hosts,
// with one call to the engine (docker ps): their id, name, state and
// berth's labels.
func (r *faultRig) containers(ctx context.Context) ([]runtime.Container, error) {
	format := "{{.ID}}\t{{.Names}}\t{{.State}}"
	for _, l := range psLabels {
		format += fmt.Sprintf("\t{{.Label %q}}", l)
	}
	out, err := exec.CommandContext(ctx, "docker", "ps", "-a", "--no-trunc", "--filter", "label="+v1.LabelHost, "--format", format).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("docker ps: %v: %s", err, out)
	}
	return parsePS(string(out), r.hosts)
}

// psLabels are the labels containers reads, in the columns of its docker
// ps after the id, the name and the state.
var psLabels = []string{v1.LabelHost, v1.LabelKind, v1.LabelName, v1.LabelVersion}

// parsePS reads the lines of containers' docker ps, keeping the
// containers of hosts. A line ends with its last label, which may be
// empty (a Unit's container has no version): only the newline is cut.
func parsePS(out string, hosts []string) ([]runtime.Container, error) {
	var cs []runtime.Container
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3+len(psLabels) {
			return nil, fmt.Errorf("docker ps: %d columns, want %d: %q", len(f), 3+len(psLabels), line)
		}
		if !slices.Contains(hosts, f[3]) {
			continue
		}
		c := runtime.Container{ID: f[0], Name: f[1], State: runtime.ContainerState(f[2]), Labels: map[string]string{}}
		for i, l := range psLabels {
			if f[3+i] != "" {
				c.Labels[l] = f[3+i]
			}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// dockerKill kills containers with SIGKILL, as the OOM killer or a crash
// would end them.
func dockerKill(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	out, err := exec.CommandContext(ctx, "docker", append([]string{"kill"}, ids...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker kill: %v: %s", err, out)
	}
	return nil
}
