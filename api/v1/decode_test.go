package v1

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeValid(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, errs := Decode("valid.yaml", data)
	if len(errs) > 0 {
		t.Fatalf("Decode: %v", errs)
	}
	if errs := Prepare(docs, nil); len(errs) > 0 {
		t.Fatalf("Prepare: %v", errs)
	}
	if len(docs) != 3 {
		t.Fatalf("got %d documents, want 3", len(docs))
	}
	u := docs[0].Object.(*Unit)
	if got := u.Spec.Container.Env[1].Value; got != "8000" {
		t.Errorf("env value written as a number: got %q, want \"8000\"", got)
	}
	if got := u.Spec.Container.StopTimeout.Duration; got != 5*time.Second {
		t.Errorf("stopTimeout = %v", got)
	}
	if got, _ := u.Spec.Container.Resources.Memory.Bytes(); got != 64<<20 {
		t.Errorf("memory = %d", got)
	}
	if got, _ := u.Spec.Container.Resources.CPUs.Value(); got != 0.5 {
		t.Errorf("cpus = %v", got)
	}
	if u.Spec.Container.Volumes[0].Type != HostPathDirectoryOrCreate {
		t.Errorf("hostPath type not defaulted: %q", u.Spec.Container.Volumes[0].Type)
	}
	j := docs[1].Object.(*Job)
	if j.Spec.Version != "1.10" {
		t.Errorf("version = %q, want 1.10 as written", j.Spec.Version)
	}
	if id := j.ID(); !strings.HasPrefix(id, "netcat:1.10:") || len(id) != len("netcat:1.10:")+12 {
		t.Errorf("job id = %q", id)
	}
	s := docs[2].Object.(*Service)
	if !s.Spec.Port.IsStr || s.Spec.Port.StrVal != "http" {
		t.Errorf("service port = %+v", s.Spec.Port)
	}
	if docs[2].Index != 3 {
		t.Errorf("third document has index %d", docs[2].Index)
	}
}

func TestDefaultIsIdempotent(t *testing.T) {
	data, _ := os.ReadFile("testdata/valid.yaml")
	docs, _ := Decode("valid.yaml", data)
	for _, d := range docs {
		Default(d.Object)
		once := d.Object.DeepCopyObject()
		Default(d.Object)
		if !reflect.DeepEqual(once, d.Object) {
			t.Errorf("%s: defaulting twice changed the object", d.Object.GetObjectMeta().Name)
		}
	}
	u := &Unit{TypeMeta: TypeMeta{Kind: KindUnit}, Metadata: ObjectMeta{Name: "x"}}
	Default(u)
	if u.Spec.Goal != GoalStart || u.Spec.Restart.Policy != RestartAlways || u.Spec.Placement.Replicas != 1 ||
		u.Spec.Container.PullPolicy != PullIfNotPresent || u.Spec.Restart.Delay.Duration != time.Second ||
		u.Spec.Restart.MaxDelay.Duration != 5*time.Minute || u.APIVersion != APIVersion {
		t.Errorf("defaults: %+v", u.Spec)
	}
}

