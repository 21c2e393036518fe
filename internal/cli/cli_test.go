package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/cli"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// env is one embedded etcd and a way to run applyctl against it.
type env struct {
	t   *testing.T
	eps string
	st  *store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	eps := testenv.Etcd(t)
	return &env{t: t, eps: strings.Join(eps, ","), st: testenv.NewStore(t, store.Config{Endpoints: eps})}
}

type result struct {
	out, err string
	code     int
}

// run runs applyctl with stdin and args; the endpoints come from the
// environment, as a user would set them.
func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if k == "BERTH_ETCD_ENDPOINTS" {
			return e.eps
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb}, getenv)
	return result{out.String(), errb.String(), code}
}

// ok runs applyctl and fails the test unless it exits 0.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.run("", args...)
	if r.code != 0 {
		e.t.Fatalf("applyctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

func (e *env) revision() int64 {
	e.t.Helper()
	rev, err := e.st.Revision(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return rev
}

func (e *env) putJSON(key string, v any) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Put(context.Background(), key, b, 0); err != nil {
		e.t.Fatal(err)
	}
}

// putEvent stores an event of its object under id, without a lease.
func (e *env) putEvent(id string, ev v1.Event) {
	e.t.Helper()
	if _, err := store.PutEvent(context.Background(), e.st, id, ev, 0); err != nil {
		e.t.Fatal(err)
	}
}

// getJSON returns one object as get -o json prints it.
func (e *env) getJSON(kind, name string, into any) {
	e.t.Helper()
	if u, ok := into.(*v1.Unit); ok {
		*u = v1.Unit{} // Unmarshal would merge maps into the old ones
	}
	if err := json.Unmarshal([]byte(e.ok("get", kind, name, "-o", "json")), into); err != nil {
		e.t.Fatal(err)
	}
}

func wantEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}

func TestApplyActionsAndGeneration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantEqual(t, "first apply", e.ok("apply", "-f", "testdata/todo.yaml"), "unit/todo created\n")
	wantEqual(t, "same apply", e.ok("apply", "-f", "testdata/todo.yaml"), "unit/todo unchanged\n")

	var u v1.Unit
	e.getJSON("unit", "todo", &u)
	uid := u.Metadata.UID
	if u.Metadata.Generation != 1 || uid == "" || u.Metadata.ResourceVersion == "" {
		t.Fatalf("after create: %+v", u.Metadata)
	}

	wantEqual(t, "spec change", e.ok("apply", "-f", "testdata/todo-v2.yaml"), "unit/todo configured\n")
	e.getJSON("unit", "todo", &u)
	if u.Metadata.Generation != 2 || u.Spec.Container.Image != "todo:2" || u.Metadata.UID != uid {
		t.Fatalf("after spec change: generation %d image %s uid %s", u.Metadata.Generation, u.Spec.Container.Image, u.Metadata.UID)
	}

	// Back to todo:1 with one more label: a spec change and a label change.
	wantEqual(t, "label change", e.ok("apply", "-f", "testdata/todo-label.yaml"), "unit/todo configured\n")
	e.getJSON("unit", "todo", &u)
	if u.Metadata.Generation != 3 {
		t.Fatalf("generation %d, want 3", u.Metadata.Generation)
	}
	// Only the label goes: configured, generation stays.
	wantEqual(t, "label removed", e.ok("apply", "-f", "testdata/todo.yaml"), "unit/todo configured\n")
	e.getJSON("unit", "todo", &u)
	if u.Metadata.Generation != 3 || u.Metadata.Labels["tier"] != "" {
		t.Fatalf("after a label-only change: generation %d labels %v, want 3 without tier", u.Metadata.Generation, u.Metadata.Labels)
	}
}

func TestApplySources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantEqual(t, "multi-document file", e.ok("apply", "-f", "testdata/app.yaml"),
		"unit/db created\nunit/server created\nservice/web created\njob/netcat created\n")
	wantEqual(t, "directory", e.ok("apply", "-f", "testdata/dir"), "unit/dir-a created\nunit/dir-b created\n")
	wantEqual(t, "recursive", e.ok("apply", "-R", "-f", "testdata/dir"),
		"unit/dir-a unchanged\nunit/dir-b unchanged\nunit/dir-c created\n")
	r := e.run("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: stdin}\nspec: {container: {image: x:1}}\n", "apply", "-f", "-")
	wantEqual(t, "stdin", r.out, "unit/stdin created\n")
	wantEqual(t, "several -f", e.ok("apply", "-f", "testdata/todo.yaml", "-f", "testdata/job.yaml"),
		"unit/todo created\njob/netcat unchanged\n")
}

func TestApplyDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/todo.yaml")
	rev := e.revision()
	wantEqual(t, "dry run", e.ok("apply", "--dry-run", "-f", "testdata/todo-v2.yaml", "-f", "testdata/job.yaml"),
		"unit/todo configured (dry run)\njob/netcat created (dry run)\n")
	if got := e.revision(); got != rev {
		t.Errorf("dry run wrote: revision %d -> %d", rev, got)
	}
	if r := e.run("", "get", "job", "netcat"); r.code != 1 {
		t.Errorf("the dry run created job/netcat: %+v", r)
	}
}

func TestApplyInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/cycle-a-requires-b.yaml")
	e.ok("apply", "-f", "testdata/job.yaml")
	for _, tc := range []struct {
		files []string
		want  []string // lines of stderr before the summary
	}{
		{[]string{"syntax.yaml"}, []string{`syntax.yaml:6: document 1: invalid YAML: did not find expected ',' or ']'`}},
		{[]string{"unknown-field.yaml"}, []string{`unknown-field.yaml:8: document 1 (unit/todo): spec.container.imagePullSecrets: unknown field "imagePullSecrets"`}},
		{[]string{"unknown-kind.yaml"}, []string{`unknown-kind.yaml:12: document 1: items[1].kind: unsupported kind "Deployment": supported kinds: Unit, Job, Service`}},
		{[]string{"unknown-apiversion.yaml"}, []string{`unknown-apiversion.yaml:1: document 1: apiVersion: unsupported apiVersion "berth.dev/v2": supported: berth.dev/v1`}},
		{[]string{"missing-image.yaml"}, []string{`missing-image.yaml:6: document 1 (unit/todo): spec.container.image: is required`}},
		{[]string{"missing-name.yaml"}, []string{`missing-name.yaml:3: document 1: metadata.name: is required`}},
		{[]string{"bad-name.yaml"}, []string{`bad-name.yaml:4: document 1 (unit/Todo_App): metadata.name: "Todo_App" is not a DNS label`}},
		{[]string{"duplicate-object.yaml"}, []string{`duplicate-object.yaml:12: document 2 (unit/todo): metadata.name: Unit "todo" appears twice in this apply (also document 1)`}},
		{[]string{"duplicate-port-name.yaml"}, []string{`duplicate-port-name.yaml:11: document 1 (unit/todo): spec.container.ports[1].name: duplicate port name "http" (also ports[0])`}},
		{[]string{"duplicate-host-port.yaml"}, []string{`duplicate-host-port.yaml:12: document 1 (unit/todo): spec.container.ports[1].hostPort: duplicate host port 8080/tcp (also ports[0])`}},
		{[]string{"port-range.yaml"}, []string{`port-range.yaml:9: document 1 (unit/todo): spec.container.ports[0].containerPort: 70000 is out of range (1-65535)`}},
		{[]string{"relative-path.yaml"}, []string{`relative-path.yaml:10: document 1 (unit/todo): spec.container.volumes[0].containerPath: "data" is not an absolute path`}},
		{[]string{"bad-duration.yaml"}, []string{`bad-duration.yaml:8: document 1 (unit/todo): spec.container.stopTimeout: a duration must be a string such as "10s" or "5m", not 10`}},
		{[]string{"bad-size.yaml"}, []string{`bad-size.yaml:9: document 1 (unit/todo): spec.container.resources.memory: invalid size "256 megs"`}},
		{[]string{"bad-enum.yaml"}, []string{`bad-enum.yaml:9: document 1 (unit/todo): spec.restart.policy: unsupported value "sometimes": supported: always, on-failure, never`}},
		{[]string{"self-requires.yaml"}, []string{`self-requires.yaml:6: document 1 (unit/todo): spec.requires[0]: unit "todo" cannot depend on itself`}},
		{[]string{"../cycle-b.yaml"}, []string{`cycle-b.yaml:6: document 1 (unit/b): spec.requires[0]: dependency cycle: a -> b -> a`}},
		{[]string{"../job-changed.yaml"}, []string{`job-changed.yaml:7: document 1 (job/netcat): spec.container: the container template of job netcat version 1 cannot change`, "raise spec.version to deploy a new template"}},
		{[]string{"missing-image.yaml", "../todo.yaml", "port-range.yaml"}, []string{
			`missing-image.yaml:6: document 1 (unit/todo): spec.container.image: is required`,
			`port-range.yaml:9: document 1 (unit/todo): spec.container.ports[0].containerPort: 70000 is out of range`,
		}},
	} {
		t.Run(strings.Join(tc.files, ","), func(t *testing.T) {
			args := []string{"apply"}
			for _, f := range tc.files {
				args = append(args, "-f", "testdata/invalid/"+f)
			}
			rev := e.revision()
			r := e.run("", args...)
			if r.code != 1 || r.out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", r.code, r.out)
			}
			lines := strings.Split(strings.TrimSuffix(r.err, "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, "nothing was written") {
				t.Errorf("last line of stderr: %q", last)
			}
			at := -1
			for _, w := range tc.want {
				i := strings.Index(r.err, w)
				if i < 0 {
					t.Errorf("stderr lacks %q:\n%s", w, r.err)
				} else if i < at {
					t.Errorf("%q printed before the problems of the files that come first:\n%s", w, r.err)
				}
				at = i
			}
			if got := e.revision(); got != rev {
				t.Errorf("an invalid apply wrote: revision %d -> %d", rev, got)
			}
		})
	}
}

