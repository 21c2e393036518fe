package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

const convertTestdata = "../convert/testdata/"

// TestConvertThenApply: the manifests convert prints are what apply takes,
// unchanged, through standard input.
func TestConvertThenApply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"systemd units", []string{"-f", convertTestdata + "systemd-sqlite"}, []string{"unit/sqliteproxy created", "unit/sqliteserver created"}},
		{"compose", []string{"-f", convertTestdata + "compose-webdb/compose.yaml"}, []string{"unit/db created", "service/db created", "unit/web created", "service/web created"}},
		{"helios as json", []string{"-f", convertTestdata + "helios-netcat/netcat.json", "-o", "json"}, []string{"job/netcat created"}},
	} {
		r := e.run("", append([]string{"convert"}, tc.args...)...)
		if r.code != 0 {
			t.Fatalf("%s: convert: exit %d: %s", tc.name, r.code, r.err)
		}
		a := e.run(r.out, "apply", "-f", "-")
		if a.code != 0 {
			t.Fatalf("%s: apply -f - of what convert printed: exit %d: %s\n%s", tc.name, a.code, a.err, r.out)
		}
		for _, w := range tc.want {
			if !strings.Contains(a.out, w+"\n") {
				t.Errorf("%s: apply printed %q, want a line %q", tc.name, a.out, w)
			}
		}
	}
	o, err := store.GetObject(context.Background(), e.st, v1.KindUnit, "web")
	if err != nil {
		t.Fatal(err)
	}
	if u := o.(*v1.Unit); u.Spec.StartCondition["db"] != v1.StartConditionHealthy || u.Spec.Container.Env[1].Value != "hello from compose" {
		t.Errorf("the web unit applied: startCondition %v, env %v; want db healthy and MESSAGE from .env", u.Spec.StartCondition, u.Spec.Container.Env)
	}
}

// TestConvertDropped: what cannot be carried over is listed with file and
// line; convert exits 1 and prints nothing unless --allow-partial.
func TestConvertDropped(t *testing.T) {
	t.Parallel()
	e := &env{t: t}
	file := convertTestdata + "systemd-todo-host/todo.service"
	want := file + ":9: ExecStartPre=/bin/touch /var/lib/db/live runs on the host: not converted; use a volume with type FileOrCreate\n"
	r := e.run("", "convert", "-f", file)
	if r.code != 1 || r.out != "" || !strings.HasPrefix(r.err, want) || !strings.Contains(r.err, "Error: 1 setting was not carried over") {
		t.Errorf("convert -f %s: exit %d, stdout %q, stderr %q; want exit 1, nothing printed, and %q", file, r.code, r.out, r.err, want)
	}
	r = e.run("", "convert", "-f", file, "--allow-partial")
	if r.code != 0 || !strings.Contains(r.out, "name: todo") || r.err != want {
		t.Errorf("convert --allow-partial: exit %d, stdout %q, stderr %q; want exit 0, the unit, and %q", r.code, r.out, r.err, want)
	}
}

