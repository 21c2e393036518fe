package units

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// created records the labels of every container the engine creates.
type created struct {
	mu     sync.Mutex
	labels []map[string]string
}

func (e *env) recordCreates() *created {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	evs, _ := e.rt.Events(ctx)
	c := &created{}
	go func() {
		for ev := range evs {
			if ev.Action == runtime.ActionCreate {
				c.mu.Lock()
				c.labels = append(c.labels, ev.Labels)
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// versions lists the Job version of every container created, in order.
func (c *created) versions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.labels {
		out = append(out, l[v1.LabelVersion])
	}
	return out
}

// bindJob writes a Job's binding as the leader does, or as anyone with the
// leader's role can: value is a v1.JobBinding or raw JSON.
func (e *env) bindJob(name string, value any) {
	e.t.Helper()
	b, ok := value.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(value); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.s.Put(context.Background(), store.BindingKey(v1.KindJob, name), b, 0); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) jobStatus(name string) *v1.InstanceStatus { return e.statusOf(v1.KindJob, name) }

// waitJob waits until the status of Job name on h satisfies ok.
func (e *env) waitJob(name, what string, ok func(*v1.InstanceStatus) bool) *v1.InstanceStatus {
	e.t.Helper()
	var st *v1.InstanceStatus
	e.eventually("job "+name+": "+what, func() (bool, string) {
		st = e.jobStatus(name)
		if st == nil {
			return false, "no status"
		}
		return ok(st), fmt.Sprintf("%s gen %d hash %s: %s", st.State, st.ObservedGeneration, st.SpecHash, st.Message)
	})
	return st
}

func runningAt(hash string, gen int64) func(*v1.InstanceStatus) bool {
	return func(st *v1.InstanceStatus) bool {
		return st.State == v1.StateRunning && st.SpecHash == hash && st.ObservedGeneration == gen
	}
}

func refused(st *v1.InstanceStatus) bool {
	c := v1.FindCondition(st.Conditions, v1.ConditionReady)
	return st.State == v1.StateFailed && c != nil && c.Reason == v1.ReasonBindingRefused
}

func testJob(name, version string, command string, hosts ...string) *v1.Job {
	return bindingJob(version, func(j *v1.Job) {
		j.Metadata.Name = name
		j.Spec.Container = v1.ContainerTemplate{Image: "berth/testapp", Command: []string{command}}
	}, hosts...)
}

// A host runs a Job's versions with the templates operators stored, and
// only where the Job's placement allows: a binding, which whoever has the
// leader's role writes, chooses among those, never what runs. A forged
// binding is refused with a warning event and a FAILED status, and
// nothing of it is created.
func TestJobBindingChoosesOnlyWhere(t *testing.T) {
	t.Parallel()
	ev := &recorded{}
	e := newEnv(t, func(o *Options) { o.Events = ev })
	e.rt.AddImage("berth/evil")
	creates := e.recordCreates()

	j1 := testJob("nc", "1", "serve-1", "h")
	e.apply(j1)
	h1 := v1.FullTemplateHash(&j1.Spec.Container)
	e.bindJob("nc", v1.JobBinding{Hosts: map[string]string{"h": "1"}, Hashes: map[string]string{"1": h1}})
	e.waitJob("nc", "version 1 RUNNING", runningAt(v1.TemplateHash(&j1.Spec.Container), 1))

	// Version 2 is applied; until the leader moves h to it, h runs
	// version 1, whose template it takes from version 1's record.
	j2 := testJob("nc", "2", "serve-2", "h")
	e.apply(j2)
	e.waitJob("nc", "version 1 RUNNING at generation 2", runningAt(v1.TemplateHash(&j1.Spec.Container), 2))
	h2 := v1.FullTemplateHash(&j2.Spec.Container)
	e.bindJob("nc", v1.JobBinding{Hosts: map[string]string{"h": "2"}, Hashes: map[string]string{"1": h1, "2": h2}})
	e.waitJob("nc", "version 2 RUNNING", runningAt(v1.TemplateHash(&j2.Spec.Container), 2))

	// A binding as the earlier berth wrote them, carrying a template of
	// its own for a version no operator stored.
	evil := v1.ContainerTemplate{Image: "berth/evil", Command: []string{"sh", "-c", "id > /host/owned"}}
	forged, err := json.Marshal(map[string]any{"hosts": map[string]string{"h": "evil"}, "templates": map[string]any{"evil": evil}})
	if err != nil {
		t.Fatal(err)
	}
	e.bindJob("nc", forged)
	st := e.waitJob("nc", "the forged binding refused", refused)
	if want := "binding of job nc refused: version evil has no template an operator stored (objects/jobversion/nc/evil)"; st.Message != want {
		t.Errorf("message %q, want %q", st.Message, want)
	}
	if cs := e.containers("nc"); len(cs) != 0 {
		t.Errorf("%d containers of nc left, want none: the binding gives h nothing it may run", len(cs))
	}
	// The forged binding names the current version, with the evil
	// template's hash.
	e.bindJob("nc", v1.JobBinding{Hosts: map[string]string{"h": "2"}, Hashes: map[string]string{"2": v1.FullTemplateHash(&evil)}})
	e.waitJob("nc", "the hash refused", func(st *v1.InstanceStatus) bool {
		return refused(st) && strings.Contains(st.Message, "with template hash "+v1.FullTemplateHash(&evil)[:12])
	})

	// A Job the operator placed on host a only, bound to h.
	other := testJob("other", "1", "serve-other", "a")
	e.apply(other)
	e.bindJob("other", v1.JobBinding{Hosts: map[string]string{"h": "1"},
		Hashes: map[string]string{"1": v1.FullTemplateHash(&other.Spec.Container)}})
	st = e.waitJob("other", "the binding outside the placement refused", refused)
	if want := "binding of job other refused: it places version 1 on host h, which the job's placement does not allow (deployments: a; hostSelector: none)"; st.Message != want {
		t.Errorf("message %q, want %q", st.Message, want)
	}

	if got := creates.versions(); strings.Join(got, ",") != "1,2" {
		t.Errorf("containers created for versions %v, want only versions 1 then 2", got)
	}
	if n := ev.count("Job/nc BindingRefused"); n != 2 {
		t.Errorf("%d BindingRefused events of job nc, want one per refusal: %v", n, ev.reasons)
	}
	if n := ev.count("Job/other BindingRefused"); n != 1 {
		t.Errorf("%d BindingRefused events of job other, want 1: %v", n, ev.reasons)
	}

	// The leader binds them where they belong again.
	e.bindJob("nc", v1.JobBinding{Hosts: map[string]string{"h": "2"}, Hashes: map[string]string{"2": h2}})
	e.waitJob("nc", "version 2 RUNNING again", runningAt(v1.TemplateHash(&j2.Spec.Container), 2))
	e.bindJob("other", v1.JobBinding{Hosts: map[string]string{"a": "1"}})
	e.eventually("other's status gone from h", func() (bool, string) { return e.jobStatus("other") == nil, "" })
}

// A Job stored by an earlier berth has no version records, and its
// binding (by an earlier leader) no hashes: its host runs its current
// version from the Job itself, never from the template the binding
// carries.
func TestJobStoredBeforeVersionRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	j := testJob("old", "1", "serve", "h")
	e.apply(j)
	if _, err := e.s.DeletePrefix(context.Background(), store.JobVersionPrefix("old")); err != nil {
		t.Fatal(err)
	}
	carried := v1.ContainerTemplate{Image: "berth/testapp", Command: []string{"carried"}}
	b, err := json.Marshal(map[string]any{"hosts": map[string]string{"h": "1"}, "templates": map[string]any{"1": carried}})
	if err != nil {
		t.Fatal(err)
	}
	e.bindJob("old", b)
	e.waitJob("old", "version 1 RUNNING from the Job", runningAt(v1.TemplateHash(&j.Spec.Container), 1))
}
