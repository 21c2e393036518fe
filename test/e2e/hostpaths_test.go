package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// The tests of this file run a controller on a host that never ran berth:
// its data directory and its allowed host path (the machine's
// /var/lib/berth and /var/lib/berth-volumes, here folders of the test that
// do not exist yet) are made by the controller, and the README's first
// examples run on it as written; and one whose allowed host path cannot be
// made says so, while apply --wait waits and in get units.

// TestFreshHostRunsTheExamples: a controller whose --data-dir and
// --allowed-host-paths do not exist creates them (0700 and 0755, owned by
// its user), and the README's todo and sqlite examples, and a Unit with a
// DirectoryOrCreate and a FileOrCreate volume below the allowed host path,
// come up with their data in the host folders.
func TestFreshHostRunsTheExamples(t *testing.T) {
	t.Parallel()
	fresh := filepath.Join(t.TempDir(), "never-ran-berth")
	dataDir := filepath.Join(fresh, "var", "lib", "berth")
	volumes := filepath.Join(fresh, "var", "lib", "berth-volumes")
	h := newUnitHost(t, controllerOpts{dataDir: dataDir, extra: []string{"--allowed-host-paths", volumes}}, false)
	for dir, mode := range map[string]os.FileMode{dataDir: 0o700, volumes: 0o755} {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v, want a directory with mode %#o", dir, fi, err, mode)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
			t.Errorf("%s owned by uid %d, want the controller's %d", dir, uid, os.Geteuid())
		}
	}

	// The walk-through's first step: the to-do application, its items in
	// the host folder.
	docs, ports := h.exampleCopy("manifests/todo.yaml", volumes)
	if out := h.applyWait(docs...); !strings.HasSuffix(out, "unit/"+h.unit("todo")+" ready\n") {
		t.Errorf("apply --wait of the todo example printed %q", out)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/api/todos", ports[8000])
	eventually(t, 15*time.Second, "POST "+url, func() (bool, string) {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"title":"buy milk"}`))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusCreated, resp.Status
	})
	if b, err := os.ReadFile(filepath.Join(volumes, "todo", "todo.json")); err != nil || !strings.Contains(string(b), "buy milk") {
		t.Errorf("the item is not in the host folder: %q %v", b, err)
	}

	// Its second: the SQLite pair, the server's database in the host folder.
	docs, ports = h.exampleCopy("manifests/sqlite.yaml", volumes)
	out := h.applyWait(docs...)
	for _, want := range []string{"unit/" + h.unit("sqliteserver") + " ready\n", "unit/" + h.unit("sqliteproxy") + " ready\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply --wait of the sqlite example printed %q, want %q", out, want)
		}
	}
	proxy := fmt.Sprintf("127.0.0.1:%d", ports[12346])
	eventually(t, 15*time.Second, "the proxy answers", func() (bool, string) {
		got, err := sqlSession(proxy, `create table t1(a,b); insert into t1 values (1,"one"),(2,"two"); select * from t1;`+"\n")
		return err == nil && got == "1|one\n2|two\n", fmt.Sprintf("%q %v", got, err)
	})
	if fi, err := os.Stat(filepath.Join(volumes, "sqlite", "db.sqlite")); err != nil || fi.Size() == 0 {
		t.Errorf("the database is not in the host folder: %v", err)
	}

	// A directory and a file made below the allowed host path, in folders
	// that did not exist either.
	data, conf := filepath.Join(volumes, "app", "data"), filepath.Join(volumes, "app", "conf", "app.conf")
	h.apply(h.doc("app", testapp(fmt.Sprintf(`    volumes:
      - {hostPath: %s, type: DirectoryOrCreate, containerPath: /data}
      - {hostPath: %s, type: FileOrCreate, containerPath: /etc/app.conf}
`, data, conf), "")))
	in := h.waitRunning("app", 60*time.Second)
	for host, ctr := range map[string]string{conf: "/etc/app.conf", filepath.Join(data, "note"): "/data/note"} {
		if err := os.WriteFile(host, []byte("written on the host at "+host+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := mustDocker(t, "exec", in.ContainerID, "/testapp", "cat", ctr); got != "written on the host at "+host {
			t.Errorf("the container reads %q at %s, want what the host wrote at %s", got, ctr, host)
		}
	}
}

// TestAllowedHostPathThatCannotBeMade: a controller whose allowed host
// path is below a regular file starts, says so in one log line, and a
// Unit with a volume there is CREATING with why and what to do, while
// apply --wait waits and in get units; once the file is moved away, the
// Unit comes up without anything else done.
func TestAllowedHostPathThatCannotBeMade(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	volumes := filepath.Join(file, "berth-volumes")
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", volumes}}, false)
	var lines []string
	for _, l := range strings.Split(h.c.log(), "\n") {
		if strings.Contains(l, "an allowed host path cannot be created") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], file+" is a file, not a directory") ||
		!strings.Contains(lines[0], "--allowed-host-paths") {
		t.Errorf("want one error line at start naming %s and the flag; got %q", file, lines)
	}

	name := h.unit("app")
	why := "volumes[0].hostPath " + volumes + "/app: host " + h.name + " cannot create the allowed host path " + volumes + ": " +
		file + " is a file, not a directory; move " + file + " away, or set controller --allowed-host-paths to another directory"
	doc := h.doc("app", testapp("    volumes: [{hostPath: "+volumes+"/app, type: DirectoryOrCreate, containerPath: /data}]\n", ""))
	out, errOut, code := applyctl(t, h.etcd, doc, "apply", "-f", "-", "--wait", "--timeout", "10s")
	if code != 1 {
		t.Errorf("apply --wait: exit %d, want 1 (timed out)", code)
	}
	if want := "waiting for unit/" + name + ": 0/1 ready (" + h.name + ": CREATING: " + why + ")\n"; !strings.Contains(out, want) {
		t.Errorf("apply --wait's progress:\n%s\nlacks the line\n%s", out, want)
	}
	if want := "  " + h.name + ": CREATING: " + why + "\n"; !strings.HasPrefix(errOut, "Error: timed out after 10s waiting for 1 unit to be ready\n") || !strings.Contains(errOut, want) {
		t.Errorf("apply --wait's error:\n%s\nwant the time-out and the line\n%s", errOut, want)
	}

	out = h.ctl("get", "units")
	header, row := strings.SplitN(out, "\n", 2)[0], ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			row = l
		}
	}
	if strings.Join(strings.Fields(header), " ") != "NAME HOST STATE RESTARTS CONTAINER PORTS AGE MESSAGE" ||
		!strings.Contains(row, " CREATING (HostPathUnavailable) ") || !strings.HasSuffix(row, "  "+why) {
		t.Errorf("get units:\n%s\nwant a MESSAGE column and the row of %s CREATING (HostPathUnavailable) with\n%s", out, name, why)
	}
	in, _ := h.instance("app")
	for _, typ := range []string{v1.ConditionReady, v1.ConditionProgressing} {
		if c := v1.FindCondition(in.Conditions, typ); c == nil || c.Status != v1.ConditionFalse || c.Reason != v1.ReasonHostPathUnavailable {
			t.Errorf("%s = %+v, want False, HostPathUnavailable", typ, c)
		}
	}
	if cs, _ := hostContainers(h.name); len(cs) != 0 {
		t.Errorf("containers made: %+v", cs)
	}

	// Fixed on the host: the controller's next try (backoff, or the
	// resync) makes the folders and runs the Unit.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	in = h.waitRunning("app", 60*time.Second)
	if in.Message != "" {
		t.Errorf("running with message %q", in.Message)
	}
	if fi, err := os.Stat(filepath.Join(volumes, "app")); err != nil || !fi.IsDir() {
		t.Errorf("%s/app not made: %v", volumes, err)
	}
}
