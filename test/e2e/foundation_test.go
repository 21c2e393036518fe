package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/internal/testenv"
)

// TestWalkThrough follows the README: a controller with its embedded etcd,
// manifests/todo.yaml applied, read back, changed, and the controller
// stopped with SIGTERM and started again on the same data directory.
func TestWalkThrough(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	// As hack/run.sh starts it, the examples keeping their data under
	// the allowed host path; a folder of the test's rather than the
	// machine's /var/lib/berth-volumes, which the controller would create.
	volumes := filepath.Join(t.TempDir(), "berth-volumes")
	c := startController(t, controllerOpts{name: "e2e-walk", dataDir: dataDir, extra: []string{"--allowed-host-paths", volumes}})
	todo := strings.ReplaceAll(readFile(t, repoFile(t, "manifests/todo.yaml")), "/var/lib/berth-volumes", volumes)

	out, errOut, code := applyctl(t, c.etcd, todo, "apply", "-f", "-")
	if code != 0 || out != "unit/todo created\nservice/todo created\n" {
		t.Fatalf("first apply: code %d, out %q, err %q", code, out, errOut)
	}
	out, _, code = applyctl(t, c.etcd, todo, "apply", "-f", "-")
	if code != 0 || out != "unit/todo unchanged\nservice/todo unchanged\n" {
		t.Fatalf("second apply: code %d, out %q", code, out)
	}

	changed := strings.Replace(todo, "interval: 5s\n  restart:", "interval: 7s\n  restart:", 1)
	out, errOut, code = applyctl(t, c.etcd, changed, "apply", "-f", "-")
	if code != 0 || !strings.Contains(out, "unit/todo configured") || !strings.Contains(out, "service/todo unchanged") {
		t.Fatalf("changed apply: code %d, out %q, err %q", code, out, errOut)
	}
	out, _, code = applyctl(t, c.etcd, "", "get", "units", "-o", "json")
	var list struct {
		APIVersion, Kind string
		Items            []struct {
			Metadata struct {
				Name       string
				Generation int64
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 {
		t.Fatalf("get -o json: %v %q", err, out)
	}
	if list.APIVersion != "berth.dev/v1" || list.Kind != "List" || len(list.Items) != 1 || list.Items[0].Metadata.Generation != 2 {
		t.Fatalf("get -o json = %+v", list)
	}

	out, _, code = applyctl(t, c.etcd, "", "get", "hosts")
	if code != 0 || !strings.Contains(out, "e2e-walk") || !strings.Contains(out, "UP") {
		t.Fatalf("get hosts: %q", out)
	}

	if err := c.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("controller exited with %v on SIGTERM:\n%s", err, c.log())
	}
	if !strings.Contains(c.log(), "host lease revoked") {
		t.Errorf("no lease revoked on SIGTERM:\n%s", c.log())
	}

	c.start()
	out, _, code = applyctl(t, c.etcd, "", "get", "units")
	if code != 0 || !strings.Contains(out, "todo") {
		t.Fatalf("after restart, get units: %q", out)
	}
	out, _, _ = applyctl(t, c.etcd, "", "get", "services")
	if !strings.Contains(out, "todo") {
		t.Fatalf("after restart, get services: %q", out)
	}
}

// TestHostDownWhenControllerDies: a controller killed with SIGKILL cannot
// revoke its lease; its host shows DOWN once the lease expires, and UP
// again when it comes back.
func TestHostDownWhenControllerDies(t *testing.T) {
	t.Parallel()
	etcd := strings.Join(testenv.Etcd(t), ",")
	c := startController(t, controllerOpts{name: "e2e-down", etcdEndpoints: etcd, ttl: "2s"})
	hostStatus := func() string {
		out, _, _ := applyctl(t, etcd, "", "get", "hosts")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "e2e-down" {
				return f[1]
			}
		}
		return "absent: " + out
	}
	if got := hostStatus(); got != "UP" {
		t.Fatalf("host status %q, want UP", got)
	}
	_ = c.signal(syscall.SIGKILL)
	eventually(t, 15*time.Second, "host DOWN after its lease expires", func() (bool, string) {
		s := hostStatus()
		return s == "DOWN", s
	})
	c.start()
	eventually(t, 10*time.Second, "host UP again", func() (bool, string) {
		s := hostStatus()
		return s == "UP", s
	})
}

// TestBadManifestWritesNothing: an apply with one bad document among good
// ones writes nothing and says where the problem is.
func TestBadManifestWritesNothing(t *testing.T) {
	t.Parallel()
	etcd := strings.Join(testenv.Etcd(t), ",")
	dir := t.TempDir()
	good := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: good}\nspec:\n  container: {image: x}\n"
	bad := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: bad}\nspec:\n  container:\n    image: x\n    ports:\n      - {containerPort: 80, hostPort: 8080}\n      - {containerPort: 81, hostPort: 8080}\n"
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(good), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(bad), 0o644)
	_, errOut, code := applyctl(t, etcd, "", "apply", "-f", dir)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, "b.yaml:9: document 1 (unit/bad): spec.container.ports[1].hostPort: duplicate host port 8080") {
		t.Errorf("error does not locate the problem: %q", errOut)
	}
	out, errOut, _ := applyctl(t, etcd, "", "get", "units")
	if strings.Contains(out, "good") {
		t.Errorf("the good document was written: %q %q", out, errOut)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
