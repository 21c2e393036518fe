package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// testImage is the image the Docker tests run, built by hack/images.sh.
const testImage = "berth/testapp:latest"

// requireDocker skips the test with a message when the Docker engine does
// not answer or the test image is missing, and fails it under CI=true.
func requireDocker(t *testing.T) {
	t.Helper()
	if out, err := docker("info", "--format", "{{.ServerVersion}}"); err != nil {
		testenv.Require(t, false, "Docker engine unavailable (docker info: %v: %s)", err, out)
		return
	}
	if out, err := docker("image", "inspect", "--format", "{{.Id}}", testImage); err != nil {
		testenv.Require(t, false, "image %s missing: run hack/images.sh (%s)", testImage, out)
	}
}

// docker runs the docker CLI and returns its trimmed combined output.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mustDocker is docker that fails the test on an error.
func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(args...)
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// randomSuffix returns n random hex digits.
func randomSuffix(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// unitHost is one test's Docker world: a controller under its own host
// name, whose containers are removed when the test ends, and a prefix that
// keeps the test's Unit (and so container) names apart from every other
// test's: container names are global to the engine.
type unitHost struct {
	t    *testing.T
	name string // --host-name
	sfx  string // prefix of the test's Unit names
	c    *controller
	etcd string
}

// newUnitHost requires Docker, picks a host name e2e-u-<random>, removes
// every container labelled with it at cleanup (after the controller is
// killed), and starts a controller for it with o (name filled in) unless
// noStart.
func newUnitHost(t *testing.T, o controllerOpts, noStart bool) *unitHost {
	t.Helper()
	requireDocker(t)
	h := &unitHost{t: t, sfx: "u" + randomSuffix(6)}
	h.name = "e2e-u-" + h.sfx[1:]
	// Registered before startController's cleanup, so it runs after the
	// controller has been killed and cannot recreate anything.
	t.Cleanup(func() { removeHostContainers(t, h.name) })
	o.name = h.name
	o.extra = append(o.extra, "--log-level", "debug")
	if !noStart {
		h.c = startController(t, o)
		h.etcd = h.c.etcd
	}
	return h
}

func removeHostContainers(t *testing.T, host string) {
	ids, err := docker("ps", "-aq", "--filter", "label="+v1.LabelHost+"="+host)
	if err != nil {
		t.Logf("cleanup: list containers of %s: %v: %s", host, err, ids)
		return
	}
	if f := strings.Fields(ids); len(f) > 0 {
		if out, err := docker(append([]string{"rm", "-f", "-v"}, f...)...); err != nil {
			t.Logf("cleanup: remove containers of %s: %v: %s", host, err, out)
		}
	}
}

// unit returns the full name of the test's Unit called short.
func (h *unitHost) unit(short string) string { return h.sfx + "-" + short }

// container returns the container name of the test's Unit called short.
func (h *unitHost) container(short string) string { return "berth-unit-" + h.unit(short) }

// doc returns a Unit document pinned to this host; spec is the YAML of the
// rest of spec, indented by two spaces.
func (h *unitHost) doc(short, spec string) string {
	return fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  placement: {hosts: [%s]}\n%s", h.unit(short), h.name, spec)
}

// testapp returns the spec of a Unit running testapp with extra container
// fields (indented by four spaces) and extra spec fields (by two).
func testapp(container, spec string) string {
	return "  container:\n    image: " + testImage + "\n" + container + spec
}

// apply applies docs through applyctl and returns its stdout.
func (h *unitHost) apply(docs ...string) string {
	h.t.Helper()
	out, errOut, code := applyctl(h.t, h.etcd, strings.Join(docs, "---\n"), "apply", "-f", "-")
	if code != 0 {
		h.t.Fatalf("apply: exit %d: %s%s\n%s", code, out, errOut, strings.Join(docs, "---\n"))
	}
	return out
}

// units returns the Units of get units -o json, by name.
func (h *unitHost) units() (map[string]v1.Unit, error) {
	out, errOut, code := applyctl(h.t, h.etcd, "", "get", "units", "-o", "json")
	if code != 0 {
		return nil, fmt.Errorf("get units -o json: exit %d: %s", code, errOut)
	}
	var list struct {
		Kind  string
		Items []v1.Unit
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("get units -o json: %v: %q", err, out)
	}
	m := map[string]v1.Unit{}
	for _, u := range list.Items {
		m[u.Metadata.Name] = u
	}
	return m, nil
}

// instance returns the status of the Unit's instance on this host.
func (h *unitHost) instance(short string) (v1.InstanceStatus, string) {
	us, err := h.units()
	if err != nil {
		return v1.InstanceStatus{}, err.Error()
	}
	u, ok := us[h.unit(short)]
	if !ok {
		return v1.InstanceStatus{}, "unit not listed"
	}
	if u.Status != nil {
		for _, in := range u.Status.Instances {
			if in.Host == h.name {
				return in, ""
			}
		}
	}
	return v1.InstanceStatus{}, "no instance status on " + h.name
}

// waitInstance waits until the instance's status satisfies cond and
// returns it.
func (h *unitHost) waitInstance(short, what string, timeout time.Duration, cond func(v1.InstanceStatus) bool) v1.InstanceStatus {
	h.t.Helper()
	var got v1.InstanceStatus
	eventually(h.t, timeout, h.unit(short)+": "+what, func() (bool, string) {
		in, problem := h.instance(short)
		if problem != "" {
			return false, problem
		}
		got = in
		return cond(in), describeInstance(in)
	})
	return got
}

// waitRunning waits until the instance is RUNNING with a container.
func (h *unitHost) waitRunning(short string, timeout time.Duration) v1.InstanceStatus {
	h.t.Helper()
	return h.waitInstance(short, "RUNNING", timeout, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.ContainerID != ""
	})
}

