package probe_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/probe"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/docker/dockertest"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/runtime/runtimetest"
)

const image = "berth/testapp:latest"

// The same exec checks run against the fake engine and real Docker: the
// fake is what the controllers' logic tests probe through, so it must
// answer as Docker does.
func TestExecFake(t *testing.T) {
	t.Parallel()
	f := fake.New()
	f.AddImage(image)
	ended := make(chan struct{})
	t.Cleanup(func() { close(ended) })
	f.SetExecFunc(func(_ string, cmd []string) (runtime.ExecResult, error) {
		switch {
		case len(cmd) > 1 && cmd[1] == "echo":
			return runtime.ExecResult{Output: []byte(strings.Join(cmd[2:], " ") + "\n")}, nil
		case len(cmd) > 2 && cmd[1] == "exit":
			code, _ := strconv.Atoi(cmd[2])
			return runtime.ExecResult{ExitCode: code}, nil
		case len(cmd) > 1 && cmd[1] == "serve":
			<-ended // runs until the test ends
			return runtime.ExecResult{ExitCode: 137}, nil
		}
		return runtime.ExecResult{ExitCode: 2, Output: []byte("usage: testapp ...\n")}, nil
	})
	testExec(t, f, startContainer(t, f, "probe-fake"))
}

func TestExecDocker(t *testing.T) {
	t.Parallel()
	c := dockertest.Engine(t, image)
	testExec(t, c, startContainer(t, c, "probe-docker"))
}

// startContainer runs testapp in a container named after the test,
// removed when it ends.
func startContainer(t *testing.T, rt runtime.Runtime, name string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	label := hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := rt.Create(ctx, runtime.ContainerSpec{Name: "berthtest-" + label + "-" + name, Image: image,
		Labels: map[string]string{runtimetest.TestLabel: label}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: remove %s: %v", name, err)
		}
	})
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// testExec is the exec checks' conformance: what an exec's exit code and
// output become under each Rules.
func testExec(t *testing.T, rt runtime.Runtime, ctr string) {
	long := strings.Repeat("y", 2*probe.MaxOutput)
	for _, tc := range []struct {
		name          string
		cmd           []string
		container     string // default ctr
		timeout       time.Duration
		consul, other v1.CheckStatus
		output        string // the whole output (critical results: its start)
		otherOutput   string // under Container's rules, when it differs
	}{
		{name: "exit 0: its output, trimmed", cmd: []string{"/testapp", "echo", "all", "good"},
			consul: v1.CheckPassing, other: v1.CheckPassing, output: "all good"},
		{name: "exit 1: a warning to Consul", cmd: []string{"/testapp", "exit", "1"},
			consul: v1.CheckWarning, other: v1.CheckCritical, output: "", otherOutput: "exit code 1: "},
		{name: "exit 3", cmd: []string{"/testapp", "exit", "3"},
			consul: v1.CheckCritical, other: v1.CheckCritical, output: "exit code 3: "},
		{name: "a usage error", cmd: []string{"/testapp", "nonsense"},
			consul: v1.CheckCritical, other: v1.CheckCritical, output: "exit code 2: usage: testapp"},
		{name: "a long output is capped", cmd: []string{"/testapp", "echo", long},
			consul: v1.CheckPassing, other: v1.CheckPassing, output: long[:probe.MaxOutput]},
		{name: "a command that runs on ends with its context", cmd: []string{"/testapp", "serve", "--listen", "127.0.0.1:PORT"}, timeout: 300 * time.Millisecond,
			consul: v1.CheckCritical, other: v1.CheckCritical, output: "exec /testapp serve --listen 127.0.0.1:PORT: "},
		{name: "no container", cmd: []string{"/testapp", "echo"}, container: "-",
			consul: v1.CheckCritical, other: v1.CheckCritical, output: "an exec check needs a container to run in"},
		{name: "no command", container: ctr,
			consul: v1.CheckCritical, other: v1.CheckCritical, output: "an exec check needs a command"},
	} {
		for _, r := range []struct {
			rules  probe.Rules
			want   v1.CheckStatus
			output string
		}{{probe.Consul, tc.consul, tc.output}, {probe.Container, tc.other, cmp.Or(tc.otherOutput, tc.output)}} {
			// A server the check leaves running keeps its port.
			port := strconv.Itoa(8282 + int(r.rules))
			cmd := slices.Clone(tc.cmd)
			for i := range cmd {
				cmd[i] = strings.ReplaceAll(cmd[i], "PORT", port)
			}
			want := strings.ReplaceAll(r.output, "PORT", port)
			c := probe.Check{Type: probe.TypeExec, Exec: cmd, Container: ctr}
			switch tc.container {
			case "-":
				c.Container = ""
			case "":
			default:
				c.Container = tc.container
			}
			ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(tc.timeout, time.Minute))
			got := probe.New(rt, r.rules).Do(ctx, c)
			cancel()
			match := got.Output == want
			if got.Status == v1.CheckCritical && want != "" {
				match = strings.HasPrefix(got.Output, want)
			}
			if got.Status != r.want || !match {
				t.Errorf("%s, rules %d: %s %.80q; want %s %.80q", tc.name, r.rules, got.Status, got.Output, r.want, want)
			}
			if tc.timeout > 0 && !strings.Contains(got.Output, "deadline exceeded") {
				t.Errorf("%s: %q does not say the deadline passed", tc.name, got.Output)
			}
		}
	}
}