// TestBadInput lists the bad inputs a user may write, with the location and
// message each must get.
func TestBadInput(t *testing.T) {
	const head = "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: web}\nspec:\n  container:\n"
	const jobHead = "apiVersion: berth.dev/v1\nkind: Job\nmetadata: {name: nc}\nspec:\n  version: \"1\"\n  container: {image: x}\n"
	tests := []struct {
		name  string
		input string
		want  []string // substrings of the one error expected
	}{
		{"syntax", "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: web\n", []string{"m.yaml:2: document 1: invalid YAML: did not find expected ',' or '}'"}},
		{"unknown field", head + "    image: x\n    imagePolicy: Never\n", []string{"m.yaml:7", "spec.container.imagePolicy", `unknown field "imagePolicy"`}},
		{"field case", head + "    Image: x\n", []string{"m.yaml:6", `unknown field "Image"`}},
		{"unknown kind", "apiVersion: berth.dev/v1\nkind: Pod\nmetadata: {name: web}\n", []string{"m.yaml:2", "kind", `unsupported kind "Pod"`, "Unit, Job, Service"}},
		{"no kind", "apiVersion: berth.dev/v1\nmetadata: {name: web}\n", []string{"kind: is required", "Unit, Job, Service"}},
		{"unknown apiVersion", "apiVersion: v1\nkind: Unit\nmetadata: {name: web}\n", []string{"m.yaml:1", `unsupported apiVersion "v1"`, "berth.dev/v1"}},
		{"host", "apiVersion: berth.dev/v1\nkind: Host\nmetadata: {name: web}\n", []string{"cannot be applied"}},
		{"no image", head + "    command: [x]\n", []string{"spec.container.image", "is required"}},
		{"no name", "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {}\nspec: {container: {image: x}}\n", []string{"metadata.name", "is required"}},
		{"bad name", "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: Web_1}\nspec: {container: {image: x}}\n", []string{"m.yaml:3", "(unit/Web_1)", "metadata.name", "not a DNS label"}},
		{"duplicate port name", head + "    image: x\n    ports:\n      - {name: http, containerPort: 80}\n      - {name: http, containerPort: 81}\n", []string{"m.yaml:9", "spec.container.ports[1].name", "duplicate port name"}},
		{"duplicate host port", head + "    image: x\n    ports:\n      - {containerPort: 80, hostPort: 8080}\n      - {containerPort: 81, hostPort: 8080}\n", []string{"m.yaml:9", "spec.container.ports[1].hostPort", "duplicate host port 8080"}},
		{"port range", head + "    image: x\n    ports:\n      - {containerPort: 80, hostPort: 70000}\n", []string{"m.yaml:8", "spec.container.ports[0].hostPort", "out of range"}},
		{"port type", head + "    image: x\n    ports:\n      - {containerPort: eighty}\n", []string{"m.yaml:8", "spec.container.ports[0].containerPort", "whole number"}},
		{"relative containerPath", head + "    image: x\n    volumes:\n      - {hostPath: /srv, containerPath: data}\n", []string{"m.yaml:8", "spec.container.volumes[0].containerPath", "not an absolute path"}},
		{"duration", head + "    image: x\n    stopTimeout: 10\n", []string{"m.yaml:7", "spec.container.stopTimeout", "duration"}},
		{"duration text", head + "    image: x\n    stopTimeout: ten seconds\n", []string{"m.yaml:7", "spec.container.stopTimeout", `invalid duration "ten seconds"`}},
		{"size", head + "    image: x\n    resources: {memory: 12Zi}\n", []string{"m.yaml:7", "spec.container.resources.memory", `invalid size "12Zi"`}},
		{"enum", head + "    image: x\n    pullPolicy: Sometimes\n", []string{"m.yaml:7", "spec.container.pullPolicy", `unsupported value "Sometimes"`, "IfNotPresent, Always, Never"}},
		{"restart enum", head + "    image: x\n  restart: {policy: no}\n", []string{"spec.restart.policy", `unsupported value "no"`}},
		{"self requires", head + "    image: x\n  requires: [web]\n", []string{"m.yaml:7", "spec.requires[0]", "cannot depend on itself"}},
		{"unknown condition", head + "    image: x\n  requires: [db]\n  startCondition: {db: ready}\n", []string{"spec.startCondition.db", `unsupported condition "ready"`}},
		{"set twice", head + "    image: x\n    image: y\n", []string{"m.yaml:7", "set twice"}},
		{"scalar for mapping", "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: web}\nspec: hello\n", []string{"m.yaml:4", "spec", "must be a mapping"}},
		{"not a mapping", "- a\n- b\n", []string{"must be a mapping"}},
		{"autoPromote without canary", jobHead + "  rollout: {autoPromote: true}\n", []string{"m.yaml:7", "spec.rollout.autoPromote", "needs canary"}},
		{"negative canary", jobHead + "  rollout: {canary: -1}\n", []string{"m.yaml:7", "spec.rollout.canary", "must not be negative"}},
		{"healthyDeadline past timeout", jobHead + "  rollout: {timeout: 1m, healthyDeadline: 2m}\n", []string{"m.yaml:7", "spec.rollout.healthyDeadline", "2m0s is longer than timeout 1m0s"}},
		{"minHealthyTime past the deadline", jobHead + "  rollout: {healthyDeadline: 30s, minHealthyTime: 30s}\n", []string{"m.yaml:7", "spec.rollout.minHealthyTime", "30s is not shorter than healthyDeadline 30s"}},
		{"minHealthyTime past the default timeout", jobHead + "  rollout: {minHealthyTime: 10m}\n", []string{"spec.rollout.minHealthyTime", "10m0s is not shorter than timeout 5m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantOneError(t, tt.input, tt.want) })
	}
}

func TestDecodeList(t *testing.T) {
	in := `{"apiVersion":"berth.dev/v1","kind":"List","items":[
 {"apiVersion":"berth.dev/v1","kind":"Unit","metadata":{"name":"a","uid":"x","generation":3},"spec":{"container":{"image":"x"}},"status":{"instances":[]}},
 {"apiVersion":"berth.dev/v1","kind":"Unit","metadata":{"name":"b"},"spec":{"container":{"image":"x","nope":1}}}]}`
	docs, errs := Decode("-", []byte(in))
	if len(docs) != 1 || docs[0].Object.GetObjectMeta().Name != "a" {
		t.Fatalf("docs: %v", docs)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "items[1].spec.container.nope") {
		t.Fatalf("errs: %v", errs)
	}
}

func TestSetValidation(t *testing.T) {
	unit := func(name string, requires ...string) *Unit {
		u := &Unit{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindUnit}, Metadata: ObjectMeta{Name: name},
			Spec: UnitSpec{Container: ContainerTemplate{Image: "x"}, Requires: requires}}
		Default(u)
		return u
	}
	job := func(version, image string) *Job {
		j := &Job{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindJob}, Metadata: ObjectMeta{Name: "nc"},
			Spec: JobSpec{Version: version, Container: ContainerTemplate{Image: image}}}
		Default(j)
		return j
	}
	tests := []struct {
		name    string
		applied []Object
		stored  []Object
		want    []string
	}{
		{"no problem", []Object{unit("a", "b"), unit("b")}, nil, nil},
		{"duplicate", []Object{unit("a"), unit("a")}, nil, []string{`Unit "a" appears twice in this apply (also document 1)`}},
		{"cycle in apply", []Object{unit("a", "b"), unit("b", "a")}, nil, []string{"dependency cycle: a -> b -> a"}},
		{"cycle with stored", []Object{unit("a", "b")}, []Object{unit("b", "c"), unit("c", "a")}, []string{"dependency cycle: a -> b -> c -> a"}},
		{"stored cycle not applied", []Object{unit("x")}, []Object{unit("b", "c"), unit("c", "b")}, nil},
		{"missing dependency is fine", []Object{unit("a", "ghost")}, nil, nil},
		{"applied replaces stored", []Object{unit("a")}, []Object{unit("a", "b"), unit("b", "a")}, nil},
		{"job template changed", []Object{job("1", "y")}, []Object{job("1", "x")}, []string{"cannot change (stored nc:1:"}},
		{"job new version", []Object{job("2", "y")}, []Object{job("1", "x")}, nil},
		{"job same template", []Object{job("1", "x")}, []Object{job("1", "x")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateSet(tt.applied, tt.stored)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %d errors", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i].Error(), w) {
					t.Errorf("error %q does not contain %q", got[i].Error(), w)
				}
			}
		})
	}
}

