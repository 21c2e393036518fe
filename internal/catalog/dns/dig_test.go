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
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dig not found under CI=true: install bind9-dnsutils")
		}
		t.Skip("dig not found (install bind9-dnsutils): skipping")
	}
	_, addr := startServer(t, fixture(), Config{})
	host, port, _ := net.SplitHostPort(addr)

	run := func(args ...string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, dig, append([]string{"@" + host, "-p", port, "+short", "+tries=1", "+time=5"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		slices.Sort(lines)
		return lines
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"web.service.berth", "SRV"}, []string{"1 1 8081 node2.node.berth.", "1 10 8080 node1.node.berth.", "1 2 8082 node1.node.berth."}},
		{[]string{"web.service.berth", "A"}, []string{"10.0.0.1", "10.0.0.2"}},
		{[]string{"+tcp", "_web._primary.service.berth", "SRV"}, []string{"1 10 8080 node1.node.berth."}},
		{[]string{"node1.node.berth", "TXT"}, []string{`"rack=r1"`, `"zone=eu-west"`}},
	} {
		if got := run(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("dig %v:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}
