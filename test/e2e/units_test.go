package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// The tests of this file prove issue 3 (the host controller) against the
// real binaries and the real Docker engine. Each runs its own controller
// under its own --host-name and removes the containers labelled with that
// host when it ends; Unit names carry a random prefix because container
// names are global to the engine.

// TestUnitRunsWithItsTemplate: a pinned Unit comes up RUNNING with every
// field of its container template applied, its ports published (dynamic,
// fixed and UDP) and told to the container, and no Docker restart policy.
func TestUnitRunsWithItsTemplate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", dir}}, false)
	fixed := testenv.FreePort(t)
	dataDir := filepath.Join(dir, "made", "data")
	confFile := filepath.Join(dir, "made-too", "app.conf")
	h.apply(h.doc("app", testapp(fmt.Sprintf(`    args: ["--listen", ":8080,:8081", "--udp", ":9090"]
    env:
      - {name: MESSAGE, value: hello-from-e2e}
    ports:
      - {name: http, containerPort: 8080}
      - {name: fixed, containerPort: 8081, hostPort: %d}
      - {name: echo, containerPort: 9090, protocol: udp}
    volumes:
      - {hostPath: %s, type: DirectoryOrCreate, containerPath: /data}
      - {hostPath: %s, type: FileOrCreate, containerPath: /etc/app.conf, readOnly: true}
    workingDir: /data
    user: "1000:1000"
    hostname: e2e-box
    resources: {cpus: 0.5, memory: 64Mi}
`, fixed, dataDir, confFile), "")))

	in := h.waitRunning("app", 60*time.Second)
	id := in.ContainerID
	httpPort := hostPort(t, in, "http")
	if got := hostPort(t, in, "fixed"); got != fixed {
		t.Errorf("fixed port published on %d, want %d", got, fixed)
	}
	if httpPort < 20000 || httpPort > 32767 {
		t.Errorf("dynamic host port %d is outside 20000-32767", httpPort)
	}

	out, _, code := applyctl(t, h.etcd, "", "get", "units")
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	if code != 0 || strings.Join(header, " ") != "NAME HOST STATE RESTARTS CONTAINER PORTS AGE" {
		t.Errorf("get units header %q (exit %d)", header, code)
	}
	if row := tableRow(out, h.unit("app")); len(row) < 5 || row[1] != h.name || row[2] != "RUNNING" || row[3] != "0" || !strings.HasPrefix(id, row[4]) {
		t.Errorf("get units row %q, want host %s, RUNNING, 0 restarts, container %.12s:\n%s", row, h.name, id, out)
	}

	for _, port := range []int{httpPort, fixed} {
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		eventually(t, 10*time.Second, "GET "+url, func() (bool, string) {
			code, body := httpGet(url)
			return code == 200 && body == "hostname=e2e-box message=hello-from-e2e\n", fmt.Sprint(code, " ", body)
		})
	}
	udpPort := hostPort(t, in, "echo")
	eventually(t, 10*time.Second, "UDP echo on the published port", func() (bool, string) {
		reply, err := udpEcho(fmt.Sprintf("127.0.0.1:%d", udpPort), "ping")
		return err == nil && reply == "ping", fmt.Sprint(reply, err)
	})

	checks := []struct{ format, want string }{
		{`{{index .Config.Labels "berth.dev/host"}}`, h.name},
		{`{{index .Config.Labels "berth.dev/kind"}}`, "Unit"},
		{`{{index .Config.Labels "berth.dev/name"}}`, h.unit("app")},
		{`{{index .Config.Labels "berth.dev/spec-hash"}}`, in.SpecHash},
		{`{{.Name}}`, "/" + h.container("app")},
		{`{{.HostConfig.NanoCpus}}`, "500000000"},
		{`{{.HostConfig.Memory}}`, strconv.Itoa(64 << 20)},
		{`{{.Config.User}}`, "1000:1000"},
		{`{{.Config.Hostname}}`, "e2e-box"},
		{`{{.Config.WorkingDir}}`, "/data"},
		{`{{range $p, $b := .NetworkSettings.Ports}}{{if eq $p "9090/udp"}}{{(index $b 0).HostPort}}{{end}}{{end}}`, strconv.Itoa(udpPort)},
		{`{{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{end}}`, "berth "},
		{`{{range .NetworkSettings.Networks}}{{range .Aliases}}{{.}} {{end}}{{end}}`, h.unit("app")},
	}
	for _, c := range checks {
		got, err := inspect(id, c.format)
		if err != nil {
			t.Fatalf("docker inspect: %v: %s", err, got)
		}
		if !strings.Contains(got+" ", c.want) {
			t.Errorf("docker inspect -f '%s' = %q, want %q", c.format, got, c.want)
		}
	}
	if got, _ := inspect(id, "{{.HostConfig.RestartPolicy.Name}}"); got != "" && got != "no" {
		t.Errorf("Docker restart policy %q: berth must be the process manager", got)
	}
	if in.SpecHash == "" {
		t.Errorf("status has no specHash")
	}

	env := mustDocker(t, "exec", id, "/testapp", "env", "BERTH_PORT_HTTP", "BERTH_PORT_FIXED", "BERTH_PORT_ECHO", "BERTH_UNIT", "BERTH_HOST")
	if want := fmt.Sprintf("%d\n%d\n%d\n%s\n%s", httpPort, fixed, udpPort, h.unit("app"), h.name); env != want {
		t.Errorf("container env:\n%s\nwant\n%s", env, want)
	}
	if got := mustDocker(t, "exec", id, "/testapp", "pwd"); got != "/data" {
		t.Errorf("working directory %q, want /data", got)
	}
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		t.Errorf("DirectoryOrCreate %s not created as a folder: %v", dataDir, err)
	}
	if fi, err := os.Stat(confFile); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("FileOrCreate %s not created as a file: %v", confFile, err)
	}
	os.WriteFile(confFile, []byte("conf-from-host\n"), 0o644)
	if got := mustDocker(t, "exec", id, "/testapp", "cat", "/etc/app.conf"); got != "conf-from-host" {
		t.Errorf("the FileOrCreate file is not mounted: /etc/app.conf has %q", got)
	}
	os.WriteFile(filepath.Join(dataDir, "seen"), []byte("in-data\n"), 0o644)
	if got := mustDocker(t, "exec", id, "/testapp", "cat", "/data/seen"); got != "in-data" {
		t.Errorf("the DirectoryOrCreate folder is not mounted: /data/seen has %q", got)
	}
}