func TestGetTables(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.run("", "get", "units")
	if r.code != 0 || r.out != "" || r.err != "No resources found.\n" {
		t.Errorf("empty list: %+v", r)
	}
	e.ok("apply", "-f", "testdata/app.yaml")
	e.joined("host-a")
	e.joined("host-b")
	e.putJSON(store.StatusKey("unit", "server", "host-b"), v1.InstanceStatus{State: v1.StateExited, Restarts: 3, ObservedGeneration: 1, Message: "exit 1"})
	e.putJSON(store.StatusKey("unit", "server", "host-a"), v1.InstanceStatus{State: v1.StateRunning, ContainerID: "0123456789abcdef",
		Ports: []v1.PortStatus{{ContainerPort: 80, HostPort: 32768, Protocol: "tcp"}}, ObservedGeneration: 1})
	e.putJSON(store.StatusKey("job", "netcat", "host-a"), v1.InstanceStatus{State: v1.StateRunning})

	age := regexp.MustCompile(`\b\d+s\b`)
	got := age.ReplaceAllString(e.ok("get", "units"), "0s")
	wantEqual(t, "get units", got, ""+
		"NAME    HOST    STATE    RESTARTS  CONTAINER     PORTS          AGE\n"+
		"db      -       -        0         -             -              0s\n"+
		"server  host-a  RUNNING  0         0123456789ab  32768->80/tcp  0s\n"+
		"server  host-b  EXITED   3         -             -              0s\n")
	got = age.ReplaceAllString(e.ok("get", "u", "server", "-o", "wide"), "0s")
	wantEqual(t, "get unit -o wide", got, ""+
		"NAME    HOST    STATE    RESTARTS  CONTAINER     PORTS          AGE  GOAL   IMAGE     GENERATION  OBSERVED  MESSAGE\n"+
		"server  host-a  RUNNING  0         0123456789ab  32768->80/tcp  0s   start  server:1  1           1         -\n"+
		"server  host-b  EXITED   3         -             -              0s   start  server:1  1           1         exit 1\n")

	var j v1.Job
	e.getJSON("job", "netcat", &j)
	got = age.ReplaceAllString(e.ok("get", "jobs"), "0s")
	wantEqual(t, "get jobs", got, ""+
		"NAME    VERSION  JOB ID                 HOSTS  STATE    AGE\n"+
		"netcat  1        "+j.ID()+"  1      RUNNING  0s\n")

	// A Service without endpoints in the catalog (catalog_test.go has more).
	wantEqual(t, "get svc", e.ok("get", "svc"), ""+
		"NAME  ENDPOINTS  PASSING  WARNING  CRITICAL  TAGS\n"+
		"web   0          0        0        0         v1\n")

	for _, h := range []*v1.Host{
		{Metadata: v1.ObjectMeta{Name: "host-a", Labels: map[string]string{"zone": "a", "disk": "ssd"}}, Status: v1.HostStatus{
			CPUs: 8, MemoryBytes: 25125558681, MemoryUsed: 6281389670, LoadAverage: [3]float64{0.1, 0.2, 0.3},
			OS: "debian-12", BerthVersion: "v0.1.0", DockerVersion: "20.10.24"}},
		{Metadata: v1.ObjectMeta{Name: "host-b"}, Status: v1.HostStatus{CPUs: 2, MemoryBytes: 1 << 30}},
	} {
		h.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}
		e.putJSON(store.HostKey(h.Metadata.Name), h)
	}
	e.putJSON(store.AliveKey("host-a"), map[string]string{})
	if _, err := e.st.Delete(context.Background(), store.AliveKey("host-b")); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "get hosts", e.ok("get", "hosts"), ""+
		"HOST    STATUS  DEPLOYED  RUNNING  CPUS  MEM       LOAD AVG        MEM USAGE  OS         BERTH   DOCKER    LABELS\n"+
		"host-a  UP      2         2        8     23.4 GiB  0.10 0.20 0.30  25%        debian-12  v0.1.0  20.10.24  disk=ssd,zone=a\n"+
		"host-b  DOWN    1         0        2     1.0 GiB   0.00 0.00 0.00  0%         -          -       -         <none>\n")

	r = e.run("", "get", "unit", "nope")
	if r.code != 1 || r.err != "Error: unit \"nope\" not found\n" {
		t.Errorf("get of an absent unit: %+v", r)
	}
}

