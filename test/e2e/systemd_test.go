package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// The tests of this file prove issue 4 (units as systemd would run them)
// against the real binaries and the real Docker engine: the two examples of
// manifests/ as a user runs them (renamed copies, so that they run in
// parallel), the start conditions healthy and completed, an unhealthy
// container restarted, a dependency across hosts, and the bad input apply
// refuses. Each test has its own controller under its own --host-name.

// TestSqliteExample: the sqlite example walked through as the README does,
// then stopped from the server (the proxy goes down with it, first), started
// from the proxy (the server comes up with it, its data kept in the hostPath
// volume), and the server deleted (the proxy waits for it) and re-applied.
func TestSqliteExample(t *testing.T) {
	t.Parallel()
	volumes := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", volumes}}, false)
	docs, ports := h.exampleCopy("manifests/sqlite.yaml", volumes)
	server, proxy := h.unit("sqliteserver"), h.unit("sqliteproxy")
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", ports[12346])

	start := time.Now()
	out := h.applyWait(docs...)
	t.Logf("apply --wait of the sqlite example: %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"unit/" + server + " created", "unit/" + proxy + " created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply --wait printed %q, want a line %q", out, want)
		}
	}
	h.waitRunning("sqliteserver", 10*time.Second)
	h.waitRunning("sqliteproxy", 10*time.Second)
	eventually(t, 15*time.Second, "the proxy answers select 1", func() (bool, string) {
		got, err := sqlSession(proxyAddr, "select 1;\n")
		return err == nil && got == "1\n", fmt.Sprintf("%q %v", got, err)
	})
	got, err := sqlSession(proxyAddr, `create table t1(a,b); insert into t1 values (1,"one"),(2,"two"); select * from t1;`+"\n")
	if err != nil || got != "1|one\n2|two\n" {
		t.Fatalf("the walk-through through the proxy printed %q (%v), want \"1|one\\n2|two\\n\"", got, err)
	}

	// Stopping the server stops the proxy, which requires it, and first.
	out = h.ctl("stop", "unit", server)
	for _, want := range []string{"unit/" + server + " stopped", "unit/" + proxy + " stopped (requires " + server + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("stop unit %s printed %q, want a line %q", server, out, want)
		}
	}
	for _, u := range []string{"sqliteserver", "sqliteproxy"} {
		h.waitInstance(u, "STOPPED", 30*time.Second, func(in v1.InstanceStatus) bool {
			return in.State == v1.StateStopped && in.Goal == v1.GoalStop
		})
		if running, _ := inspect(h.container(u), "{{.State.Running}}"); running != "false" {
			t.Errorf("container of %s: running %q after stop", u, running)
		}
	}
	proxyEnd := containerTime(t, h.container("sqliteproxy"), "State.FinishedAt")
	serverEnd := containerTime(t, h.container("sqliteserver"), "State.FinishedAt")
	if proxyEnd.After(serverEnd) {
		t.Errorf("stop order: the proxy stopped at %s, after the server it requires (%s)", proxyEnd.Format(time.RFC3339Nano), serverEnd.Format(time.RFC3339Nano))
	}
	t.Logf("stop order: proxy stopped %s before the server", serverEnd.Sub(proxyEnd))

	// Starting the proxy starts the server it requires; the data is kept.
	out = h.ctl("start", "unit", proxy)
	for _, want := range []string{"unit/" + proxy + " started", "unit/" + server + " started (required by " + proxy + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("start unit %s printed %q, want a line %q", proxy, out, want)
		}
	}
	h.waitRunning("sqliteserver", 30*time.Second)
	h.waitRunning("sqliteproxy", 30*time.Second)
	eventually(t, 15*time.Second, "the rows are still there after stop and start", func() (bool, string) {
		got, err := sqlSession(proxyAddr, "select * from t1;\n")
		return err == nil && got == "1|one\n2|two\n", fmt.Sprintf("%q %v", got, err)
	})

	// Deleting the server: the proxy stops and waits for it, by name.
	h.ctl("delete", "unit", server)
	h.waitInstance("sqliteproxy", "WAITING for the deleted server", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateWaiting && strings.Contains(in.Message, server)
	})
	eventually(t, 30*time.Second, "the server's container removed", func() (bool, string) { return containerGone(h.container("sqliteserver")) })
	if running, _ := inspect(h.container("sqliteproxy"), "{{.State.Running}}"); running != "false" {
		t.Errorf("the proxy's container is running (%q) while the server it requires is deleted", running)
	}

	// Re-applying brings the server back, and the proxy with it.
	h.apply(docs...)
	h.waitRunning("sqliteserver", 30*time.Second)
	h.waitRunning("sqliteproxy", 30*time.Second)
	eventually(t, 15*time.Second, "the rows through the proxy after re-applying", func() (bool, string) {
		got, err := sqlSession(proxyAddr, "select * from t1;\n")
		return err == nil && got == "1|one\n2|two\n", fmt.Sprintf("%q %v", got, err)
	})
}