func TestErrorsAreReportedTogether(t *testing.T) {
	in := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: a}\nspec: {container: {image: x, bad: 1}}\n---\n" +
		"apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: b}\nspec: {container: {image: x}, goal: maybe}\n---\n" +
		"apiVersion: berth.dev/v1\nkind: Job\nmetadata: {name: c}\nspec: {container: {image: x}}\n"
	docs, errs := Decode("f.yaml", []byte(in))
	errs = append(errs, Prepare(docs, nil)...)
	want := []string{"f.yaml:4: document 1 (unit/a): spec.container.bad", "f.yaml:9: document 2 (unit/b): spec.goal", "document 3 (job/c): spec.version: is required"}
	if len(errs) != len(want) {
		t.Fatalf("got %v", errs)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
		}
	}
}

func TestPlacement(t *testing.T) {
	a := map[string]string{"zone": "a"}
	tests := []struct {
		name      string
		p         Placement
		b         *Binding
		host      string
		labels    map[string]string
		scheduled bool
		placed    bool
	}{
		{"pinned", Placement{Hosts: []string{"h1", "h2"}}, nil, "h2", nil, false, true},
		{"pinned elsewhere", Placement{Hosts: []string{"h1"}}, nil, "h2", nil, false, false},
		{"global match", Placement{Global: true, HostSelector: a}, nil, "h1", a, false, true},
		{"global no match", Placement{Global: true, HostSelector: a}, nil, "h1", nil, false, false},
		{"replicas bound", Placement{Replicas: 1}, &Binding{Hosts: []string{"h1"}}, "h1", nil, true, true},
		{"replicas unbound", Placement{Replicas: 1}, nil, "h1", nil, true, false},
		{"replicas among hosts", Placement{Hosts: []string{"h1", "h2"}, Replicas: 1}, &Binding{Hosts: []string{"h2"}}, "h1", nil, true, false},
	}
	for _, tt := range tests {
		if got := tt.p.NeedsScheduler(); got != tt.scheduled {
			t.Errorf("%s: NeedsScheduler = %v", tt.name, got)
		}
		if got := tt.p.PlacedOn(tt.host, tt.labels, tt.b); got != tt.placed {
			t.Errorf("%s: PlacedOn = %v", tt.name, got)
		}
	}
}

// wantOneError decodes and prepares input as apply does and wants exactly
// one error, holding every string of want.
func wantOneError(t *testing.T, input string, want []string) {
	t.Helper()
	docs, errs := Decode("m.yaml", []byte(input))
	if len(errs) == 0 {
		errs = Prepare(docs, nil)
	}
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
	}
	msg := errs[0].Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}
