package runtimetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	stdnet "net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/testenv"
)

// Run runs the conformance suite against the runtime h describes. Every
// subtest is parallel, names its containers and networks with a unique
// prefix, labels them TestLabel=<random> and removes exactly those.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		f    func(*env)
	}{
		{"PingVersion", testPingVersion},
		{"CreateStartInspect", testCreateStartInspect},
		{"NameConflict", testNameConflict},
		{"HostPortTaken", testHostPortTaken},
		{"NotFound", testNotFound},
		{"MissingImage", testMissingImage},
		{"StartTwiceAndRestart", testStartTwiceAndRestart},
		{"StopGraceful", testStopGraceful},
		{"StopTimeoutKills", testStopTimeoutKills},
		{"ExitEmitsDie", testExitEmitsDie},
		{"Exec", testExec},
		{"ExecEndsWithContext", testExecEndsWithContext},
		{"Logs", testLogs},
		{"LogsFollow", testLogsFollow},
		{"Remove", testRemove},
		{"ListFilters", testListFilters},
		{"Network", testNetwork},
		{"NetworkMode", testNetworkMode},
		{"InspectNetwork", testInspectNetwork},
		{"NetworkGateway", testNetworkGateway},
		{"DNS", testDNS},
		{"Volume", testVolume},
		{"Security", testSecurity},
		{"PullProgressImages", testPullProgressImages},
		{"PullAuth", testPullAuth},
		{"PullByDigest", testPullByDigest},
		{"PullUnknownTag", testPullUnknownTag},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(newEnv(t, h))
		})
	}
}

func testPingVersion(e *env) {
	if err := e.rt.Ping(e.ctx(10 * time.Second)); err != nil {
		e.t.Fatalf("Ping: %v", err)
	}
	v, err := e.rt.Version(e.ctx(10 * time.Second))
	if err != nil || v == "" {
		e.t.Fatalf("Version = %q, %v; want a version", v, err)
	}
}