// TestTodoExample: the todo example keeps its items across a kill of its
// container, and status and logs show it as systemctl and journalctl would.
func TestTodoExample(t *testing.T) {
	t.Parallel()
	volumes := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", volumes}}, false)
	docs, ports := h.exampleCopy("manifests/todo.yaml", volumes)
	todo := h.unit("todo")
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[8000])
	h.applyWait(docs...)
	in := h.waitRunning("todo", 10*time.Second)

	title := "buy milk " + h.sfx
	code, body := httpPost(base+"/api/todos", `{"title": "`+title+`"}`)
	if code != 201 {
		t.Fatalf("POST /api/todos: %d %s", code, body)
	}
	mustDocker(t, "kill", in.ContainerID)
	h.waitInstance("todo", "RUNNING again after docker kill, 1 restart", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.Restarts == 1 && ready(in)
	})
	eventually(t, 10*time.Second, "the item is still there after the restart", func() (bool, string) {
		code, body := httpGet(base + "/api/todos")
		return code == 200 && strings.Contains(body, title), fmt.Sprint(code, " ", body)
	})

	out := h.ctl("status", "unit", todo)
	for _, re := range []string{
		`(?m)^● ` + regexp.QuoteMeta(todo) + ` - To-do list web application$`,
		`(?m)^ +State: RUNNING since `,
		`(?m)^ +Host: ` + regexp.QuoteMeta(h.name) + `$`,
		`(?m)^ +Restarts: 1 \(last exit code 137 `,
		`GET /api/todos 200`, // a log line
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status unit %s does not match %s:\n%s", todo, re, out)
		}
	}

	out = h.ctl("logs", "unit", todo, "--tail", "2")
	if lines := strings.Split(strings.TrimRight(out, "\n"), "\n"); len(lines) != 2 || lines[0] == "" {
		t.Errorf("logs --tail 2 printed %d lines, want 2:\n%s", len(lines), out)
	}

	// -f: a line written after it started shows up. The path is asked for
	// the first time only after logs -f has started (--tail 0), and again
	// until the line shows, since the stream may not be open yet.
	f := follow(t, h.etcd, "logs", "unit", todo, "-f", "--tail", "0")
	marker := fmt.Sprintf("/api/todos/%d", 900000+len(h.sfx))
	eventually(t, 20*time.Second, "logs -f shows a request made after it started", func() (bool, string) {
		httpGet(base + marker)
		return f.find("GET " + marker + " 404")
	})
}

func httpPost(url, body string) (int, string) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHealthyConditionHoldsDependent: a dependent with startCondition
// healthy stays WAITING, without a container, while the unit it requires
// is HEALTHCHECKING, and starts once the check passes.
func TestHealthyConditionHoldsDependent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", dir}}, false)
	// startPeriod keeps the failures from counting, so the server stays
	// HEALTHCHECKING.
	sick := applySickServer(t, h, dir, "{http: {path: /healthz, port: http}, interval: 500ms, timeout: 1s, retries: 3, startPeriod: 10m}")
	held := func() (bool, string) {
		s, problem := h.instance("server")
		if problem != "" {
			return false, problem
		}
		c, problem := h.instance("client")
		if problem != "" {
			return false, problem
		}
		if s.State != v1.StateHealthchecking {
			return false, "server: " + describeInstance(s)
		}
		if c.State != v1.StateWaiting || !strings.Contains(c.Message, h.unit("server")) || !strings.Contains(c.Message, "healthy") {
			return false, "client: " + describeInstance(c)
		}
		return containerGone(h.container("client"))
	}
	eventually(t, 10*time.Second, "client WAITING for the server to be healthy", held)
	// Several health-check intervals of failures: the client stays held.
	consistently(t, 3*time.Second, "client held while the server fails its health check", held)

	passAt := time.Now()
	if err := os.Remove(sick); err != nil {
		t.Fatal(err)
	}
	h.waitInstance("server", "RUNNING and Ready", 15*time.Second, func(in v1.InstanceStatus) bool { return in.State == v1.StateRunning && ready(in) })
	h.waitRunning("client", 30*time.Second)
	t.Logf("client RUNNING %s after the server's check could pass (interval 500ms)", time.Since(passAt).Round(time.Millisecond))
	if started := containerTime(t, h.container("client"), "State.StartedAt"); started.Before(passAt) {
		t.Errorf("client started at %s, before the server's check could pass (%s)", started, passAt)
	}
}

