package ui

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func kv(t *testing.T, key string, v any) store.KV {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return store.KV{Key: key, Value: b, ModRevision: 1}
}

// applyKV applies kv (absent: deleted) to m as the hub does: decoded by
// the cache of the feed it is under (the one of the longest prefix).
func applyKV(m *model, kv store.KV, present bool) []rowID {
	var f feed
	for _, c := range feeds {
		if strings.HasPrefix(kv.Key, c.prefix()) && (f == nil || len(c.prefix()) > len(f.prefix())) {
			f = c
		}
	}
	if f == nil {
		return nil
	}
	return f.applyKV(m, kv, present)
}

func testUnit(name string) *v1.Unit {
	u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}}
	u.Metadata.Name = name
	u.Spec.Container.Image = "web:1"
	u.Spec.Container.Env = []v1.EnvVar{{Name: "PASSWORD", Value: "hunter2"}}
	return u
}

// The rows the page shows follow the keys as the hosts and applyctl write
// them, and a status counts only under a host that has a record.
func TestModelRows(t *testing.T) {
	m := newModel("h1")
	apply := func(key string, v any) []rowID {
		if v == nil {
			return applyKV(m, store.KV{Key: key}, false)
		}
		return applyKV(m, kv(t, key, v), true)
	}
	apply(store.ObjectKey(v1.KindUnit, "web"), testUnit("web"))
	st := v1.InstanceStatus{Host: "h1", State: v1.StateRunning, Restarts: 2, Message: "<b>hi</b>",
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue}}}
	ids := apply(store.StatusKey(v1.KindUnit, "web", "h1"), st)
	if !slices.Contains(ids, rowID{rowUnit, "web"}) || !slices.Contains(ids, rowID{rowHost, "h1"}) {
		t.Errorf("a status changes its unit's and its host's rows; got %v", ids)
	}
	row := m.row(rowID{rowUnit, "web"}).(unitRow)
	if len(row.Instances) != 0 {
		t.Errorf("a status of a host without a record is shown: %+v", row.Instances)
	}

	h := &v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}}
	h.Metadata.Name = "h1"
	h.Status.HTTPAddress = "127.0.0.1:8500"
	ids = apply(store.HostKey("h1"), h)
	if !slices.Contains(ids, rowID{rowUnit, "web"}) {
		t.Errorf("a host that joins changes the rows of what it reports; got %v", ids)
	}
	row = m.row(rowID{rowUnit, "web"}).(unitRow)
	if len(row.Instances) != 1 || row.Instances[0].State != v1.StateUnknown || !row.Instances[0].HostDown {
		t.Errorf("an instance on a host without heartbeat: %+v, want UNKNOWN (host down)", row.Instances)
	}
	ids = apply(store.AliveKey("h1"), map[string]string{})
	if !slices.Contains(ids, rowID{rowUnit, "web"}) {
		t.Errorf("a host coming up changes the rows of what it reports; got %v", ids)
	}
	row = m.row(rowID{rowUnit, "web"}).(unitRow)
	in := row.Instances[0]
	if in.State != v1.StateRunning || in.Restarts != 2 || in.Ready != v1.ConditionTrue || in.Message != "<b>hi</b>" {
		t.Errorf("instance row %+v", in)
	}
	hr := m.row(rowID{rowHost, "h1"}).(hostRow)
	if !hr.Up || hr.HTTP != "http://127.0.0.1:8500" || !hr.ThisDashboard || hr.Running != 1 ||
		!slices.Equal(hr.Instances, []hostInstance{{Kind: rowUnit, Name: "web", State: v1.StateRunning}}) {
		t.Errorf("host row %+v", hr)
	}

	// A value naming another host than its key is no instance.
	forged := st
	forged.Host = "h2"
	apply(store.StatusKey(v1.KindUnit, "web", "h1"), forged)
	if row := m.row(rowID{rowUnit, "web"}).(unitRow); len(row.Instances) != 0 {
		t.Errorf("a forged status is shown: %+v", row.Instances)
	}

	obj := m.object(rowUnit, "web", false).(*v1.Unit)
	if obj.Spec.Container.Env[0].Value != "[redacted]" || m.units["web"].Spec.Container.Env[0].Value != "hunter2" {
		t.Errorf("without the token the value is redacted, in a copy: %v / %v", obj.Spec.Container.Env, m.units["web"].Spec.Container.Env)
	}
	if obj := m.object(rowUnit, "web", true).(*v1.Unit); obj.Spec.Container.Env[0].Value != "hunter2" {
		t.Errorf("with the token the value is shown: %v", obj.Spec.Container.Env)
	}

	apply(store.ObjectKey(v1.KindUnit, "web"), nil)
	if r := m.row(rowID{rowUnit, "web"}); r != nil {
		t.Errorf("a deleted unit still has a row: %+v", r)
	}
	if ids := apply(store.JobVersionKey("nc", "1"), map[string]string{}); ids != nil {
		t.Errorf("a Job's version record is no row: %v", ids)
	}
}

