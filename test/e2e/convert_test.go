package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// The tests of this file prove applyctl convert and create on the real
// binaries and Docker: the fixtures of internal/convert/testdata (a
// systemd to-do unit, a SQLite server and proxy pair with Requires= and
// After=, a compose web service that waits for a healthy database, a
// Helios netcat job) are converted, applied and run, and behave as
// systemd, compose and Helios would run them.

// convertFixture runs applyctl convert on a fixture of internal/convert's
// testdata and returns the test's private copy of what it printed.
func (h *unitHost) convertFixture(rel, dir string, args ...string) ([]string, map[int]int) {
	h.t.Helper()
	out, errOut, code := applyctl(h.t, h.etcd, "", append([]string{"convert", "-f", repoFile(h.t, "internal/convert/testdata/"+rel)}, args...)...)
	if code != 0 {
		h.t.Fatalf("convert -f %s: exit %d: %s", rel, code, errOut)
	}
	return h.privateCopy(out, dir)
}

// docOf returns the document of docs that names the object short.
func (h *unitHost) docOf(docs []string, short string) string {
	h.t.Helper()
	for _, d := range docs {
		if strings.Contains(d, "name: "+h.unit(short)+"\n") {
			return d
		}
	}
	h.t.Fatalf("no document names %s in:\n%s", h.unit(short), strings.Join(docs, "---\n"))
	return ""
}

// TestConvertedTodoUnit: the to-do unit, converted from its systemd unit
// file, serves on its port, keeps its items in the volume, and is
// restarted after a kill as Restart=always says.
func TestConvertedTodoUnit(t *testing.T) {
	t.Parallel()
	volumes := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", volumes}}, false)
	docs, ports := h.convertFixture("systemd-todo/todo.service", volumes)
	h.applyWait(docs...)
	h.waitRunning("todo", 10*time.Second)
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[8000])
	title := "converted " + h.sfx
	eventually(t, 10*time.Second, "POST /api/todos", func() (bool, string) {
		code, body := httpPost(base+"/api/todos", `{"title": "`+title+`"}`)
		return code == 201, fmt.Sprint(code, " ", body)
	})
	in, _ := h.instance("todo")
	mustDocker(t, "kill", in.ContainerID)
	h.waitInstance("todo", "RUNNING again after docker kill (Restart=always)", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.Restarts == 1
	})
	eventually(t, 10*time.Second, "the item is kept in the volume across the restart", func() (bool, string) {
		code, body := httpGet(base + "/api/todos")
		return code == 200 && strings.Contains(body, title), fmt.Sprint(code, " ", body)
	})
	if got, _ := inspect(h.container("todo"), "{{.Config.StopTimeout}}"); got != "5" {
		t.Errorf("the container's stop timeout is %q, want 5 from ExecStop=docker stop -t 5", got)
	}
}

// TestConvertedSqlitePair: the proxy unit requires the server unit
// (Requires=, After=): applied alone it waits, without a container; once
// the server is applied it starts after it, and SQL goes through it.
func TestConvertedSqlitePair(t *testing.T) {
	t.Parallel()
	volumes := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", volumes}}, false)
	docs, ports := h.convertFixture("systemd-sqlite", volumes)
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", ports[12346])

	h.apply(h.docOf(docs, "sqliteproxy"))
	h.waitInstance("sqliteproxy", "WAITING for the server it requires", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateWaiting && strings.Contains(in.Message, h.unit("sqliteserver")) && in.ContainerID == ""
	})
	h.apply(h.docOf(docs, "sqliteserver"))
	h.waitRunning("sqliteserver", 30*time.Second)
	h.waitRunning("sqliteproxy", 30*time.Second)
	server := containerTime(t, h.container("sqliteserver"), "State.StartedAt")
	proxy := containerTime(t, h.container("sqliteproxy"), "State.StartedAt")
	if proxy.Before(server) {
		t.Errorf("the proxy started at %s, before the server it requires (%s)", proxy.Format(time.RFC3339Nano), server.Format(time.RFC3339Nano))
	}
	eventually(t, 15*time.Second, "SQL through the proxy", func() (bool, string) {
		got, err := sqlSession(proxyAddr, `create table t(a); insert into t values (42); select a from t;`+"\n")
		return err == nil && got == "42\n", fmt.Sprintf("%q %v", got, err)
	})
}

// TestConvertedCompose: the web service depends on the database with
// condition service_healthy: it waits while the database is missing, starts
// once the database's health check passes, and serves with the MESSAGE of
// the project's .env.
func TestConvertedCompose(t *testing.T) {
	t.Parallel()
	volumes := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", volumes}}, false)
	docs, ports := h.convertFixture("compose-webdb", volumes)
	if len(docs) != 4 {
		t.Fatalf("convert printed %d documents, want a Unit and a Service for each of db and web", len(docs))
	}
	h.apply(h.docOf(docs, "web"))
	h.waitInstance("web", "WAITING for the database", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateWaiting && strings.Contains(in.Message, h.unit("db")) && in.ContainerID == ""
	})
	h.apply(docs...)
	db := h.waitInstance("db", "RUNNING and healthy", 30*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && ready(in)
	})
	h.waitRunning("web", 30*time.Second)
	healthy := v1.FindCondition(db.Conditions, v1.ConditionReady).LastTransitionTime
	web := containerTime(t, h.container("web"), "State.StartedAt")
	if web.Before(healthy.Truncate(time.Second)) {
		t.Errorf("web started at %s, before the database was healthy (%s)", web.Format(time.RFC3339Nano), healthy.Format(time.RFC3339))
	}
	eventually(t, 15*time.Second, "web answers with the .env's MESSAGE", func() (bool, string) {
		code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", ports[8080]))
		return code == 200 && strings.Contains(body, "message=hello from compose"), fmt.Sprint(code, " ", body)
	})
	eventually(t, 15*time.Second, "the database answers on its published port", func() (bool, string) {
		got, err := sqlSession(fmt.Sprintf("127.0.0.1:%d", ports[12345]), "select 1;\n")
		return err == nil && got == "1\n", fmt.Sprintf("%q %v", got, err)
	})
}