// TestHealthyConditionFollowsTheFirstAnswer: the server a client requires
// healthy is checked once an hour, and its application answers /healthz
// only a while after it starts. Until the check first passes berth probes
// it again quickly, so the requirement is Ready, and the dependent runs,
// once the application answers rather than an hour later; and those quick
// failures count no more than hourly ones would: retries 2 does not make
// the server unhealthy and restart it meanwhile.
func TestHealthyConditionFollowsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", dir}}, false)
	sick := applySickServer(t, h, dir, "{http: {path: /healthz, port: http}, interval: 1h, timeout: 1s, retries: 2}")
	h.waitInstance("client", "WAITING for the server", 30*time.Second, func(in v1.InstanceStatus) bool { return in.State == v1.StateWaiting })
	// A few quick probes fail meanwhile (at 0.1s, 0.3s, 0.7s, 1.5s, ...).
	consistently(t, 2*time.Second, "the server checked, failing, not restarted", func() (bool, string) {
		in, problem := h.instance("server")
		return problem == "" && in.State == v1.StateHealthchecking && in.Restarts == 0, describeInstance(in)
	})

	answers := time.Now()
	if err := os.Remove(sick); err != nil {
		t.Fatal(err)
	}
	server := h.waitInstance("server", "RUNNING and Ready, within its first interval", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && ready(in)
	})
	h.waitRunning("client", 30*time.Second)
	if server.Restarts != 0 {
		t.Errorf("the server restarted %d times before its check first passed", server.Restarts)
	}
	if started := containerTime(t, h.container("client"), "State.StartedAt"); started.Before(answers) {
		t.Errorf("the client started at %s, before the server answered its check (%s)", started, answers)
	}
	t.Logf("client RUNNING %s after the server answered (its interval: 1h)", time.Since(answers).Round(time.Millisecond))
}

// applySickServer applies on h a unit "server" of testapp whose /healthz
// fails while the file it returns exists (created here, in dir, a host
// path h allows), with the healthCheck given, and a unit "client" that
// requires it healthy; it waits until the server runs, HEALTHCHECKING.
func applySickServer(t *testing.T, h *unitHost, dir, healthCheck string) string {
	t.Helper()
	sick := filepath.Join(dir, "sick")
	if err := os.WriteFile(sick, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.apply(
		h.doc("server", testapp(fmt.Sprintf(`    args: ["--unhealthy-file", "/data/sick"]
    ports: [{name: http, containerPort: 8080}]
    volumes: [{hostPath: %s, containerPath: /data}]
    healthCheck: %s
`, dir, healthCheck), "")),
		h.doc("client", testapp("", fmt.Sprintf("  requires: [%s]\n  startCondition: {%s: healthy}\n", h.unit("server"), h.unit("server")))))
	h.waitInstance("server", "HEALTHCHECKING", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateHealthchecking && in.ContainerID != ""
	})
	return sick
}

