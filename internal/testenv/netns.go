package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireNetns skips (fails under CI=true) the test when this process
// cannot make network namespaces: not root, or no ip netns.
func RequireNetns(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "network namespaces need root (running as uid %d)", os.Geteuid())
	_, err := exec.LookPath("ip")
	Require(t, err == nil, "ip not found on PATH (Debian: apt-get install iproute2)")
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	Require(t, err == nil, "ip netns unavailable: %v: %s", err, out)
}

// FreeSubnet returns the prefix "10.a.b." of a random /24 that no route
// or address of the root namespace overlaps.
func FreeSubnet(t testing.TB) string {
	t.Helper()
	var taken []*net.IPNet
	for _, args := range [][]string{{"-4", "route", "show", "table", "all"}, {"-4", "-o", "addr", "show"}} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			for _, f := range strings.Fields(line) {
				if !strings.Contains(f, ".") {
					continue
				}
				if !strings.Contains(f, "/") {
					f += "/32"
				}
				if _, n, err := net.ParseCIDR(f); err == nil {
					taken = append(taken, n)
				}
			}
		}
	}
	for range 100 {
		a, b := 64+mrand.IntN(190), mrand.IntN(255)
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", a, b))
		free := true
		for _, n := range taken {
			if ones, _ := n.Mask.Size(); ones > 0 && (n.Contains(cand.IP) || cand.Contains(n.IP)) {
				free = false
				break
			}
		}
		if free {
			return fmt.Sprintf("10.%d.%d.", a, b)
		}
	}
	t.Fatalf("no free /24 under 10.0.0.0/8 among the machine's routes")
	return ""
}

// Netns is a network namespace joined to the root namespace by a veth
// pair: the root end has Prefix+"1", the namespace's end Addr
// (Prefix+"2"), on a /30 of a free subnet. It is removed at cleanup.
type Netns struct {
	Name string // for ip netns exec
	Addr string // the namespace's address, reachable from the host
}

// NewNetns makes a Netns, skipping the test (failing it under CI=true)
// where namespaces cannot be made.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	RequireNetns(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	sfx := hex.EncodeToString(b[:])
	prefix := FreeSubnet(t)
	n := &Netns{Name: "berth-" + sfx, Addr: prefix + "2"}
	root, inner := "bn"+sfx+"r", "bn"+sfx+"n"
	ip := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("testenv: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", n.Name)
	t.Cleanup(func() {
		// Deleting the namespace deletes the veth pair.
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Logf("testenv: cleanup: ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	ip("link", "add", root, "type", "veth", "peer", "name", inner, "netns", n.Name)
	ip("addr", "add", prefix+"1/30", "dev", root)
	ip("link", "set", root, "up")
	ip("-n", n.Name, "addr", "add", n.Addr+"/30", "dev", inner)
	ip("-n", n.Name, "link", "set", inner, "up")
	ip("-n", n.Name, "link", "set", "lo", "up")
	return n
}

// Command returns a command that runs args inside the namespace.
func (n *Netns) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
}