func udpEcho(addr, msg string) (string, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	return string(buf[:n]), err
}

// TestUnitsReachEachOtherByName: units on one host share the network berth
// on which each is reachable by its name.
func TestUnitsReachEachOtherByName(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	h.apply(
		h.doc("left", testapp("    env: [{name: MESSAGE, value: i-am-left}]\n", "")),
		h.doc("right", testapp("    env: [{name: MESSAGE, value: i-am-right}]\n", "")))
	h.waitRunning("left", 60*time.Second)
	h.waitRunning("right", 60*time.Second)
	for _, p := range [][2]string{{"left", "right"}, {"right", "left"}} {
		from, to := p[0], p[1]
		url := fmt.Sprintf("http://%s:8080/", h.unit(to))
		eventually(t, 10*time.Second, from+" reaches "+url, func() (bool, string) {
			out, err := docker("exec", h.container(from), "/testapp", "get", url)
			return err == nil && strings.Contains(out, "message=i-am-"+to), fmt.Sprint(out, err)
		})
	}
}

// TestUnitRestartPolicies: a container that dies is restarted promptly (through
// Docker's events, well before the 30s resync) in place when the policy says
// so, and left EXITED when it does not.
func TestUnitRestartPolicies(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	port := "    ports: [{name: http, containerPort: 8080}]\n"
	h.apply(
		h.doc("always", testapp("", "  restart: {policy: always}\n")),
		h.doc("never", testapp("", "  restart: {policy: never}\n")),
		h.doc("onf-ok", testapp(port, "  restart: {policy: on-failure}\n")),
		h.doc("onf-bad", testapp(port, "  restart: {policy: on-failure}\n")))
	ids := map[string]string{}
	for _, u := range []string{"always", "never", "onf-ok", "onf-bad"} {
		ids[u] = h.waitRunning(u, 60*time.Second).ContainerID
	}

	mustDocker(t, "kill", ids["always"])
	start := time.Now()
	h.waitInstance("always", "restarted in place after docker kill", 10*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.Restarts == 1 && in.ContainerID == ids["always"] &&
			in.LastExitCode != nil && *in.LastExitCode == 137
	})
	t.Logf("always: RUNNING again %s after docker kill (restart delay 1s)", time.Since(start).Round(time.Millisecond))
	if got, _ := inspect(ids["always"], "{{.State.Running}}"); got != "true" {
		t.Errorf("container of always is not running after its restart: %q", got)
	}
	out, _, _ := applyctl(t, h.etcd, "", "get", "units")
	if row := tableRow(out, h.unit("always")); len(row) < 4 || row[2] != "RUNNING" || row[3] != "1" {
		t.Errorf("get units row %q, want RUNNING with 1 restart", row)
	}

	mustDocker(t, "kill", ids["never"])
	hit := func(u, code string) {
		in, _ := h.instance(u)
		url := fmt.Sprintf("http://127.0.0.1:%d/exit?code=%s", hostPort(t, in, "http"), code)
		if c, body := httpGet(url); c != 200 {
			t.Fatalf("GET %s: %d %s", url, c, body)
		}
	}
	hit("onf-ok", "0")
	hit("onf-bad", "3")
	h.waitInstance("onf-bad", "restarted after exit 3", 10*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.Restarts == 1 && in.ContainerID == ids["onf-bad"] &&
			in.LastExitCode != nil && *in.LastExitCode == 3
	})
	exited := func(u string, code int) func() (bool, string) {
		return func() (bool, string) {
			in, problem := h.instance(u)
			if problem != "" {
				return false, problem
			}
			running, _ := inspect(ids[u], "{{.State.Running}}")
			return in.State == v1.StateExited && in.Restarts == 0 && in.ContainerID == ids[u] &&
				in.LastExitCode != nil && *in.LastExitCode == code && running == "false", describeInstance(in) + "; running " + running
		}
	}
	eventually(t, 10*time.Second, "never: EXITED after docker kill", exited("never", 137))
	eventually(t, 10*time.Second, "on-failure: EXITED after exit 0", exited("onf-ok", 0))
	// The restart delay is 1s: three of them without a restart is proof.
	consistently(t, 3*time.Second, "never and on-failure after exit 0 stay EXITED", func() (bool, string) {
		if ok, last := exited("never", 137)(); !ok {
			return false, "never: " + last
		}
		return exited("onf-ok", 0)()
	})
}