// TestCompletedCondition: a dependent with startCondition completed waits
// while a one-shot unit runs, and runs once it exited 0; the dependent of a
// one-shot that exited 1 keeps waiting.
func TestCompletedCondition(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	oneshot := func(code int) string {
		return testapp(fmt.Sprintf(`    args: ["--exit-after", "3s", "--exit-code", "%d"]
`, code), "  restart: {policy: never}\n")
	}
	after := func(dep string) string {
		return testapp("", fmt.Sprintf("  requires: [%s]\n  startCondition: {%s: completed}\n", h.unit(dep), h.unit(dep)))
	}
	h.apply(h.doc("init-ok", oneshot(0)), h.doc("app-ok", after("init-ok")),
		h.doc("init-bad", oneshot(1)), h.doc("app-bad", after("init-bad")))

	eventually(t, 30*time.Second, "app-ok WAITING while init-ok runs", func() (bool, string) {
		i, _ := h.instance("init-ok")
		a, _ := h.instance("app-ok")
		return i.State == v1.StateRunning && a.State == v1.StateWaiting && strings.Contains(a.Message, h.unit("init-ok")) && strings.Contains(a.Message, "completed"),
			"init-ok: " + describeInstance(i) + "; app-ok: " + describeInstance(a)
	})
	h.waitInstance("init-ok", "EXITED with code 0", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateExited && in.LastExitCode != nil && *in.LastExitCode == 0
	})
	h.waitRunning("app-ok", 30*time.Second)
	done := containerTime(t, h.container("init-ok"), "State.FinishedAt")
	if started := containerTime(t, h.container("app-ok"), "State.StartedAt"); started.Before(done) {
		t.Errorf("app-ok started at %s, before init-ok exited (%s)", started, done)
	}

	h.waitInstance("init-bad", "EXITED with code 1", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateExited && in.LastExitCode != nil && *in.LastExitCode == 1
	})
	consistently(t, 3*time.Second, "app-bad waits: init-bad exited 1", func() (bool, string) {
		a, problem := h.instance("app-bad")
		if problem != "" {
			return false, problem
		}
		if a.State != v1.StateWaiting || !strings.Contains(a.Message, h.unit("init-bad")) {
			return false, describeInstance(a)
		}
		return containerGone(h.container("app-bad"))
	})
}

// TestUnhealthyContainerRestarted: a container whose health check passed
// and then fails retries times is restarted (Docker would only mark it),
// again and again while it stays sick, with an Unhealthy event each time,
// and settles once it is healthy again.
func TestUnhealthyContainerRestarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", dir}}, false)
	sick := filepath.Join(dir, "sick")
	h.apply(h.doc("app", testapp(fmt.Sprintf(`    args: ["--unhealthy-file", "/data/sick"]
    ports: [{name: http, containerPort: 8080}]
    volumes: [{hostPath: %s, containerPath: /data}]
    healthCheck: {http: {path: /healthz, port: http}, interval: 500ms, timeout: 1s, retries: 2}
`, dir), "  restart: {policy: always, delay: 200ms, maxDelay: 1s}\n")))
	first := h.waitInstance("app", "RUNNING and Ready", 30*time.Second, func(in v1.InstanceStatus) bool { return in.State == v1.StateRunning && ready(in) })
	if first.Restarts != 0 {
		t.Fatalf("restarts %d before the check failed", first.Restarts)
	}

	if err := os.WriteFile(sick, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sickAt := time.Now()
	restarts := func(min int) func() (bool, string) {
		return func() (bool, string) {
			out, _, _ := applyctl(t, h.etcd, "", "get", "units")
			row := tableRow(out, h.unit("app"))
			if len(row) < 4 {
				return false, out
			}
			var n int
			fmt.Sscan(row[3], &n)
			return n >= min, strings.Join(row, " ")
		}
	}
	eventually(t, 20*time.Second, "get units shows 1 restart", restarts(1))
	t.Logf("first restart for failing the health check %s after the file appeared (interval 500ms, retries 2)", time.Since(sickAt).Round(time.Millisecond))
	eventually(t, 30*time.Second, "get units shows the restarts rising while it stays sick", restarts(2))
	eventually(t, 10*time.Second, "an Unhealthy event", func() (bool, string) {
		out, _, _ := applyctl(t, h.etcd, "", "get", "events")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "Unhealthy") && strings.Contains(l, "unit/"+h.unit("app")) && strings.Contains(l, "failed its health check") {
				return true, l
			}
		}
		return false, out
	})
	if got, _ := inspect(h.container("app"), "{{.State.Health}}"); got != "<nil>" && got != "" {
		t.Errorf("docker's own health check is set (%s): berth checks health itself", got)
	}

	if err := os.Remove(sick); err != nil {
		t.Fatal(err)
	}
	in := h.waitInstance("app", "RUNNING and Ready once healthy again", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && ready(in)
	})
	consistently(t, 2*time.Second, "no more restarts once healthy", func() (bool, string) {
		now, problem := h.instance("app")
		return problem == "" && now.Restarts == in.Restarts && now.State == v1.StateRunning, describeInstance(now)
	})
}