// TestConvertComposeProjectName: a compose file without name: takes its
// directory's name, as docker compose does, unless --project-name.
func TestConvertComposeProjectName(t *testing.T) {
	t.Parallel()
	e := &env{t: t}
	dir := filepath.Join(t.TempDir(), "My_Shop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte("services:\n  web:\n    image: x\n    profiles: [extra]\n  db:\n    image: y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.ok("convert", "-f", dir)
	if !strings.Contains(out, "com.docker.compose.project: my_shop") || strings.Contains(out, "name: web") {
		t.Errorf("convert -f %s printed:\n%s\nwant the project my_shop, without the web service of profile extra", dir, out)
	}
	out = e.ok("convert", "-f", dir, "--project-name", "other", "--profile", "extra")
	if !strings.Contains(out, "com.docker.compose.project: other") || !strings.Contains(out, "name: web") {
		t.Errorf("convert --project-name other --profile extra printed:\n%s", out)
	}
}

func TestConvertBadInput(t *testing.T) {
	t.Parallel()
	e := &env{t: t}
	for _, tc := range []struct {
		args  []string
		stdin string
		code  int
		err   string
	}{
		{[]string{"convert"}, "", 2, "convert needs -f"},
		{[]string{"convert", "-f", "x.service", "-o", "wide"}, "", 2, `unsupported output format "wide"`},
		{[]string{"convert", "-f", "no-such.service"}, "", 1, "no-such.service: no such file or directory"},
		{[]string{"convert", "-f", "-"}, "just words\n", 1, "cannot tell what - is"},
		{[]string{"convert", "-f", "-"}, "services:\n  web: {image: x, ports: [\"not a port\"]}\n", 1, "-: "},
		{[]string{"convert", "-f", "-"}, "[Service]\nExecStart=/usr/bin/myapp\n", 1, "-:2: ExecStart=/usr/bin/myapp does not run a container with docker run"},
		{[]string{"convert", "-f", "-"}, `{"id": "x:1", "image": 5}`, 1, "-: image: a number where string is expected"},
	} {
		r := e.run(tc.stdin, tc.args...)
		if r.code != tc.code || !strings.Contains(r.err, tc.err) {
			t.Errorf("%v with %q: exit %d, stderr %q; want exit %d and %q", tc.args, tc.stdin, r.code, r.err, tc.code, tc.err)
		}
	}
}

// TestCreateJob: create job as helios create, its id, immutable versions,
// and job references by name, NAME:VERSION and id.
func TestCreateJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idRe := regexp.MustCompile(`^netcat:v1:[0-9a-f]{64}\n$`)
	create := []string{"create", "job", "netcat:v1", "berth/testapp:latest", "-p", "nc=8080:18080", "-r", "netcat", "--env", "MESSAGE=hi", "--tcp-check", "nc", "--deploy", "host-a,host-b", "--", "--listen", ":8080"}
	id := e.ok(create...)
	if !idRe.MatchString(id) {
		t.Fatalf("create job printed %q, want the id netcat:v1:HASH", id)
	}
	if again := e.ok(create...); again != id {
		t.Errorf("creating the same job again printed %q, want the same id %q", again, id)
	}
	o, err := store.GetObject(context.Background(), e.st, v1.KindJob, "netcat")
	if err != nil {
		t.Fatal(err)
	}
	j := o.(*v1.Job)
	if strings.TrimSpace(id) != jobFullID(j) || len(j.Spec.Deployments) != 2 || j.Spec.Registration[0].Service != "netcat" ||
		j.Spec.Container.Ports[0].HostPort != 18080 || j.Spec.Container.HealthCheck.TCP == nil {
		t.Errorf("the stored job %s does not carry the flags: %+v", jobFullID(j), j.Spec)
	}

	r := e.run("", "create", "job", "netcat:v1", "berth/testapp:latest", "-p", "nc=8080")
	if r.code != 1 || !strings.Contains(r.err, "exists with another container template") || !strings.Contains(r.err, "versions are immutable") {
		t.Errorf("another template under netcat:v1: exit %d, stderr %q; want exit 1 and versions are immutable", r.code, r.err)
	}
	v2 := e.ok("create", "job", "netcat:v2", "berth/testapp:latest", "-p", "nc=8080")
	if !strings.HasPrefix(v2, "netcat:v2:") {
		t.Fatalf("create job netcat:v2 printed %q", v2)
	}
	o, _ = store.GetObject(context.Background(), e.st, v1.KindJob, "netcat")
	if j := o.(*v1.Job); len(j.Spec.Deployments) != 2 {
		t.Errorf("the new version has deployments %v, want those of v1 kept", j.Spec.Deployments)
	}

	// References: NAME, NAME:VERSION and the id (or a prefix of its hash).
	hash := strings.Split(strings.TrimSpace(v2), ":")[2]
	for _, name := range []string{"netcat", "netcat:v2", "netcat:v2:" + hash, "netcat:v2:" + hash[:8]} {
		if out := e.ok("get", "job", name); !strings.Contains(out, "netcat") {
			t.Errorf("get job %s printed %q", name, out)
		}
	}
	if r := e.run("", "get", "job", "netcat:v1"); r.code != 1 || !strings.Contains(r.err, "version v2 is stored, not v1") {
		t.Errorf("get job netcat:v1: exit %d, stderr %q; want the stored version named", r.code, r.err)
	}
	if r := e.run("", "delete", "job", "netcat:v1"); r.code != 1 {
		t.Errorf("delete job netcat:v1 while v2 is stored: exit %d, want 1", r.code)
	}
	if out := e.ok("delete", "job", "netcat:v2:"+hash[:8]); out != "job/netcat deleted\n" {
		t.Errorf("delete job by id printed %q", out)
	}
	e.ok("wait", "--for=delete", "job/netcat:v2", "--timeout", "5s")
	if r := e.run("", "wait", "--for=delete", "job/netcat:v2:"); r.code != 2 {
		t.Errorf("wait for job/netcat:v2: (an empty hash): exit %d, want 2: %s", r.code, r.err)
	}
}