// TestUnitStartLimit: a unit that keeps exiting is started at most
// startLimit.burst times within the interval, then FAILED with the reason.
func TestUnitStartLimit(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	h.apply(h.doc("flap", testapp(`    args: ["--exit-after", "100ms", "--exit-code", "1"]
`, `  restart:
    policy: always
    delay: 100ms
    maxDelay: 100ms
    startLimit: {burst: 3, interval: 1m}
`)))
	in := h.waitInstance("flap", "FAILED", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateFailed
	})
	if !strings.Contains(in.Message, "start") || !strings.Contains(in.Message, "burst 3") {
		t.Errorf("FAILED message %q does not name the start limit", in.Message)
	}
	if in.LastExitCode == nil || *in.LastExitCode != 1 {
		t.Errorf("last exit code %v, want 1", in.LastExitCode)
	}
	if in.Restarts != 2 {
		t.Errorf("restarts %d, want 2 (3 starts allowed by the burst)", in.Restarts)
	}
	consistently(t, 2*time.Second, "FAILED stays, no further start", func() (bool, string) {
		cur, problem := h.instance("flap")
		running, _ := inspect(h.container("flap"), "{{.State.Running}}")
		return problem == "" && cur.State == v1.StateFailed && cur.Restarts == in.Restarts && running != "true",
			problem + describeInstance(cur) + "; running " + running
	})
}