// TestDependencyAcrossHosts: a unit pinned to one host requires a unit
// pinned to another; the two controllers share one etcd (and, here, one
// Docker engine). It waits until the other runs, runs, and goes down with
// it when it is stopped.
func TestDependencyAcrossHosts(t *testing.T) {
	t.Parallel()
	etcd := strings.Join(testenv.Etcd(t), ",")
	h1 := newUnitHost(t, controllerOpts{etcdEndpoints: etcd}, false)
	h2 := newUnitHost(t, controllerOpts{etcdEndpoints: etcd}, false)
	a := h1.unit("a")
	b := h2.unit("b")
	h2.apply(h2.doc("b", testapp("", fmt.Sprintf("  requires: [%s]\n", a))))
	h2.waitInstance("b", "WAITING for a, which does not exist yet", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateWaiting && strings.Contains(in.Message, a)
	})
	consistently(t, time.Second, "b has no container while a does not exist", func() (bool, string) { return containerGone(h2.container("b")) })

	h1.apply(h1.doc("a", testapp("", "")))
	ina := h1.waitRunning("a", 30*time.Second)
	inb := h2.waitRunning("b", 30*time.Second)
	if ina.Host != h1.name || inb.Host != h2.name {
		t.Fatalf("a runs on %s (want %s), b on %s (want %s)", ina.Host, h1.name, inb.Host, h2.name)
	}
	if la, _ := inspect(h1.container("a"), `{{index .Config.Labels "berth.dev/host"}}`); la != h1.name {
		t.Errorf("a's container is labelled with host %q, want %s", la, h1.name)
	}
	if lb, _ := inspect(h2.container("b"), `{{index .Config.Labels "berth.dev/host"}}`); lb != h2.name {
		t.Errorf("b's container is labelled with host %q, want %s", lb, h2.name)
	}
	if started, up := containerTime(t, h2.container("b"), "State.StartedAt"), containerTime(t, h1.container("a"), "State.StartedAt"); started.Before(up) {
		t.Errorf("b started at %s, before a (%s)", started, up)
	}

	out := h1.ctl("stop", "unit", a)
	if !strings.Contains(out, "unit/"+b+" stopped (requires "+a+")") {
		t.Errorf("stop unit %s printed %q, want b stopped with it", a, out)
	}
	h1.waitInstance("a", "STOPPED", 30*time.Second, func(in v1.InstanceStatus) bool { return in.State == v1.StateStopped })
	h2.waitInstance("b", "STOPPED", 30*time.Second, func(in v1.InstanceStatus) bool { return in.State == v1.StateStopped })
	if endB, endA := containerTime(t, h2.container("b"), "State.FinishedAt"), containerTime(t, h1.container("a"), "State.FinishedAt"); endB.After(endA) {
		t.Errorf("stop order across hosts: b stopped at %s, after a (%s)", endB, endA)
	}

	// Starting a alone (not b): b stays stopped, as systemctl start of a
	// dependency does not start its dependents.
	h1.ctl("start", "unit", a)
	h1.waitRunning("a", 30*time.Second)
	if in, _ := h2.instance("b"); in.State != v1.StateStopped {
		t.Errorf("b after start unit a: %s, want STOPPED (goal stop)", describeInstance(in))
	}

	// Starting b again: it runs, a being up on the other host.
	h2.ctl("start", "unit", b)
	h2.waitRunning("b", 30*time.Second)
}

