package registrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// execLog records every exec the fake engine is asked for.
type execLog struct {
	mu    sync.Mutex
	calls []execCall
}

type execCall struct {
	container string
	cmd       []string
	at        time.Time
}

func (l *execLog) exec(id string, cmd []string) (runtime.ExecResult, error) {
	l.mu.Lock()
	l.calls = append(l.calls, execCall{container: id, cmd: cmd, at: time.Now()})
	l.mu.Unlock()
	return runtime.ExecResult{Output: []byte("ran " + strings.Join(cmd, " ") + "\n")}, nil
}

func (l *execLog) in(container string) []execCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []execCall
	for _, c := range l.calls {
		if c.container == container {
			out = append(out, c)
		}
	}
	return out
}

// events records what a Registrator reports.
type events struct {
	mu   sync.Mutex
	list []string // "Kind/name Type Reason: message"
}

func (e *events) Event(_ context.Context, kind, name string, typ v1.EventType, reason, format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, fmt.Sprintf("%s/%s %s %s: %s", kind, name, typ, reason, fmt.Sprintf(format, args...)))
}

func (e *events) with(reason string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.list {
		if strings.Contains(s, " "+reason+": ") {
			out = append(out, s)
		}
	}
	return out
}

// scriptEnv is a Registrator on the fake engine whose execs are logged.
type scriptEnv struct {
	*env
	execs  *execLog
	events *events
}

func newScriptEnv(t *testing.T, enable bool, dataDir string) *scriptEnv {
	t.Helper()
	execs, evs := &execLog{}, &events{}
	e := newEnv(t, func(o *Options) {
		o.EnableScriptChecks, o.Events = enable, evs
		if dataDir != "" {
			o.DataDir = dataDir
		}
	})
	e.rt.SetExecFunc(execs.exec)
	return &scriptEnv{env: e, execs: execs, events: evs}
}

// berthContainer runs a container as the units controller of h1 would:
// labelled, and recorded in the instance's status.
func (e *scriptEnv) berthContainer(kind, name string) string {
	e.t.Helper()
	ctx := context.Background()
	id, err := e.rt.Create(ctx, runtime.ContainerSpec{Name: "berth-" + strings.ToLower(kind) + "-" + name, Image: "berth/testapp",
		Labels: map[string]string{v1.LabelHost: "h1", v1.LabelKind: kind, v1.LabelName: name}})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rt.Start(ctx, id); err != nil {
		e.t.Fatal(err)
	}
	e.writeStatus(kind, name, id)
	return id
}

func (e *scriptEnv) writeStatus(kind, name, id string) {
	e.t.Helper()
	b, _ := json.Marshal(v1.InstanceStatus{Host: "h1", State: v1.StateRunning, ContainerID: id})
	if _, err := e.s.Put(context.Background(), store.StatusKey(kind, name, "h1"), b, 0); err != nil {
		e.t.Fatal(err)
	}
}