// TestUnitTemplateChange: a changed template recreates the container; an
// unchanged one is left alone, also across a restart of the controller.
func TestUnitTemplateChange(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	h := newUnitHost(t, controllerOpts{dataDir: dataDir}, false)
	doc := func(msg string) string {
		return h.doc("tpl", testapp(fmt.Sprintf("    env: [{name: MESSAGE, value: %s}]\n    ports: [{name: http, containerPort: 8080}]\n", msg), ""))
	}
	answers := func(in v1.InstanceStatus, msg string) {
		t.Helper()
		url := fmt.Sprintf("http://127.0.0.1:%d/", hostPort(t, in, "http"))
		eventually(t, 10*time.Second, "GET "+url+" answers "+msg, func() (bool, string) {
			code, body := httpGet(url)
			return code == 200 && strings.Contains(body, "message="+msg+"\n"), fmt.Sprint(code, " ", body)
		})
	}
	if out := h.apply(doc("one")); out != fmt.Sprintf("unit/%s created\n", h.unit("tpl")) {
		t.Errorf("first apply printed %q", out)
	}
	first := h.waitRunning("tpl", 60*time.Second)
	answers(first, "one")

	if out := h.apply(doc("two")); out != fmt.Sprintf("unit/%s configured\n", h.unit("tpl")) {
		t.Errorf("changed apply printed %q", out)
	}
	second := h.waitInstance("tpl", "recreated at generation 2", 60*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.ObservedGeneration == 2 && in.ContainerID != "" && in.ContainerID != first.ContainerID
	})
	answers(second, "two")
	eventually(t, 10*time.Second, "old container removed", func() (bool, string) { return containerGone(first.ContainerID) })
	if cs, err := hostContainers(h.name); err != nil || len(cs) != 1 {
		t.Errorf("containers of the host after the change: %+v %v", cs, err)
	}

	if out := h.apply(doc("two")); out != fmt.Sprintf("unit/%s unchanged\n", h.unit("tpl")) {
		t.Errorf("unchanged apply printed %q", out)
	}
	created, _ := inspect(second.ContainerID, "{{.Created}}")

	if err := h.c.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("controller exited with %v on SIGTERM:\n%s", err, h.c.log())
	}
	if running, _ := inspect(second.ContainerID, "{{.State.Running}}"); running != "true" {
		t.Errorf("the container stopped with the controller: running=%q", running)
	}
	h.c.start()
	// The restarted controller has looked at the Unit once it has reconciled.
	eventually(t, 30*time.Second, "the restarted controller reconciles", func() (bool, string) {
		n, last := h.unitReconciles()
		return n >= 1, last
	})
	if out := h.apply(doc("two")); out != fmt.Sprintf("unit/%s unchanged\n", h.unit("tpl")) {
		t.Errorf("unchanged apply after the restart printed %q", out)
	}
	consistently(t, 2*time.Second, "same container after the restart", func() (bool, string) {
		in, problem := h.instance("tpl")
		c, _ := inspect(second.ContainerID, "{{.Created}} {{.State.Running}}")
		return problem == "" && in.ContainerID == second.ContainerID && in.State == v1.StateRunning && c == created+" true",
			problem + describeInstance(in) + "; " + c
	})
	answers(second, "two")
}

// TestUnitDelete: delete stops and removes the container and the status.
func TestUnitDelete(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	h.apply(h.doc("del", testapp("", "")))
	in := h.waitRunning("del", 60*time.Second)
	out, errOut, code := applyctl(t, h.etcd, "", "delete", "unit", h.unit("del"))
	if code != 0 || !strings.Contains(out, "unit/"+h.unit("del")+" deleted") {
		t.Fatalf("delete: exit %d: %q %q", code, out, errOut)
	}
	eventually(t, 30*time.Second, "container removed", func() (bool, string) { return containerGone(in.ContainerID) })
	out, errOut, code = applyctl(t, h.etcd, "", "get", "units")
	if code != 0 || strings.TrimSpace(out) != "" || !strings.Contains(errOut, "No resources found.") {
		t.Errorf("get units after delete: exit %d, out %q, err %q", code, out, errOut)
	}
}