func TestJobAndGitSourceRows(t *testing.T) {
	m := newModel("h1")
	j := &v1.Job{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob}}
	j.Metadata.Name = "nc"
	j.Spec.Version = "2"
	j.Spec.Container.Image = "nc:2"
	j.Spec.Deployments = []v1.Deployment{{Host: "h1"}}
	applyKV(m, kv(t, store.ObjectKey(v1.KindJob, "nc"), j), true)
	applyKV(m, kv(t, store.HostKey("h1"), v1.Host{}), true)
	applyKV(m, kv(t, store.StatusKey(v1.KindJob, "nc", "h1"), v1.InstanceStatus{State: v1.StateRunning}), true)
	b := v1.JobBinding{Hosts: map[string]string{"h1": "1"}, Rollout: &v1.RolloutStatus{Version: "2", From: "1", State: v1.RolloutRollingOut, Pending: []string{"h1"}}}
	ids := applyKV(m, kv(t, store.BindingKey(v1.KindJob, "nc"), b), true)
	if !slices.Equal(ids, []rowID{{rowJob, "nc"}}) {
		t.Errorf("a binding changes its job's row; got %v", ids)
	}
	r := m.row(rowID{rowJob, "nc"}).(jobRow)
	if r.Rollout == nil || r.Rollout.State != v1.RolloutRollingOut || r.Versions["1"] != 1 || len(r.Instances) != 1 || r.Instances[0].Version != "1" {
		t.Errorf("job row %+v", r)
	}

	g := &v1.GitSource{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindGitSource}}
	g.Metadata.Name = "apps"
	g.Spec.URL = "https://git.example/apps.git"
	applyKV(m, kv(t, store.ObjectKey(v1.KindGitSource, "apps"), g), true)
	gr := m.row(rowID{rowGitSource, "apps"}).(gitSourceRow)
	if gr.Ready != v1.ConditionUnknown || gr.Ref != "main" || gr.Path != "." {
		t.Errorf("an unsynced GitSource: %+v", gr)
	}
	gs := v1.GitSourceStatus{LastError: "clone: auth", Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionFalse, Reason: v1.ReasonArtifactFailed}}}
	if ids := applyKV(m, kv(t, store.StatusKey(v1.KindGitSource, "apps", "leader"), gs), true); !slices.Equal(ids, []rowID{{rowGitSource, "apps"}}) {
		t.Errorf("the leader's GitSource status changes its row; got %v", ids)
	}
	gr = m.row(rowID{rowGitSource, "apps"}).(gitSourceRow)
	if gr.Ready != v1.ConditionFalse || gr.Reason != v1.ReasonArtifactFailed || gr.LastError != "clone: auth" {
		t.Errorf("a failing GitSource: %+v", gr)
	}
}
