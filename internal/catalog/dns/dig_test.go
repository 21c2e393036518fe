package catalogdns

import (
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDig asks with Debian's dig (bind9-dnsutils), the client people type.
func TestDig(t *testing.T) {
	t.Parallel()
	dig := lookDig(t)
	_, addr := startServer(t, fixture(), Config{})

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"web.service.berth", "SRV"}, []string{"1 1 8081 node2.node.berth.", "1 10 8080 node1.node.berth.", "1 2 8082 node1.node.berth."}},
		{[]string{"web.service.berth", "A"}, []string{"10.0.0.1", "10.0.0.2"}},
		{[]string{"+tcp", "_web._primary.service.berth", "SRV"}, []string{"1 10 8080 node1.node.berth."}},
		{[]string{"node1.node.berth", "TXT"}, []string{`"rack=r1"`, `"zone=eu-west"`}},
	} {
		if got := digShort(t, dig, addr, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("dig %v:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

// lookDig returns the path of dig, or skips the test without it (fails
// under CI=true).
func lookDig(t *testing.T) string {
	t.Helper()
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dig not found under CI=true: install bind9-dnsutils")
		}
		t.Skip("dig not found (install bind9-dnsutils): skipping")
	}
	return dig
}

// runDig runs dig against the server at addr and returns what it prints.
func runDig(t *testing.T, dig, addr string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, dig, append([]string{"@" + host, "-p", port, "+tries=1", "+time=5"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// digShort is dig +short's lines, sorted.
func digShort(t *testing.T, dig, addr string, args ...string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(runDig(t, dig, addr, append([]string{"+short"}, args...)...)), "\n")
	slices.Sort(lines)
	return lines
}
