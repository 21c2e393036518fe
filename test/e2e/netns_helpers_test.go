package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/internal/testenv"
)

// The helpers of multihost_test.go: machines simulated by network
// namespaces on one bridge, and processes run inside them.

// netLab is a bridge in the root network namespace with an address .254
// of a /24 that nothing on the machine routes, and network namespaces
// plugged into it by veth pairs, namespace i having the address .i+1.
// Everything it makes is removed at cleanup.
type netLab struct {
	t      *testing.T
	sfx    string // random, in every name the lab gives
	prefix string // "10.a.b."
	bridge string
	ns     []labNS
}

// labNS is one namespace of a netLab.
type labNS struct {
	name     string // ip netns name
	addr     string // its address on the bridge
	rootVeth string // the veth end in the root namespace, a port of the bridge
	nsVeth   string // the end inside the namespace
}

// requireNetns skips (fails under CI=true) the test when this process
// cannot make network namespaces: not root, or no ip netns.
func requireNetns(t *testing.T) { testenv.RequireNetns(t) }

// newNetLab makes the bridge and n namespaces. Interface names stay
// within the kernel's 15 characters.
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	requireNetns(t)
	l := &netLab{t: t, sfx: randomSuffix(6)}
	l.prefix = freeSubnet(t)
	l.bridge = "bbr" + l.sfx
	l.mustIP("link", "add", l.bridge, "type", "bridge")
	t.Cleanup(func() { l.cleanupIP("link", "del", l.bridge) })
	l.mustIP("addr", "add", l.prefix+"254/24", "dev", l.bridge)
	l.mustIP("link", "set", l.bridge, "up")
	l.allowForwarding()
	for i := range n {
		ns := labNS{
			name:     fmt.Sprintf("berth-%s-%d", l.sfx, i+1),
			addr:     fmt.Sprintf("%s%d", l.prefix, i+1),
			rootVeth: fmt.Sprintf("bv%sr%d", l.sfx, i+1),
			nsVeth:   fmt.Sprintf("bv%sn%d", l.sfx, i+1),
		}
		l.mustIP("netns", "add", ns.name)
		t.Cleanup(func() { l.cleanupIP("netns", "del", ns.name) })
		l.mustIP("link", "add", ns.rootVeth, "type", "veth", "peer", "name", ns.nsVeth, "netns", ns.name)
		// Deleting the namespace deletes the pair; this covers a
		// namespace that could not be deleted.
		t.Cleanup(func() { l.cleanupIP("link", "del", ns.rootVeth) })
		l.mustIP("link", "set", ns.rootVeth, "master", l.bridge)
		l.mustIP("link", "set", ns.rootVeth, "up")
		l.mustIP("-n", ns.name, "addr", "add", ns.addr+"/24", "dev", ns.nsVeth)
		l.mustIP("-n", ns.name, "link", "set", ns.nsVeth, "up")
		l.mustIP("-n", ns.name, "link", "set", "lo", "up")
		l.ns = append(l.ns, ns)
	}
	return l
}

// allowForwarding accepts traffic between the bridge's ports. Where
// br_netfilter is loaded (Docker loads it), bridged packets cross the
// iptables FORWARD chain, whose policy Docker sets to DROP.
func (l *netLab) allowForwarding() {
	l.t.Helper()
	if _, err := exec.LookPath("iptables"); err != nil {
		return
	}
	rule := []string{"FORWARD", "-i", l.bridge, "-o", l.bridge, "-j", "ACCEPT"}
	if out, err := exec.Command("iptables", append([]string{"-w", "-I"}, rule...)...).CombinedOutput(); err != nil {
		l.t.Fatalf("iptables -I %s: %v: %s", strings.Join(rule, " "), err, out)
	}
	l.t.Cleanup(func() {
		if out, err := exec.Command("iptables", append([]string{"-w", "-D"}, rule...)...).CombinedOutput(); err != nil {
			l.t.Logf("cleanup: iptables -D %s: %v: %s", strings.Join(rule, " "), err, out)
		}
	})
}

// freeSubnet returns the prefix "10.a.b." of a random /24 that no route
// or address of the root namespace overlaps.
func freeSubnet(t *testing.T) string { return testenv.FreeSubnet(t) }

func (l *netLab) mustIP(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// cleanupIP runs ip at cleanup; what is already gone is not an error.
func (l *netLab) cleanupIP(args ...string) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot find device") && !strings.Contains(string(out), "No such file") {
		l.t.Logf("cleanup: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// cut takes namespace i off the bridge: its end of the veth stays up, with
// no carrier, as when a machine's cable is pulled.
func (l *netLab) cut(i int) { l.mustIP("link", "set", l.ns[i].rootVeth, "down") }

// restore plugs namespace i back into the bridge.
func (l *netLab) restore(i int) { l.mustIP("link", "set", l.ns[i].rootVeth, "up") }

// run runs a command inside namespace i and returns its combined output.
func (l *netLab) run(i int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns[i].name}, args...)...).CombinedOutput()
	return string(out), err
}

// nsProc is a long-running process started inside a namespace of a
// netLab, its output in a file. It is killed and waited for at cleanup.
type nsProc struct {
	t       *testing.T
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // of Wait, once done is closed
}

// start runs args inside namespace i with the environment of the test
// minus the variables whose names start with one of drop.
func (l *netLab) start(i int, name, logPath string, drop []string, args ...string) *nsProc {
	l.t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns[i].name}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	for _, kv := range os.Environ() {
		keep := true
		for _, d := range drop {
			keep = keep && !strings.HasPrefix(kv, d)
		}
		if keep {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// ip netns exec replaces itself with the command: the group is the
	// command's.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		l.t.Fatalf("start %s in %s: %v", name, l.ns[i].name, err)
	}
	p := &nsProc{t: l.t, name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	l.t.Cleanup(p.kill)
	return p
}

// exited reports whether the process has ended, and how.
func (p *nsProc) exited() (bool, string) {
	select {
	case <-p.done:
		return true, fmt.Sprintf("%s exited: %v", p.name, p.err)
	default:
		return false, ""
	}
}

func (p *nsProc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Logf("cleanup: %s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// tail returns the last n lines of the process's output.
func (p *nsProc) tail(n int) string {
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