func (e *scriptEnv) runLabelled(name string, labels map[string]string, env []string, ports ...runtime.PortBinding) string {
	e.t.Helper()
	ctx := context.Background()
	id, err := e.rt.Create(ctx, runtime.ContainerSpec{Name: name, Image: "berth/testapp", Labels: labels, Env: env, Ports: ports})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rt.Start(ctx, id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *scriptEnv) plainContainer(name string, labels map[string]string) string {
	e.t.Helper()
	return e.runLabelled(name, labels, nil)
}

func scriptEndpoint(id, container string) catalog.Endpoint {
	return catalog.Endpoint{ID: id, Service: "scripted", Port: 1, Container: container,
		Checks: []catalog.Check{{ID: id + "-exec", Type: catalog.CheckExec, Exec: []string{"/testapp", "env", "SECRET"},
			Interval: time.Second, Status: v1.CheckCritical}}}
}

// With script checks off (the default), a script check registered through
// the agent is refused in Consul's words and nothing runs, whatever the
// container; with them on, it runs only in a container berth created on
// this host.
func TestAgentScriptChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	off := newScriptEnv(t, false, "")
	mine := off.berthContainer(v1.KindUnit, "web")
	err := off.r.Register(ctx, scriptEndpoint("s-off", mine))
	var refused *catalog.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "Scripts are disabled on this agent from remote calls") {
		t.Errorf("script check with script checks off: err %v, want a RefusedError in Consul's words", err)
	}
	if _, ok := off.endpoint("scripted", "s-off"); ok {
		t.Error("a refused registration is in the catalog")
	}
	if err := off.r.Register(ctx, catalog.Endpoint{ID: "plain", Service: "scripted", Port: 1}); err != nil {
		t.Fatalf("a registration without checks: %v", err)
	}
	err = off.r.RegisterCheck(ctx, "plain", catalog.Check{ID: "late", Type: catalog.CheckExec, Exec: []string{"/testapp", "echo"}, Interval: time.Second})
	if !errors.As(err, &refused) {
		t.Errorf("RegisterCheck of a script check with script checks off: err %v, want a RefusedError", err)
	}

	on := newScriptEnv(t, true, "")
	mine = on.berthContainer(v1.KindUnit, "web")
	job := on.berthContainer(v1.KindJob, "batch")
	foreign := on.plainContainer("privileged-thing", nil)
	forged := on.plainContainer("forged", map[string]string{v1.LabelHost: "h1", v1.LabelKind: v1.KindUnit, v1.LabelName: "ghost"})
	lookalike := on.plainContainer("lookalike", map[string]string{v1.LabelHost: "h1", v1.LabelKind: v1.KindUnit, v1.LabelName: "web"})
	other := on.plainContainer("other-host", map[string]string{v1.LabelHost: "h2", v1.LabelKind: v1.KindUnit, v1.LabelName: "web"})
	for _, tc := range []struct {
		name, container, says string
	}{
		{"a container berth did not start", foreign, "not a container berth runs on this host"},
		{"the same by name", "privileged-thing", "not a container berth runs on this host"},
		{"berth's labels on a container berth did not create", forged, "not the container of Unit ghost that berth created"},
		{"berth's labels of a real Unit on another container", lookalike, "not the container of Unit web that berth created"},
		{"another host's container", other, "not a container berth runs on this host"},
		{"no such container", "nope", "no such container"},
	} {
		err := on.r.Register(ctx, scriptEndpoint("s-"+strings.ReplaceAll(tc.name, " ", "-"), tc.container))
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: err %v, want a refusal saying %q", tc.name, err, tc.says)
		}
	}
	for _, id := range []string{mine, job, "berth-unit-web"} {
		if err := on.r.Register(ctx, scriptEndpoint("s-"+id[:8], id)); err != nil {
			t.Errorf("script check in berth's container %s: %v", id, err)
		}
	}
	on.eventually("the script check in the Unit's container ran", func() (bool, string) {
		ep, _ := on.endpoint("scripted", "s-"+mine[:8])
		return len(ep.Checks) == 1 && ep.Checks[0].Status == v1.CheckPassing, fmt.Sprintf("%+v", ep.Checks)
	})
	for _, id := range []string{foreign, forged, lookalike, other} {
		if n := len(on.execs.in(id)); n != 0 {
			t.Errorf("container %s got %d execs", id, n)
		}
	}
	if len(off.execs.calls) != 0 {
		t.Errorf("with script checks off the engine got execs: %+v", off.execs.calls)
	}
}