// jobInstance returns the instance of the Job name on host from get jobs
// -o json.
func (h *unitHost) jobInstance(name string) (v1.InstanceStatus, string) {
	out, errOut, code := applyctl(h.t, h.etcd, "", "get", "jobs", "-o", "json")
	if code != 0 {
		return v1.InstanceStatus{}, errOut
	}
	var list struct{ Items []v1.Job }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return v1.InstanceStatus{}, err.Error()
	}
	for _, j := range list.Items {
		if j.Metadata.Name == name && j.Status != nil {
			for _, in := range j.Status.Instances {
				if in.Host == h.name {
					return in, describeInstance(in)
				}
			}
		}
	}
	return v1.InstanceStatus{}, "no instance of " + name + " on " + h.name
}

// TestConvertedHeliosJob: the Helios netcat job converted from its job
// JSON runs once deployed, answers on its port and is registered as the
// service its registration names; the same job made with create job gets
// the id create job prints, and another template under its version is
// refused.
func TestConvertedHeliosJob(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{extra: []string{"--advertise-address", "127.0.0.1"}}, false)
	out, errOut, code := applyctl(t, h.etcd, "", "convert", "-f", repoFile(t, "internal/convert/testdata/helios-netcat/netcat.json"))
	if code != 0 {
		t.Fatalf("convert: exit %d: %s", code, errOut)
	}
	job, svc, port := h.unit("netcat"), h.unit("nc"), testenv.FreePort(t)
	doc := strings.NewReplacer("name: netcat\n", "name: "+job+"\n", "service: netcat\n", "service: "+svc+"\n",
		"hostPort: 8080", fmt.Sprintf("hostPort: %d", port)).Replace(out)
	h.apply(doc)
	h.ctl("deploy", job+":v1", h.name)
	eventually(t, 30*time.Second, "the job RUNNING", func() (bool, string) {
		in, last := h.jobInstance(job)
		return in.State == v1.StateRunning, last
	})
	eventually(t, 15*time.Second, "the job answers on its port", func() (bool, string) {
		code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port))
		return code == 200 && strings.Contains(body, "message=hello from helios"), fmt.Sprint(code, " ", body)
	})
	eventually(t, 20*time.Second, "the job registered as "+svc, func() (bool, string) {
		out, _, _ := applyctl(t, h.etcd, "", "get", "endpoints", svc)
		return strings.Contains(out, fmt.Sprint(port)), out
	})

	created := h.unit("created")
	cport := testenv.FreePort(t)
	args := []string{"create", "job", created + ":v1", testImage, "-p", fmt.Sprintf("nc=8080:%d", cport), "--env", "MESSAGE=made by create",
		"-r", created, "--tcp-check", "nc", "--deploy", h.name, "--", "--listen", ":8080"}
	id := h.ctl(args...)
	if !regexp.MustCompile(`^` + created + `:v1:[0-9a-f]{64}\n$`).MatchString(id) {
		t.Fatalf("create job printed %q, want its id", id)
	}
	if again := h.ctl(args...); again != id {
		t.Errorf("create job again printed %q, want the same id %q", again, id)
	}
	eventually(t, 30*time.Second, "the created job answers", func() (bool, string) {
		code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", cport))
		return code == 200 && strings.Contains(body, "message=made by create"), fmt.Sprint(code, " ", body)
	})
	if jobs := h.ctl("jobs"); !strings.Contains(jobs, strings.TrimSpace(id)[:len(created)+4+8]) {
		t.Errorf("jobs does not list %s:\n%s", id, jobs)
	}
	_, errOut, code = applyctl(t, h.etcd, "", "create", "job", created+":v1", testImage, "-p", "nc=8080")
	if code != 1 || !strings.Contains(errOut, "versions are immutable") {
		t.Errorf("another template under %s:v1: exit %d: %s", created, code, errOut)
	}
}

// TestCreateUnitRuns: a Unit made from docker run's flags runs as docker
// run would run it.
func TestCreateUnitRuns(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	port := testenv.FreePort(t)
	out := h.ctl("create", "unit", h.unit("web"), "--image", testImage, "-p", fmt.Sprintf("%d:8080", port), "-e", "MESSAGE=from docker run flags",
		"--restart", "always", "--", "--listen", ":8080")
	if out != "unit/"+h.unit("web")+" created\n" {
		t.Errorf("create unit printed %q", out)
	}
	h.waitRunning("web", 30*time.Second)
	eventually(t, 15*time.Second, "the unit answers", func() (bool, string) {
		code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port))
		return code == 200 && strings.Contains(body, "message=from docker run flags"), fmt.Sprint(code, " ", body)
	})
}