func testCreateStartInspect(e *env) {
	t := e.t
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Docker runs as root here; the file must be readable by the container.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := e.spec("web", "--listen", ":8080", "--udp", ":9090")
	spec.Labels["app"] = "web"
	spec.Env = []string{"MESSAGE=hello"}
	spec.Ports = []runtime.PortBinding{
		{ContainerPort: 8080, HostIP: "127.0.0.1"},
		{ContainerPort: 9090, HostIP: "127.0.0.1", Protocol: runtime.UDP},
	}
	spec.Mounts = []runtime.Mount{{Type: runtime.MountBind, Source: dir, Target: "/data", ReadOnly: true}}
	spec.WorkingDir = "/data"
	spec.Hostname = "web-host"
	spec.CPUs = 0.5
	spec.MemoryBytes = 64 << 20
	spec.StopTimeout = 3 * time.Second

	before := time.Now().Add(-time.Second)
	id := e.create(spec)
	c := e.inspect(id)
	if c.State != runtime.StateCreated {
		t.Errorf("state after Create = %q, want %q", c.State, runtime.StateCreated)
	}
	if err := e.rt.Start(e.ctx(time.Minute), id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	c = e.inspect(spec.Name) // by name
	if c.ID != id || c.Name != spec.Name || c.Image != e.h.Image {
		t.Errorf("Inspect = id %q name %q image %q; want %q %q %q", c.ID, c.Name, c.Image, id, spec.Name, e.h.Image)
	}
	if c.Labels["app"] != "web" || c.Labels[TestLabel] != e.label {
		t.Errorf("labels = %v", c.Labels)
	}
	if !slices.Contains(c.Env, "MESSAGE=hello") {
		t.Errorf("env = %q, want MESSAGE=hello", c.Env)
	}
	if c.State != runtime.StateRunning || c.Health != runtime.HealthNone {
		t.Errorf("state, health = %q, %q; want running, none", c.State, c.Health)
	}
	if c.Created.Before(before) || c.StartedAt.Before(c.Created) || !c.FinishedAt.IsZero() {
		t.Errorf("times: created %v started %v finished %v", c.Created, c.StartedAt, c.FinishedAt)
	}
	if c.IPAddress == "" {
		t.Errorf("no IP address")
	}
	httpPort, ok := port(c, 8080, runtime.TCP)
	if !ok || httpPort.HostPort == 0 {
		t.Fatalf("ports = %+v; want 8080/tcp published on a host port", c.Ports)
	}
	udpPort, ok := port(c, 9090, runtime.UDP)
	if !ok || udpPort.HostPort == 0 {
		t.Fatalf("ports = %+v; want 9090/udp published on a host port", c.Ports)
	}
	if httpPort.HostIP != "127.0.0.1" {
		t.Errorf("8080/tcp host IP = %q, want 127.0.0.1", httpPort.HostIP)
	}
	if !e.h.Real {
		return
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/", httpPort.HostPort)
	testenv.Eventually(t, 30*time.Second, "the published HTTP port", func() error {
		body, err := httpGet(url)
		if err != nil {
			return err
		}
		if want := "hostname=web-host message=hello"; !strings.Contains(body, want) {
			return fmt.Errorf("GET %s = %q, want %q", url, body, want)
		}
		return nil
	})
	testenv.Eventually(t, 30*time.Second, "the published UDP port", func() error {
		return udpEcho(fmt.Sprintf("127.0.0.1:%d", udpPort.HostPort), "ping-"+e.label)
	})
	if res := e.exec(id, "/testapp", "cat", "/data/hello.txt"); res.ExitCode != 0 || string(res.Output) != "hello from the host\n" {
		t.Errorf("cat of the bind-mounted file = %d %q", res.ExitCode, res.Output)
	}
	if res := e.exec(id, "/testapp", "pwd"); strings.TrimSpace(string(res.Output)) != "/data" {
		t.Errorf("working dir = %q, want /data", res.Output)
	}
	if got := e.logs(id, runtime.LogOptions{Tail: -1}); !strings.Contains(got, "GET / from") {
		t.Errorf("logs do not show the request:\n%s", got)
	}
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func udpEcho(addr, msg string) error {
	conn, err := stdnet.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	if err != nil {
		return fmt.Errorf("udp echo from %s: %w", addr, err)
	}
	if string(buf[:n]) != msg {
		return fmt.Errorf("udp echo from %s = %q, want %q", addr, buf[:n], msg)
	}
	return nil
}

func testNameConflict(e *env) {
	spec := e.spec("dup")
	e.create(spec)
	_, err := e.rt.Create(e.ctx(time.Minute), spec)
	if !errors.Is(err, runtime.ErrConflict) {
		e.t.Fatalf("second Create(%s) = %v, want ErrConflict", spec.Name, err)
	}
}

// testHostPortTaken: a container whose host port another one holds does
// not start, with ErrPortAllocated, and can be removed.
func testHostPortTaken(e *env) {
	t := e.t
	spec := e.spec("holder", "--listen", ":8080")
	spec.Ports = []runtime.PortBinding{{ContainerPort: 8080, HostIP: "127.0.0.1"}}
	holder := e.inspect(e.run(spec))
	b, ok := port(holder, 8080, "tcp")
	if !ok || b.HostPort == 0 {
		t.Fatalf("the holder publishes no host port: %+v", holder.Ports)
	}
	spec = e.spec("late", "--listen", ":8080")
	spec.Ports = []runtime.PortBinding{{ContainerPort: 8080, HostIP: "127.0.0.1", HostPort: b.HostPort}}
	late := e.create(spec)
	err := e.rt.Start(e.ctx(time.Minute), late)
	if !errors.Is(err, runtime.ErrPortAllocated) {
		t.Fatalf("Start with host port %d taken = %v, want ErrPortAllocated", b.HostPort, err)
	}
	if c := e.inspect(late); c.State == runtime.StateRunning {
		t.Errorf("state after a refused start = %q", c.State)
	}
	if err := e.rt.Remove(e.ctx(time.Minute), late); err != nil {
		t.Errorf("Remove after a refused start: %v", err)
	}
}

func testNotFound(e *env) {
	ctx := e.ctx(time.Minute)
	missing := e.prefix + "missing"
	if _, err := e.rt.Inspect(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
		e.t.Errorf("Inspect(unknown) = %v, want ErrNotFound", err)
	}
	if err := e.rt.Start(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
		e.t.Errorf("Start(unknown) = %v, want ErrNotFound", err)
	}
	if err := e.rt.Remove(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
		e.t.Errorf("Remove(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := e.rt.Exec(ctx, missing, []string{"/testapp", "echo"}); !errors.Is(err, runtime.ErrNotFound) {
		e.t.Errorf("Exec(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := e.rt.Logs(ctx, missing, runtime.LogOptions{}); !errors.Is(err, runtime.ErrNotFound) {
		e.t.Errorf("Logs(unknown) = %v, want ErrNotFound", err)
	}
	if err := e.rt.Stop(ctx, missing, "", time.Second); !errors.Is(err, runtime.ErrNotFound) {
		e.t.Errorf("Stop(unknown) = %v, want ErrNotFound", err)
	}
}

func testMissingImage(e *env) {
	t := e.t
	ctx := e.ctx(2 * time.Minute)
	missing := "berth/does-not-exist-" + e.label + ":never"
	if ok, err := e.rt.ImageExists(ctx, e.h.Image); !ok || err != nil {
		t.Errorf("ImageExists(%s) = %v, %v; want true", e.h.Image, ok, err)
	}
	if ok, err := e.rt.ImageExists(ctx, missing); ok || err != nil {
		t.Errorf("ImageExists(%s) = %v, %v; want false, nil", missing, ok, err)
	}
	spec := e.spec("noimage")
	spec.Image = missing
	if _, err := e.rt.Create(ctx, spec); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Create with a missing image = %v, want ErrNotFound", err)
	}
	start := time.Now()
	err := e.rt.Pull(ctx, missing, runtime.PullOptions{})
	t.Logf("Pull(%s) took %v: %v", missing, time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Fatalf("Pull(%s) succeeded, want an error", missing)
	}
	if msg := err.Error(); !strings.Contains(msg, missing) || !strings.Contains(msg, "could not be pulled") {
		t.Errorf("Pull error %q does not name the image and say it could not be pulled", msg)
	}
}

func testStartTwiceAndRestart(e *env) {
	id := e.run(e.spec("twice"))
	if err := e.rt.Start(e.ctx(time.Minute), id); err != nil {
		e.t.Fatalf("Start of a running container = %v, want nil", err)
	}
	if err := e.rt.Stop(e.ctx(time.Minute), id, "", 10*time.Second); err != nil {
		e.t.Fatalf("Stop: %v", err)
	}
	if err := e.rt.Start(e.ctx(time.Minute), id); err != nil {
		e.t.Fatalf("Start of an exited container: %v", err)
	}
	if c := e.inspect(id); c.State != runtime.StateRunning || c.ExitCode != 0 {
		e.t.Errorf("after restart: state %q exit %d started %v finished %v", c.State, c.ExitCode, c.StartedAt, c.FinishedAt)
	}
}

func testStopGraceful(e *env) {
	t := e.t
	spec := e.spec("graceful")
	spec.Ports = []runtime.PortBinding{{ContainerPort: 8080, HostIP: "127.0.0.1"}}
	id := e.run(spec)
	start := time.Now()
	if err := e.rt.Stop(e.ctx(time.Minute), id, "SIGTERM", 20*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(start)
	t.Logf("Stop of a process that honours SIGTERM took %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("Stop took %v; the process exits on SIGTERM at once", took)
	}
	c := e.inspect(id)
	if c.State != runtime.StateExited || c.ExitCode != 0 || c.FinishedAt.IsZero() {
		t.Errorf("after Stop: state %q exit code %d finished %v; want exited 0", c.State, c.ExitCode, c.FinishedAt)
	}
	if len(c.Ports) != 0 {
		t.Errorf("an exited container still publishes %+v", c.Ports)
	}
	if err := e.rt.Stop(e.ctx(time.Minute), id, "", time.Second); err != nil {
		t.Errorf("Stop of a stopped container = %v, want nil", err)
	}
}

func testStopTimeoutKills(e *env) {
	t := e.t
	id := e.run(e.spec("stubborn", "--ignore-sigterm"))
	if !e.h.Real {
		e.h.IgnoreStopSignal(t, e.rt, id)
	}
	start := time.Now()
	if err := e.rt.Stop(e.ctx(time.Minute), id, "", time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(start)
	t.Logf("Stop with a 1s timeout of a process that ignores SIGTERM took %v", took.Round(time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("Stop took %v, want about 1s", took)
	}
	if c := e.inspect(id); c.State != runtime.StateExited || c.ExitCode != 137 {
		t.Errorf("after Stop: state %q exit code %d; want exited 137 (killed)", c.State, c.ExitCode)
	}
	if e.h.Real {
		if out := e.logs(id, runtime.LogOptions{Tail: -1}); !strings.Contains(out, "ignoring") {
			t.Errorf("the process never saw the stop signal:\n%s", out)
		}
	}
}

func testExitEmitsDie(e *env) {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events, errs := e.rt.Events(ctx)
	id := e.run(e.spec("exits", "--exit-after", "500ms", "--exit-code", "3"))
	if !e.h.Real {
		e.h.Exit(t, e.rt, id, 3)
	}
	var seen []runtime.EventAction
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream closed; saw %v", seen)
			}
			if ev.ID != id {
				continue
			}
			seen = append(seen, ev.Action)
			if ev.Labels[TestLabel] != e.label {
				t.Errorf("event %s labels = %v", ev.Action, ev.Labels)
			}
			if ev.Time.IsZero() {
				t.Errorf("event %s has no time", ev.Action)
			}
			if ev.Action != runtime.ActionDie {
				continue
			}
			if ev.ExitCode != 3 {
				t.Errorf("die event exit code = %d, want 3", ev.ExitCode)
			}
			if ev.Name != e.prefix+"exits" {
				t.Errorf("die event name = %q", ev.Name)
			}
			if !slices.Contains(seen, runtime.ActionCreate) || !slices.Contains(seen, runtime.ActionStart) {
				t.Errorf("events before die = %v, want create and start", seen)
			}
			if c := e.inspect(id); c.State != runtime.StateExited || c.ExitCode != 3 {
				t.Errorf("after die: state %q exit %d; want exited 3", c.State, c.ExitCode)
			}
			return
		case err := <-errs:
			t.Fatalf("event stream broke: %v (saw %v)", err, seen)
		case <-ctx.Done():
			t.Fatalf("no die event; saw %v", seen)
		}
	}
}

func testExec(e *env) {
	t := e.t
	id := e.run(e.spec("exec"))
	res := e.exec(id, "/testapp", "echo", "hello", "world")
	if res.ExitCode != 0 || string(res.Output) != "hello world\n" {
		t.Errorf("exec echo = %d %q; want 0 %q", res.ExitCode, res.Output, "hello world\n")
	}
	if res := e.exec(id, "/testapp", "exit", "3"); res.ExitCode != 3 {
		t.Errorf("exec exit 3 = %d", res.ExitCode)
	}
	if e.h.Real {
		if res := e.exec(id, "/testapp", "check", "http://127.0.0.1:8080/healthz"); res.ExitCode != 0 {
			t.Errorf("exec check healthz = %d %q", res.ExitCode, res.Output)
		}
		if res := e.exec(id, "/testapp", "cat", "/nonexistent"); res.ExitCode != 1 || !strings.Contains(string(res.Output), "no such file") {
			t.Errorf("exec cat of a missing file = %d %q; want 1 and the error on stderr", res.ExitCode, res.Output)
		}
	}
	if err := e.rt.Stop(e.ctx(time.Minute), id, "", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.Exec(e.ctx(time.Minute), id, []string{"/testapp", "echo"}); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("Exec in a stopped container = %v, want ErrConflict", err)
	}
}

// testExecEndsWithContext: an exec that runs on (a second server) is given
// up when its context ends, with the context's error; callers bound health
// checks with it.
func testExecEndsWithContext(e *env) {
	id := e.run(e.spec("exec-ctx"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := e.rt.Exec(ctx, id, []string{"/testapp", "serve", "--listen", "127.0.0.1:8181"})
	if !errors.Is(err, context.DeadlineExceeded) {
		e.t.Errorf("Exec of a command that runs on, with a context that ends = %v, want context.DeadlineExceeded", err)
	}
}

func testLogs(e *env) {
	t := e.t
	id := e.run(e.spec("logs", "--print-lines", "4"))
	e.print(id, "line 1\nline 2\nline 3\nline 4\n")
	all := e.waitLogs(id, "line 4")
	for i := 1; i <= 4; i++ {
		if !strings.Contains(all, fmt.Sprintf("line %d\n", i)) { // odd on stdout, even on stderr
			t.Errorf("logs miss line %d:\n%s", i, all)
		}
	}
	tail := e.logs(id, runtime.LogOptions{Tail: 2})
	if lines := strings.Split(strings.TrimSuffix(tail, "\n"), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "line ") || !strings.HasPrefix(lines[1], "line ") {
		t.Errorf("Tail 2 = %q; want two of the numbered lines", tail)
	}
	stamped := e.logs(id, runtime.LogOptions{Tail: 1, Timestamps: true})
	ts, rest, _ := strings.Cut(stamped, " ")
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasPrefix(rest, "line ") {
		t.Errorf("Timestamps: %q does not start with an RFC 3339 time (%v)", stamped, err)
	}
	if got := e.logs(id, runtime.LogOptions{Tail: 0}); got != "" {
		t.Errorf("Tail 0 = %q, want nothing", got)
	}
	if got := e.logs(id, runtime.LogOptions{Tail: -1, Since: time.Now().Add(time.Hour)}); got != "" {
		t.Errorf("Since the future = %q, want nothing", got)
	}
}

func testLogsFollow(e *env) {
	t := e.t
	id := e.run(e.spec("follow", "--tick", "100ms"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := e.rt.Logs(ctx, id, runtime.LogOptions{Follow: true, Tail: 0})
	if err != nil {
		t.Fatalf("Logs(follow): %v", err)
	}
	defer rc.Close()
	lines := make(chan string)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(lines)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	e.print(id, "tick 1\n")
	e.print(id, "tick 2\n")
	ticks := 0
	for ticks < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("follow ended after %d ticks", ticks)
			}
			if strings.HasPrefix(l, "tick ") {
				ticks++
			}
		case <-ctx.Done():
			t.Fatalf("saw %d ticks while following", ticks)
		}
	}
	// Ending ctx ends the stream.
	cancel()
	done := make(chan struct{})
	go func() {
		for range lines {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("following did not end with its context")
	}
	wg.Wait()
}

func testRemove(e *env) {
	t := e.t
	id := e.run(e.spec("gone"))
	if err := e.rt.Remove(e.ctx(time.Minute), id); err != nil {
		t.Fatalf("Remove of a running container: %v", err)
	}
	if _, err := e.rt.Inspect(e.ctx(time.Minute), id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Inspect after Remove = %v, want ErrNotFound", err)
	}
	cs, err := e.rt.List(e.ctx(time.Minute), runtime.ListOptions{All: true, Labels: map[string]string{TestLabel: e.label}})
	if err != nil || len(cs) != 0 {
		t.Errorf("List after Remove = %v, %v; want nothing", cs, err)
	}
	if err := e.rt.Remove(e.ctx(time.Minute), id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	// The name is free again.
	e.create(e.spec("gone"))
}

func testListFilters(e *env) {
	t := e.t
	a := e.spec("a")
	a.Labels["role"] = "a"
	b := e.spec("b")
	b.Labels["role"] = "b"
	aID := e.run(a)
	bID := e.create(b)
	list := func(opts runtime.ListOptions) []string {
		t.Helper()
		cs, err := e.rt.List(e.ctx(time.Minute), opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
			if c.Name == "" || c.Image == "" || c.State == "" || c.Labels[TestLabel] != e.label {
				t.Errorf("List returned a partial container: %+v", c)
			}
		}
		return ids
	}
	mine := map[string]string{TestLabel: e.label}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("running", list(runtime.ListOptions{Labels: mine}), aID)
	check("all", list(runtime.ListOptions{All: true, Labels: mine}), aID, bID)
	check("role=b", list(runtime.ListOptions{All: true, Labels: map[string]string{TestLabel: e.label, "role": "b"}}), bID)
	check("has role", list(runtime.ListOptions{All: true, Labels: map[string]string{TestLabel: e.label, "role": ""}}), aID, bID)
	check("role=c", list(runtime.ListOptions{All: true, Labels: map[string]string{TestLabel: e.label, "role": "c"}}))
}

func testNetwork(e *env) {
	t := e.t
	net := e.ensureNetwork("net")
	if err := e.rt.EnsureNetwork(e.ctx(time.Minute), net, map[string]string{TestLabel: e.label}); err != nil {
		t.Fatalf("second EnsureNetwork: %v", err)
	}
	raced := e.prefix + "race"
	e.nets = append(e.nets, raced)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			errs <- e.rt.EnsureNetwork(e.ctx(time.Minute), raced, map[string]string{TestLabel: e.label})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("racing EnsureNetwork: %v", err)
		}
	}

	srv := e.spec("srv")
	srv.Network = net
	srv.Aliases = []string{"backend"}
	srv.Env = []string{"MESSAGE=from-backend"}
	srvID := e.run(srv)
	cli := e.spec("cli")
	cli.NetworkMode = net
	cliID := e.run(cli)
	if c := e.inspect(srvID); c.IPAddress == "" {
		t.Errorf("server on %s has no IP address", net)
	}
	if e.h.Real {
		testenv.Eventually(t, 30*time.Second, "backend by name on "+net, func() error {
			res := e.exec(cliID, "/testapp", "get", "http://backend:8080/")
			if res.ExitCode != 0 || !strings.Contains(string(res.Output), "message=from-backend") {
				return fmt.Errorf("GET http://backend:8080/ from %s = %d %q", cli.Name, res.ExitCode, res.Output)
			}
			return nil
		})
	}
	orphan := e.spec("orphan")
	orphan.Network = e.prefix + "missing"
	if _, err := e.rt.Create(e.ctx(time.Minute), orphan); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Create on a missing network = %v, want ErrNotFound", err)
	}
}

// testInspectNetwork: a network is found by name with its labels, the
// engine's bridge too; a missing one is ErrNotFound.
func testInspectNetwork(e *env) {
	t := e.t
	net := e.ensureNetwork("net")
	n, err := e.rt.InspectNetwork(e.ctx(time.Minute), net)
	if err != nil || n.Name != net || n.ID == "" || n.Labels[TestLabel] != e.label {
		t.Errorf("InspectNetwork(%s) = %+v, %v; want it with its ID and label %s=%s", net, n, err, TestLabel, e.label)
	}
	if b, err := e.rt.InspectNetwork(e.ctx(time.Minute), "bridge"); err != nil || b.Name != "bridge" {
		t.Errorf("InspectNetwork(bridge) = %+v, %v; want the engine's bridge", b, err)
	}
	if _, err := e.rt.InspectNetwork(e.ctx(time.Minute), e.prefix+"missing"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("InspectNetwork of a missing network = %v, want ErrNotFound", err)
	}
}

// testNetworkGateway: a network made by EnsureNetwork, and the engine's
// bridge, have an IPv4 gateway; with a real engine, a server the host runs
// on that address answers the network's containers.
func testNetworkGateway(e *env) {
	t := e.t
	net := e.ensureNetwork("net")
	for _, name := range []string{net, "bridge"} {
		n, err := e.rt.InspectNetwork(e.ctx(time.Minute), name)
		if ip, perr := netip.ParseAddr(n.Gateway); err != nil || perr != nil || !ip.Is4() {
			t.Errorf("InspectNetwork(%s) = %+v, %v; want an IPv4 gateway", name, n, err)
		}
	}
	if !e.h.Real {
		return
	}
	n, _ := e.rt.InspectNetwork(e.ctx(time.Minute), net)
	ln, err := (&stdnet.ListenConfig{}).Listen(e.ctx(time.Minute), "tcp", stdnet.JoinHostPort(n.Gateway, "0"))
	if err != nil {
		t.Fatalf("listen on the gateway of %s: %v", net, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("from the host"))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	cli := e.spec("cli")
	cli.Network = net
	cliID := e.run(cli)
	url := "http://" + ln.Addr().String() + "/"
	testenv.Eventually(t, 30*time.Second, "the host from a container on "+net, func() error {
		res := e.exec(cliID, "/testapp", "get", url)
		if res.ExitCode != 0 || string(res.Output) != "from the host" {
			return fmt.Errorf("GET %s from a container on %s = %d %q", url, net, res.ExitCode, res.Output)
		}
		return nil
	})
}

// testDNS: a container created with a resolver configuration reports it
// and, with a real engine, its /etc/resolv.conf says it; one created
// without reports none; a nameserver that is not an IP address is refused.
func testDNS(e *env) {
	t := e.t
	plain := e.spec("plain")
	set := e.spec("set")
	set.DNS = runtime.DNS{Nameservers: []string{"192.0.2.53"}, Searches: []string{"service.example"}, Options: []string{"ndots:2"}}
	plainID, setID := e.create(plain), e.run(set)
	if got := e.inspect(plainID).DNS; !got.IsZero() {
		t.Errorf("DNS of a container created without = %+v, want none", got)
	}
	if got := e.inspect(setID).DNS; !reflect.DeepEqual(got, set.DNS) {
		t.Errorf("DNS = %+v, want %+v", got, set.DNS)
	}
	bad := e.spec("bad")
	bad.DNS.Nameservers = []string{"ns.example"}
	if id, err := e.rt.Create(e.ctx(time.Minute), bad); err == nil {
		t.Errorf("Create with nameserver %q = %s, want an error", bad.DNS.Nameservers[0], id)
	}
	if !e.h.Real {
		return
	}
	res := e.exec(setID, "/testapp", "cat", "/etc/resolv.conf")
	conf := string(res.Output)
	for _, want := range []string{"nameserver 192.0.2.53", "search service.example", "options ndots:2"} {
		if !slices.Contains(strings.Split(conf, "\n"), want) {
			t.Errorf("/etc/resolv.conf lacks the line %q:\n%s", want, conf)
		}
	}
}

// testVolume: EnsureVolume makes a volume with its labels once, and
// answers later calls, racing ones included, with the volume as it is; a
// volume the engine made for a container's mount has no labels.
func testVolume(e *env) {
	t := e.t
	name := e.prefix + "vol"
	e.vols = append(e.vols, name)
	if _, err := e.rt.InspectVolume(e.ctx(time.Minute), name); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("InspectVolume of a missing volume = %v, want ErrNotFound", err)
	}
	mine := map[string]string{TestLabel: e.label, "made-by": "suite"}
	var wg sync.WaitGroup
	got := make(chan runtime.Volume, 4)
	for range 4 {
		wg.Go(func() {
			v, err := e.rt.EnsureVolume(e.ctx(time.Minute), name, mine)
			if err != nil {
				t.Errorf("racing EnsureVolume: %v", err)
			}
			got <- v
		})
	}
	wg.Wait()
	close(got)
	for v := range got {
		if v.Name != name || v.Labels["made-by"] != "suite" {
			t.Errorf("EnsureVolume = %+v, want %s with its labels", v, name)
		}
	}
	v, err := e.rt.EnsureVolume(e.ctx(time.Minute), name, map[string]string{TestLabel: e.label, "made-by": "another"})
	if err != nil || v.Labels["made-by"] != "suite" {
		t.Errorf("EnsureVolume of an existing volume = %+v, %v; want it with the labels it was made with", v, err)
	}
	if v, err := e.rt.InspectVolume(e.ctx(time.Minute), name); err != nil || v.Name != name || v.Labels["made-by"] != "suite" {
		t.Errorf("InspectVolume = %+v, %v; want %s with its labels", v, err, name)
	}

	auto := e.prefix + "auto"
	e.vols = append(e.vols, auto)
	spec := e.spec("mounts")
	spec.Mounts = []runtime.Mount{{Type: runtime.MountVolume, Source: auto, Target: "/data"}}
	e.create(spec)
	v, err = e.rt.InspectVolume(e.ctx(time.Minute), auto)
	if err != nil || len(v.Labels) != 0 {
		t.Errorf("InspectVolume of the volume a container's mount made = %+v, %v; want it, without labels", v, err)
	}
	if v, err := e.rt.EnsureVolume(e.ctx(time.Minute), auto, mine); err != nil || len(v.Labels) != 0 {
		t.Errorf("EnsureVolume of the volume a mount made = %+v, %v; want it as it is, without labels", v, err)
	}
}

// testNetworkMode: Inspect reports the network mode a container was
// created with, and the full ID of a container whose network another
// joins by name. The containers are only created: a host-network
// container need not start to be reported so.
func testNetworkMode(e *env) {
	t := e.t
	net := e.ensureNetwork("net")
	plain := e.spec("plain")
	onNet := e.spec("on-net")
	onNet.Network = net
	host := e.spec("host")
	host.NetworkMode = "host"
	none := e.spec("none")
	none.NetworkMode = "none"
	plainID := e.create(plain)
	joined := e.spec("joined")
	joined.NetworkMode = "container:" + plain.Name
	for _, tc := range []struct {
		spec runtime.ContainerSpec
		want string
	}{
		{plain, ""},
		{onNet, net},
		{host, "host"},
		{none, "none"},
		{joined, "container:" + plainID},
	} {
		id := plainID
		if tc.spec.Name != plain.Name {
			id = e.create(tc.spec)
		}
		if got := e.inspect(id).NetworkMode; got != tc.want {
			t.Errorf("NetworkMode of %s = %q, want %q", tc.spec.Name, got, tc.want)
		}
	}
}

// Linux capability numbers the Security test looks for in /proc's masks.
const (
	capNetAdmin = 12
	capMknod    = 27
)

func testSecurity(e *env) {
	t := e.t
	plain := e.spec("plain")
	locked := e.spec("locked")
	locked.Security = runtime.Security{
		CapAdd:          []string{"NET_ADMIN"},
		CapDrop:         []string{"MKNOD"},
		NoNewPrivileges: true,
		ReadOnlyRootfs:  true,
	}
	// Created only: engines that run inside a container without every
	// capability themselves cannot start a privileged one.
	priv := e.spec("privileged")
	priv.Security = runtime.Security{Privileged: true, NoNewPrivileges: true}
	plainID, lockedID, privID := e.run(plain), e.run(locked), e.create(priv)

	if got := e.inspect(plainID).Security; !reflect.DeepEqual(got, runtime.Security{}) {
		t.Errorf("Security of a container created without any = %+v, want none", got)
	}
	if got := e.inspect(lockedID).Security; !reflect.DeepEqual(got, locked.Security) {
		t.Errorf("Security = %+v, want %+v", got, locked.Security)
	}
	if got := e.inspect(privID).Security; !reflect.DeepEqual(got, priv.Security) {
		t.Errorf("Security = %+v, want %+v", got, priv.Security)
	}
	if !e.h.Real {
		return
	}
	// What the kernel applied, seen from inside.
	status := func(id string) map[string]string {
		res := e.exec(id, "/testapp", "cat", "/proc/self/status")
		out := map[string]string{}
		for _, l := range strings.Split(string(res.Output), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				out[k] = strings.TrimSpace(v)
			}
		}
		return out
	}
	hasCap := func(mask string, bit uint) bool {
		n, err := strconv.ParseUint(mask, 16, 64)
		if err != nil {
			t.Fatalf("capability mask %q: %v", mask, err)
		}
		return n&(1<<bit) != 0
	}
	rootReadOnly := func(id string) bool {
		res := e.exec(id, "/testapp", "cat", "/proc/self/mounts")
		for _, l := range strings.Split(string(res.Output), "\n") {
			if f := strings.Fields(l); len(f) >= 4 && f[1] == "/" {
				return slices.Contains(strings.Split(f[3], ","), "ro")
			}
		}
		t.Fatalf("no / in the mounts of %s:\n%s", id, res.Output)
		return false
	}
	ps, ls := status(plainID), status(lockedID)
	if ps["NoNewPrivs"] != "0" || ls["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs plain %q, locked %q; want 0, 1", ps["NoNewPrivs"], ls["NoNewPrivs"])
	}
	if hasCap(ps["CapBnd"], capNetAdmin) || !hasCap(ps["CapBnd"], capMknod) {
		t.Errorf("plain container's bounding set %s: want MKNOD and not NET_ADMIN (the engine's default)", ps["CapBnd"])
	}
	if !hasCap(ls["CapBnd"], capNetAdmin) || hasCap(ls["CapBnd"], capMknod) {
		t.Errorf("locked container's bounding set %s: want NET_ADMIN added and MKNOD dropped", ls["CapBnd"])
	}
	if rootReadOnly(plainID) || !rootReadOnly(lockedID) {
		t.Errorf("root file system read-only: plain %v, locked %v; want false, true", rootReadOnly(plainID), rootReadOnly(lockedID))
	}
}