// TestUnitOrphansAndForeignContainers: a container labelled as a Unit of
// this host that no Unit owns is removed, whether it was there when the
// controller started or appeared later; containers without berth's labels
// or of another host are never touched.
func TestUnitOrphansAndForeignContainers(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, true)
	other := "e2e-u-other-" + randomSuffix(6)
	foreign := "e2e-foreign-" + h.sfx
	othersUnit := "e2e-other-host-" + h.sfx
	t.Cleanup(func() { docker("rm", "-f", foreign, othersUnit) })
	ghost := func(name string) string {
		return mustDocker(t, "run", "-d", "--name", "e2e-ghost-"+name+"-"+h.sfx,
			"--label", v1.LabelHost+"="+h.name, "--label", v1.LabelKind+"=Unit", "--label", v1.LabelName+"="+name, testImage)
	}
	before := ghost("ghost")
	mustDocker(t, "run", "-d", "--name", foreign, testImage)
	mustDocker(t, "run", "-d", "--name", othersUnit,
		"--label", v1.LabelHost+"="+other, "--label", v1.LabelKind+"=Unit", "--label", v1.LabelName+"=ghost", testImage)

	h.c = startController(t, controllerOpts{name: h.name, extra: []string{"--log-level", "debug"}})
	h.etcd = h.c.etcd
	eventually(t, 30*time.Second, "orphan present at start removed", func() (bool, string) { return containerGone(before) })
	// The controller removes an orphan on its create event, so a docker run
	// may lose its container before it starts it: create, then try to start.
	after := mustDocker(t, "create", "--name", "e2e-ghost-ghost2-"+h.sfx,
		"--label", v1.LabelHost+"="+h.name, "--label", v1.LabelKind+"=Unit", "--label", v1.LabelName+"=ghost2", testImage)
	docker("start", after)
	eventually(t, 30*time.Second, "orphan started later removed", func() (bool, string) { return containerGone(after) })

	untouched := func() (bool, string) {
		for _, name := range []string{foreign, othersUnit} {
			if s, err := inspect(name, "{{.State.Running}} {{.RestartCount}}"); err != nil || s != "true 0" {
				return false, name + ": " + s
			}
		}
		return true, ""
	}
	consistently(t, 2*time.Second, "foreign containers untouched", untouched)
}

// TestUnitImageNeverPulled: pullPolicy Never with a missing image is a
// status message and a retry, not a crash; the unit comes up once the image
// is there.
func TestUnitImageNeverPulled(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	image := "berth/e2e-missing-" + h.sfx + ":latest"
	t.Cleanup(func() { docker("rmi", image) })
	h.apply(h.doc("never-pull", "  container:\n    image: "+image+"\n    pullPolicy: Never\n"))
	in := h.waitInstance("never-pull", "image missing in the message", 30*time.Second, func(in v1.InstanceStatus) bool {
		return strings.Contains(in.Message, image) && strings.Contains(in.Message, "not present")
	})
	t.Logf("status while the image is missing: %s (throttled %q)", describeInstance(in), in.Throttled)
	if in.State == v1.StateRunning {
		t.Errorf("state %s while the image is missing", in.State)
	}
	// Several reconciles fail meanwhile; the controller lives on.
	eventually(t, 10*time.Second, "retries", func() (bool, string) {
		return strings.Count(h.c.log(), image) >= 3, "log mentions the image fewer than 3 times"
	})
	select {
	case err := <-h.c.done:
		h.c.done <- err
		t.Fatalf("controller exited: %v\n%s", err, h.c.log())
	default:
	}
	if code, body := httpGet("http://" + h.c.listen + "/healthz"); code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	mustDocker(t, "tag", testImage, image)
	h.waitRunning("never-pull", 45*time.Second)
}