func TestGetJSONAndYAML(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/app.yaml")
	e.joined("host-a")
	e.putJSON(store.StatusKey("unit", "server", "host-a"), v1.InstanceStatus{State: v1.StateRunning, ObservedGeneration: 1})

	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	out := e.ok("get", "units", "-o", "json")
	if !strings.HasPrefix(out, "{\n    \"apiVersion\": \"berth.dev/v1\",\n    \"kind\": \"List\",\n    \"items\": [") {
		t.Errorf("get -o json starts with:\n%.120s", out)
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if list.APIVersion != v1.APIVersion || list.Kind != "List" || len(list.Items) != 2 {
		t.Fatalf("list: %s %s with %d items", list.APIVersion, list.Kind, len(list.Items))
	}
	var db, server v1.Unit
	if err := json.Unmarshal(list.Items[0], &db); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(list.Items[1], &server); err != nil {
		t.Fatal(err)
	}
	if db.Status == nil || len(db.Status.Instances) != 0 || !strings.Contains(string(list.Items[0]), `"instances": []`) {
		t.Errorf("db status: %s", list.Items[0])
	}
	if server.Status == nil || len(server.Status.Instances) != 1 || server.Status.Instances[0].Host != "host-a" {
		t.Errorf("server status: %s", list.Items[1])
	}

	r := e.run("", "get", "services", "-o", "json")
	if r.code != 0 || !strings.Contains(r.out, `"kind": "Service"`) {
		t.Errorf("get services -o json: %+v", r)
	}
	r = e.run("", "get", "jobs", "-o", "yaml")
	if r.code != 0 || !strings.Contains(r.out, "apiVersion: berth.dev/v1\nitems:\n- apiVersion: berth.dev/v1\n  kind: Job\n") ||
		!strings.Contains(r.out, "kind: List\n") || !strings.Contains(r.out, "instances: []") {
		t.Errorf("get jobs -o yaml:\n%s", r.out)
	}
	r = e.run("", "get", "unit/server", "-o", "yaml")
	if r.code != 0 || !strings.HasPrefix(r.out, "apiVersion: berth.dev/v1\nkind: Unit\nmetadata:\n") || !strings.Contains(r.out, "state: RUNNING") {
		t.Errorf("get unit/server -o yaml:\n%s", r.out)
	}
	if r := e.run("", "get", "units", "-o", "xml"); r.code != 2 {
		t.Errorf("-o xml: exit %d, want 2", r.code)
	}
}

// syncBuffer is a buffer written by one goroutine and read by a test, which
// waits on changes instead of sleeping.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer holds want, failing after a deadline.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.changed:
		case <-deadline.C:
			t.Fatalf("no %q in the output within 10s:\n%s", want, s.String())
		}
	}
}

func TestGetWatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/todo.yaml")
	for _, tc := range []struct {
		name   string
		args   []string
		first  string
		change func()
		then   string
	}{
		{"table", []string{"get", "units", "-w"}, "todo  -     -      0", func() {
			e.joined("host-a")
			e.putJSON(store.StatusKey("unit", "todo", "host-a"), v1.InstanceStatus{State: v1.StateRunning, ObservedGeneration: 1})
		}, "todo  host-a  RUNNING  0"},
		{"json", []string{"get", "unit", "todo", "-w", "-o", "json"}, `"name": "todo"`, func() {
			e.ok("apply", "-f", "testdata/todo-v2.yaml")
		}, `"image": "todo:2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out, errb := newSyncBuffer(), newSyncBuffer()
			done := make(chan int, 1)
			go func() {
				done <- cli.Main(ctx, append(tc.args, "--etcd-endpoints", e.eps), cli.Streams{Out: out, Err: errb}, nil)
			}()
			out.waitFor(t, tc.first)
			tc.change()
			out.waitFor(t, tc.then)
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("get -w exited %d after cancel: %s", code, errb.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("get -w did not return after its context ended")
			}
			if tc.name == "table" && strings.Count(out.String(), "NAME") != 1 {
				t.Errorf("the header is printed more than once:\n%s", out.String())
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/todo.yaml")
	e.joined("host-a")
	e.putJSON(store.StatusKey("unit", "todo", "host-a"), v1.InstanceStatus{State: v1.StateRunning, Goal: v1.GoalStart, ObservedGeneration: 1,
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue, Reason: "Running", LastTransitionTime: time.Now()}}})
	out := e.ok("describe", "unit", "todo")
	for _, want := range []string{
		"Name:             todo\n", "Kind:             Unit\n", "Labels:           app=todo\n", "Annotations:      <none>\n",
		"Generation:       1\n", "Resource Version: ", "UID:              ", "Created:          ",
		"Spec:\n  container:\n    image: todo:1\n",
		"Instances:\n  HOST    GOAL   STATE    RESTARTS  CONTAINER  PORTS  OBSERVED  MESSAGE\n  host-a  start  RUNNING  0         -          -      1         -\n",
		"Conditions:\n  HOST    TYPE   STATUS  REASON   AGE  MESSAGE\n  host-a  Ready  True    Running  0s   -\n",
		"Events:           <none>\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	now := time.Now()
	e.putEvent("1", v1.Event{Object: v1.ObjectReference{Kind: "Unit", Name: "todo"}, Type: v1.EventWarning, Reason: "BackOff",
		Message: "back-off restarting failed container", Host: "host-a", Count: 17,
		FirstTimestamp: now.Add(-8*time.Minute - 30*time.Second), LastTimestamp: now.Add(-3*time.Minute - 10*time.Second)})
	e.putEvent("0", v1.Event{Object: v1.ObjectReference{Kind: "Unit", Name: "todo"}, Type: v1.EventNormal, Reason: "Pulled",
		Message: "pulled image todo:1", Host: "host-a", Count: 1, FirstTimestamp: now.Add(-9 * time.Minute), LastTimestamp: now.Add(-9 * time.Minute)})
	want := "Events:\n" +
		"  Type     Reason   Age               From    Message\n" +
		"  ----     ------   ----              ----    -------\n" +
		"  Normal   Pulled   9m                host-a  pulled image todo:1\n" +
		"  Warning  BackOff  3m (x17 over 8m)  host-a  back-off restarting failed container\n"
	if out := e.ok("describe", "unit/todo"); !strings.HasSuffix(out, want) {
		t.Errorf("describe events:\n%s\nwant it to end with:\n%s", out, want)
	}
	r := e.run("", "describe", "unit", "nope")
	if r.code != 1 || r.err != "Error: unit \"nope\" not found\n" {
		t.Errorf("describe of an absent unit: %+v", r)
	}
	if r := e.run("", "describe", "unit"); r.code != 2 {
		t.Errorf("describe without a name: exit %d, want 2", r.code)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/app.yaml")
	wantEqual(t, "delete", e.ok("delete", "unit", "db", "server"), "unit/db deleted\nunit/server deleted\n")
	r := e.run("", "delete", "unit", "db")
	if r.code != 1 || r.err != "Error: unit \"db\" not found\n" {
		t.Errorf("delete of an absent unit: %+v", r)
	}
	wantEqual(t, "--ignore-not-found", e.ok("delete", "unit", "db", "--ignore-not-found"), "")
	wantEqual(t, "delete -f", e.ok("delete", "-f", "testdata/app.yaml", "--ignore-not-found"), "service/web deleted\njob/netcat deleted\n")
	if r := e.run("", "get", "jobs"); r.err != "No resources found.\n" {
		t.Errorf("after delete -f: %+v", r)
	}
	for _, args := range [][]string{{"delete"}, {"delete", "unit"}, {"delete", "gadget", "x"}} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("applyctl %v: exit %d, want 2", args, r.code)
		}
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.run("", "diff", "-f", "testdata/todo.yaml")
	if r.code != 1 || !strings.HasPrefix(r.out, "--- live/unit/todo\n+++ applied/unit/todo\n@@ -0,0 +1,") ||
		!strings.Contains(r.out, "\n+    image: todo:1\n") {
		t.Errorf("diff of a new object: exit %d\n%s%s", r.code, r.out, r.err)
	}
	e.ok("apply", "-f", "testdata/todo.yaml")
	if r := e.run("", "diff", "-f", "testdata/todo.yaml"); r.code != 0 || r.out != "" {
		t.Errorf("diff without change: %+v", r)
	}
	r = e.run("", "diff", "-f", "testdata/todo-v2.yaml")
	want := "--- live/unit/todo\n+++ applied/unit/todo\n"
	if r.code != 1 || !strings.HasPrefix(r.out, want) || !strings.Contains(r.out, "\n-    image: todo:1\n+    image: todo:2\n") ||
		strings.Contains(r.out, "uid") || strings.Contains(r.out, "generation") {
		t.Errorf("diff of a change: exit %d\n%s", r.code, r.out)
	}
	if r := e.run("", "diff", "-f", "testdata/invalid/missing-image.yaml"); r.code != 2 || !strings.Contains(r.err, "spec.container.image: is required") {
		t.Errorf("diff of an invalid manifest: %+v", r)
	}
	if r := e.run("", "diff", "-f", "testdata/todo.yaml", "--etcd-endpoints", unreachable(t), "--request-timeout", "500ms"); r.code != 2 {
		t.Errorf("diff without etcd: %+v", r)
	}
}

func unreachable(t *testing.T) string {
	return fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
}

func TestUnreachableEtcd(t *testing.T) {
	t.Parallel()
	ep := unreachable(t)
	for _, args := range [][]string{
		{"get", "units"},
		{"apply", "-f", "testdata/todo.yaml"},
		{"delete", "unit", "todo"},
		{"describe", "unit", "todo"},
	} {
		var out, errb bytes.Buffer
		start := time.Now()
		code := cli.Main(context.Background(), append(args, "--etcd-endpoints", ep, "--request-timeout", "1s"),
			cli.Streams{Out: &out, Err: &errb}, nil)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%v took %s with a 1s request timeout", args, took)
		}
		if code != 1 || !strings.HasPrefix(errb.String(), "Error: cannot reach etcd: connect "+ep) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"frobnicate"},
		{"get"},
		{"get", "gadgets"},
		{"get", "units", "--no-such-flag"},
		{"apply"},
		{"apply", "todo.yaml"},
		{"diff"},
	} {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), args, cli.Streams{Out: &out, Err: &errb}, nil)
		if code != 2 || !strings.HasPrefix(errb.String(), "Error: ") {
			t.Errorf("applyctl %v: exit %d, stderr %q; want 2 and an error", args, code, errb.String())
		}
	}
	var out bytes.Buffer
	if code := cli.Main(context.Background(), []string{"version"}, cli.Streams{Out: &out, Err: &out}, nil); code != 0 || !strings.HasPrefix(out.String(), "applyctl ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}