func describeInstance(in v1.InstanceStatus) string {
	code := "-"
	if in.LastExitCode != nil {
		code = strconv.Itoa(*in.LastExitCode)
	}
	return fmt.Sprintf("state %s, container %.12s, restarts %d, last exit %s, observedGeneration %d, message %q",
		in.State, in.ContainerID, in.Restarts, code, in.ObservedGeneration, in.Message)
}

// hostPort returns the host port published for the named port.
func hostPort(t *testing.T, in v1.InstanceStatus, name string) int {
	t.Helper()
	for _, p := range in.Ports {
		if p.Name == name && p.HostPort != 0 {
			return p.HostPort
		}
	}
	t.Fatalf("no host port named %q in status ports %+v", name, in.Ports)
	return 0
}

// hostContainer is a container labelled for a test's host.
type hostContainer struct {
	ID, Name, State, Unit string
}

// hostContainers lists the containers labelled with the host.
func hostContainers(host string) ([]hostContainer, error) {
	out, err := docker("ps", "-a", "--no-trunc", "--filter", "label="+v1.LabelHost+"="+host,
		"--format", `{{.ID}} {{.Names}} {{.State}} {{.Label "berth.dev/name"}}`)
	if err != nil {
		return nil, fmt.Errorf("docker ps: %v: %s", err, out)
	}
	var cs []hostContainer
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 4 {
			cs = append(cs, hostContainer{ID: f[0], Name: f[1], State: f[2], Unit: f[3]})
		}
	}
	return cs, nil
}

// inspect returns docker inspect -f format of a container, or an error
// when it does not exist.
func inspect(ref, format string) (string, error) {
	return docker("inspect", "-f", format, ref)
}

// containerGone reports whether no container ref exists.
func containerGone(ref string) (bool, string) {
	out, err := inspect(ref, "{{.State.Status}}")
	if err == nil {
		return false, "container " + ref + " is " + out
	}
	return strings.Contains(out, "No such"), out
}

// consistently checks cond every 200ms for d and fails the test the first
// time it is false: the check of what must not happen.
func consistently(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, last := cond(); !ok {
			t.Fatalf("%s: stopped being true: %s", what, last)
		}
		time.Sleep(200 * time.Millisecond) // the sampling period of a condition that must hold
	}
}

// tableRow returns the fields of the row of get units whose NAME is name.
func tableRow(table, name string) []string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

var metricLine = regexp.MustCompile(`(?m)^controller_runtime_reconcile_total\{controller="unit",result="success"\} (\S+)$`)

// unitReconciles returns how many Unit reconciles the controller has done
// successfully since it started, from /metrics.
func (h *unitHost) unitReconciles() (float64, string) {
	code, body := httpGet("http://" + h.c.listen + "/metrics")
	if code != 200 {
		return -1, fmt.Sprint(code, body)
	}
	m := metricLine.FindStringSubmatch(body)
	if m == nil {
		return -1, "no controller_runtime_reconcile_total for unit"
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v, m[0]
}