// TestUnitSurvivesEtcdOutage: with etcd stopped for 30s the container keeps
// running, the controller reports not ready and lives on; when etcd
// returns it is ready again and converges on a change.
func TestUnitSurvivesEtcdOutage(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	etcd := testenv.EtcdProcess(t)
	h := newUnitHost(t, controllerOpts{etcdEndpoints: strings.Join(etcd.Endpoints(), ",")}, false)
	doc := func(msg string) string {
		return h.doc("outage", testapp(fmt.Sprintf("    env: [{name: MESSAGE, value: %s}]\n    ports: [{name: http, containerPort: 8080}]\n", msg), ""))
	}
	h.apply(doc("before"))
	in := h.waitRunning("outage", 60*time.Second)
	id := in.ContainerID

	etcd.Stop()
	down := time.Now()
	readyz := "http://" + h.c.listen + "/readyz"
	eventually(t, 30*time.Second, "/readyz not ready, naming etcd", func() (bool, string) {
		code, body := httpGet(readyz)
		return code == 503 && strings.Contains(body, "etcd"), fmt.Sprint(code, " ", body)
	})
	t.Logf("/readyz turned 503 %s after etcd stopped", time.Since(down).Round(time.Millisecond))
	// Holding etcd down for 30s is the point of this test.
	consistently(t, 30*time.Second-time.Since(down), "container running while etcd is down", func() (bool, string) {
		s, err := inspect(id, "{{.State.Running}} {{.RestartCount}}")
		select {
		case err := <-h.c.done:
			h.c.done <- err
			return false, fmt.Sprintf("controller exited: %v", err)
		default:
		}
		return err == nil && s == "true 0", s
	})
	etcd.Start()
	eventually(t, 60*time.Second, "/readyz ready again", func() (bool, string) {
		code, body := httpGet(readyz)
		return code == 200, fmt.Sprint(code, " ", body)
	})
	if cur, _ := h.instance("outage"); cur.ContainerID != id || cur.State != v1.StateRunning {
		t.Errorf("after the outage: %s, want RUNNING in %.12s", describeInstance(cur), id)
	}
	h.apply(doc("after"))
	next := h.waitInstance("outage", "converged on the change", 60*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.ObservedGeneration == 2 && in.ContainerID != id
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", hostPort(t, next, "http"))
	eventually(t, 10*time.Second, "new message answered", func() (bool, string) {
		code, body := httpGet(url)
		return code == 200 && strings.Contains(body, "message=after"), fmt.Sprint(code, " ", body)
	})
}

// TestUnitControllerKilledMidApply: a controller killed with SIGKILL while
// it starts 20 units ends, once started again, with exactly one running
// container per unit.
func TestUnitControllerKilledMidApply(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	h := newUnitHost(t, controllerOpts{dataDir: dataDir}, false)
	const n = 20
	var docs []string
	for i := 0; i < n; i++ {
		docs = append(docs, h.doc(fmt.Sprintf("k%02d", i), testapp("    ports: [{name: http, containerPort: 8080}]\n", "")))
	}
	h.apply(docs...)
	eventually(t, 60*time.Second, "a first container exists", func() (bool, string) {
		cs, err := hostContainers(h.name)
		return err == nil && len(cs) > 0, fmt.Sprint(err)
	})
	if err := h.c.signal(syscall.SIGKILL); err == nil {
		t.Fatalf("controller exited cleanly on SIGKILL")
	}
	cs, _ := hostContainers(h.name)
	t.Logf("%d of %d containers existed when the controller was killed", len(cs), n)

	h.c.start()
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		want[h.unit(fmt.Sprintf("k%02d", i))] = true
	}
	exactly := func() (bool, string) {
		cs, err := hostContainers(h.name)
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]int{}
		for _, c := range cs {
			if c.State != "running" || !want[c.Unit] || c.Name != "berth-unit-"+c.Unit {
				return false, fmt.Sprintf("%+v", c)
			}
			seen[c.Unit]++
		}
		return len(cs) == n && len(seen) == n, fmt.Sprintf("%d containers for %d units", len(cs), len(seen))
	}
	eventually(t, 90*time.Second, "exactly 20 running containers, one per unit", exactly)
	eventually(t, 30*time.Second, "every unit RUNNING in status", func() (bool, string) {
		us, err := h.units()
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, u := range us {
			if u.Status != nil && len(u.Status.Instances) == 1 && u.Status.Instances[0].State == v1.StateRunning {
				running++
			}
		}
		return running == n, fmt.Sprintf("%d of %d RUNNING", running, n)
	})
	consistently(t, 2*time.Second, "still exactly 20", exactly)
}