// TestCreateJobFromFile: -f reads a Helios job config and the flags
// override it, as helios create -f does; --dry-run -o yaml needs no etcd.
func TestCreateJobFromFile(t *testing.T) {
	t.Parallel()
	e := &env{t: t, eps: "http://127.0.0.1:1"}
	r := e.run("", "create", "job", "nc:v3", "-f", convertTestdata+"helios-netcat/netcat.json", "--env", "MESSAGE=flag wins", "--dry-run", "-o", "yaml")
	for _, want := range []string{"name: nc\n", "version: v3\n", "image: berth/testapp:latest\n", "value: flag wins\n", "service: netcat\n", "tcp:\n", "gracePeriod: 5s\n"} {
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Errorf("create job -f: exit %d, stderr %q, want %q in:\n%s", r.code, r.err, want, r.out)
		}
	}
	if r := e.run("", "create", "job", "nc", "img"); r.code != 2 || !strings.Contains(r.err, `"nc" is not NAME:VERSION`) {
		t.Errorf("create job nc img: exit %d, stderr %q", r.code, r.err)
	}
	if r := e.run("", "create", "job", "nc:1", "img", "-r", "svc", "--dry-run", "-o", "yaml"); r.code != 2 || !strings.Contains(r.err, "names no port") {
		t.Errorf("create job -r without a port: exit %d, stderr %q", r.code, r.err)
	}
}

func jobFullID(j *v1.Job) string {
	return j.Metadata.Name + ":" + j.Spec.Version + ":" + v1.FullTemplateHash(&j.Spec.Container)
}

// TestCreateUnit: create unit takes docker run's flags; the same again is
// unchanged, another spec is refused, and --dry-run -o yaml needs no etcd.
func TestCreateUnit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	args := []string{"create", "unit", "todo", "--image", "berth/todo:latest", "-p", "8000:8000", "-v", "/var/lib/berth-volumes/todo:/data", "-e", "TODO_DATA=/data/todo.json", "--restart", "always", "--health-cmd", "true", "--", "--verbose"}
	if out := e.ok(args...); out != "unit/todo created\n" {
		t.Errorf("create unit printed %q", out)
	}
	if out := e.ok(args...); out != "unit/todo unchanged\n" {
		t.Errorf("create unit again printed %q", out)
	}
	o, err := store.GetObject(context.Background(), e.st, v1.KindUnit, "todo")
	if err != nil {
		t.Fatal(err)
	}
	c := o.(*v1.Unit).Spec.Container
	if c.Ports[0].HostPort != 8000 || c.Volumes[0].HostPath != "/var/lib/berth-volumes/todo" || c.Args[0] != "--verbose" ||
		c.HealthCheck.Exec.Command[2] != "true" || o.(*v1.Unit).Spec.Restart.Policy != v1.RestartAlways {
		t.Errorf("the stored unit does not carry docker run's flags: %+v", o.(*v1.Unit).Spec)
	}
	if r := e.run("", "create", "unit", "todo", "--image", "berth/todo:2"); r.code != 1 || !strings.Contains(r.err, "exists with another spec") {
		t.Errorf("create unit todo with another image: exit %d, stderr %q", r.code, r.err)
	}
	if r := e.run("", "create", "unit", "web", "--image", "x", "--tmpfs", "/tmp"); r.code != 1 || !strings.Contains(r.err, "--tmpfs /tmp: not converted") {
		t.Errorf("create unit with --tmpfs: exit %d, stderr %q", r.code, r.err)
	}
	offline := &env{t: t, eps: "http://127.0.0.1:1"}
	r := offline.run("", "create", "unit", "web", "--image", "berth/testapp", "--dry-run", "-o", "yaml", "--", "--listen", ":8080")
	if r.code != 0 || !strings.Contains(r.out, "kind: Unit") || !strings.Contains(r.out, "- :8080") {
		t.Errorf("create unit --dry-run -o yaml without etcd: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
}