// TestDependencyBadInput: a unit that requires one that does not exist is
// accepted and waits for it by name; a cycle (applied at once, or closed by
// a second apply), a self-dependency and an unknown start condition are
// refused with exit 1 and nothing written.
func TestDependencyBadInput(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	ghost := h.unit("ghost")
	h.apply(h.doc("orphan", testapp("", fmt.Sprintf("  requires: [%s]\n", ghost))))
	h.waitInstance("orphan", "WAITING with the missing name", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateWaiting && strings.Contains(in.Message, ghost) && strings.Contains(in.Message, "does not exist")
	})
	if gone, last := containerGone(h.container("orphan")); !gone {
		t.Errorf("a unit waiting for a missing one has a container: %s", last)
	}
	out, _, _ := applyctl(t, h.etcd, "", "get", "units")
	if row := tableRow(out, h.unit("orphan")); len(row) < 3 || row[2] != "WAITING" {
		t.Errorf("get units row %q, want WAITING:\n%s", row, out)
	}

	refused := func(what, wantErr string, docs ...string) {
		t.Helper()
		out, errOut, code := applyctl(t, h.etcd, strings.Join(docs, "---\n"), "apply", "-f", "-")
		if code != 1 || !strings.Contains(errOut, wantErr) {
			t.Errorf("%s: apply exit %d, stdout %q, stderr %q; want exit 1 and an error with %q", what, code, out, errOut, wantErr)
		}
	}
	notWritten := func(what string, names ...string) {
		t.Helper()
		for _, n := range names {
			if out, errOut, code := applyctl(t, h.etcd, "", "get", "unit", n); code == 0 {
				t.Errorf("%s: unit %s was written: %s%s", what, n, out, errOut)
			}
		}
	}
	a, b := h.unit("a"), h.unit("b")
	requires := func(short, dep string) string {
		return h.doc(short, testapp("", "  requires: ["+dep+"]\n"))
	}
	refused("a cycle in one apply", "dependency cycle: "+a+" -> "+b+" -> "+a, requires("a", b), requires("b", a))
	notWritten("a cycle in one apply", a, b)

	refused("a self-dependency", `cannot depend on itself`, requires("a", a))
	notWritten("a self-dependency", a)

	refused("an unknown startCondition", `unsupported condition "ready"`,
		requires("b", ghost), h.doc("a", testapp("", "  requires: ["+b+"]\n  startCondition: {"+b+": ready}\n")))
	notWritten("an unknown startCondition", a, b)

	// A cycle closed by a second apply, through a stored unit.
	h.apply(requires("a", b))
	refused("a cycle closed through a stored unit", "dependency cycle: "+a+" -> "+b+" -> "+a, requires("b", a))
	notWritten("a cycle closed through a stored unit", b)
}

// TestRequiresFollowsCrashes: a dependent keeps running while the unit it
// requires is restarted after a crash (systemd does not stop Requires= units
// for a restart), stops and waits when the unit exits for good (restart
// never), and starts again when applyctl restart brings it back. A unit
// that only wants a missing one runs.
func TestRequiresFollowsCrashes(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	requires := func(dep string) string { return testapp("", "  requires: ["+h.unit(dep)+"]\n") }
	h.apply(
		h.doc("db", testapp("", "  restart: {policy: always}\n")), h.doc("app", requires("db")),
		h.doc("db-once", testapp("", "  restart: {policy: never}\n")), h.doc("app-once", requires("db-once")),
		h.doc("wants-ghost", testapp("", "  wants: ["+h.unit("ghost")+"]\n  after: ["+h.unit("ghost")+"]\n")))
	db := h.waitRunning("db", 30*time.Second)
	app := h.waitRunning("app", 30*time.Second)
	h.waitRunning("wants-ghost", 30*time.Second)
	appStarted := containerTime(t, h.container("app"), "State.StartedAt")

	mustDocker(t, "kill", db.ContainerID)
	h.waitInstance("db", "restarted after docker kill", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.Restarts == 1
	})
	if in, _ := h.instance("app"); in.State != v1.StateRunning || in.ContainerID != app.ContainerID {
		t.Errorf("app while db restarted after a crash: %s, want RUNNING in the same container", describeInstance(in))
	}
	if got := containerTime(t, h.container("app"), "State.StartedAt"); !got.Equal(appStarted) {
		t.Errorf("app's container was restarted (started %s, then %s) while db only restarted after a crash", appStarted, got)
	}

	once := h.waitRunning("db-once", 30*time.Second)
	h.waitRunning("app-once", 30*time.Second)
	mustDocker(t, "kill", once.ContainerID)
	h.waitInstance("app-once", "WAITING: db-once exited for good", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateWaiting && strings.Contains(in.Message, h.unit("db-once"))
	})
	eventually(t, 15*time.Second, "app-once's container stopped", func() (bool, string) {
		running, err := inspect(h.container("app-once"), "{{.State.Running}}")
		return err == nil && running == "false", running
	})
	out := h.ctl("restart", "unit", h.unit("db-once"))
	if !strings.Contains(out, "unit/"+h.unit("db-once")+" restarted") {
		t.Errorf("restart unit printed %q", out)
	}
	h.waitRunning("db-once", 30*time.Second)
	h.waitRunning("app-once", 30*time.Second)
}