// A script check is asked about before every run: one registered earlier
// (kept in --data-dir by an older controller, or in a container that has
// since been replaced) gets no exec, and says why.
func TestAgentScriptChecksAreCheckedAtEveryRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	foreignID := "0123456789ab" + strings.Repeat("c", 52)
	saved, _ := json.Marshal([]catalog.Endpoint{{ID: "old", Service: "kept", Host: "h1", Port: 1, Source: catalog.SourceAgent,
		Container: foreignID, Checks: []catalog.Check{{ID: "old-exec", Type: catalog.CheckExec, Exec: []string{"/testapp", "env", "SECRET"},
			Interval: time.Second, Status: v1.CheckCritical}}}})
	if err := os.WriteFile(filepath.Join(dir, "agent-services.json"), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	e := newScriptEnv(t, false, dir)
	e.eventually("the kept script check is critical, refused", func() (bool, string) {
		ep, _ := e.endpoint("kept", "old")
		return len(ep.Checks) == 1 && ep.Checks[0].Status == v1.CheckCritical && strings.Contains(ep.Checks[0].Output, "Scripts are disabled"),
			fmt.Sprintf("%+v", ep.Checks)
	})
	if n := len(e.execs.calls); n != 0 {
		t.Errorf("the engine got %d execs for a script check that may not run", n)
	}

	on := newScriptEnv(t, true, "")
	ctx := context.Background()
	id := on.berthContainer(v1.KindUnit, "web")
	if err := on.r.Register(ctx, scriptEndpoint("moving", id)); err != nil {
		t.Fatal(err)
	}
	on.eventually("runs in the Unit's container", func() (bool, string) { return len(on.execs.in(id)) > 0, "" })
	// The Unit's container is replaced: the status names another one.
	on.writeStatus(v1.KindUnit, "web", "a-newer-container")
	on.eventually("refused once the container is no longer the Unit's", func() (bool, string) {
		ep, _ := on.endpoint("scripted", "moving")
		return len(ep.Checks) == 1 && ep.Checks[0].Status == v1.CheckCritical && strings.Contains(ep.Checks[0].Output, "that berth created"),
			fmt.Sprintf("%+v", ep.Checks)
	})
}

// With script checks off, what declares its own exec check still runs in
// its own container: a Service's exec check in the Unit containers it
// selects, SERVICE_CHECK_SCRIPT in the container that carries it, berth's
// or not.
func TestDeclaredExecChecksRunWithScriptChecksOff(t *testing.T) {
	t.Parallel()
	e := newScriptEnv(t, false, "")
	ctx := context.Background()
	unit := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit},
		Metadata: v1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: v1.UnitSpec{Placement: v1.Placement{Hosts: []string{"h1"}},
			Container: v1.ContainerTemplate{Image: "berth/testapp", Ports: []v1.Port{{Name: "http", ContainerPort: 8080}}}}}
	svc := &v1.Service{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindService},
		Metadata: v1.ObjectMeta{Name: "web-svc"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"}, Port: v1.FromString("http"),
			Checks: []v1.Check{{Exec: []string{"/testapp", "echo", "from the Service"}, Interval: &v1.Duration{Duration: time.Second}}}}}
	if _, err := store.Apply(ctx, e.s, []v1.Object{unit, svc}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	mine := e.runLabelled("berth-unit-web", map[string]string{v1.LabelHost: "h1", v1.LabelKind: v1.KindUnit, v1.LabelName: "web"},
		nil, runtime.PortBinding{ContainerPort: 8080, HostPort: 28096})
	plain := e.runLabelled("plain", nil, []string{"SERVICE_NAME=plain", "SERVICE_CHECK_SCRIPT=/testapp echo mine", "SERVICE_CHECK_INTERVAL=1s"},
		runtime.PortBinding{ContainerPort: 80, HostPort: 28097})
	for _, tc := range []struct{ service, id, container, cmd string }{
		{"web-svc", "h1:berth-unit-web:8080", mine, "from the Service"},
		{"plain", "h1:plain:80", plain, "mine"},
	} {
		e.eventually(tc.service+" check passing in its own container", func() (bool, string) {
			ep, _ := e.endpoint(tc.service, tc.id)
			return len(ep.Checks) == 1 && ep.Checks[0].Status == v1.CheckPassing && strings.Contains(ep.Checks[0].Output, tc.cmd),
				fmt.Sprintf("%+v", ep.Checks)
		})
		if calls := e.execs.in(tc.container); len(calls) == 0 || !strings.Contains(strings.Join(calls[0].cmd, " "), tc.cmd) {
			t.Errorf("%s: execs in its container: %+v", tc.service, calls)
		}
	}
}
