package e2e

import (
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// TestFaultCheckerCatches: each invariant of faultChecker.judge fires on
// a made-up world that breaks it, and stays quiet on one where what looks
// alike is allowed.
func TestFaultCheckerCatches(t *testing.T) {
	t.Parallel()
	w := newFaultWorkload("fx", "fx", "10.0.0.254", 1)
	db, api, web := w.groupUnit(0, "db"), w.groupUnit(0, "api"), w.groupUnit(0, "web")
	hosts := []string{"h1", "h2", "h3"}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ctr := func(id, host, kind, name, version string, state runtime.ContainerState) runtime.Container {
		return runtime.Container{ID: id, Name: "berth-" + id, State: state, Labels: map[string]string{
			v1.LabelHost: host, v1.LabelKind: kind, v1.LabelName: name, v1.LabelVersion: version}}
	}
	snap := func(at time.Duration, cs ...runtime.Container) faultSnapshot {
		return faultSnapshot{at: t0.Add(at), objects: map[string]int64{}, unitBindings: map[string]v1.Binding{},
			jobBindings: map[string]v1.JobBinding{}, statuses: map[string]v1.InstanceStatus{},
			catalog: map[string]catalog.Endpoint{}, alive: map[string]bool{}, containers: cs}
	}
	facts := func(edit func(*faultState)) faultState {
		f := faultState{hosts: hosts, down: map[string]time.Time{}, up: map[string]time.Time{}, leaderMoved: t0,
			stopped: map[string]time.Time{}, objects: map[string]int64{}}
		for _, h := range hosts {
			f.up[h] = t0
		}
		if edit != nil {
			edit(&f)
		}
		return f
	}
	type look struct {
		snap  faultSnapshot
		facts faultState
	}
	dbKey := store.ObjectKey(v1.KindUnit, db)
	withObject := func(s faultSnapshot, key string, rev int64) faultSnapshot { s.objects[key] = rev; return s }
	withEndpoint := func(s faultSnapshot, host string) faultSnapshot {
		s.catalog[store.CatalogKey(host, "fx-api", host+":c1:8080")] = catalog.Endpoint{Service: "fx-api", Host: host, Container: "c1"}
		return s
	}
	catalogReadAt := func(s faultSnapshot, at time.Duration) faultSnapshot { s.catalogAt = t0.Add(at); return s }
	withBinding := func(s faultSnapshot, host, version string) faultSnapshot {
		s.jobBindings[w.job()] = v1.JobBinding{Hosts: map[string]string{host: version}}
		return s
	}
	withStatus := func(s faultSnapshot, host, id string) faultSnapshot {
		s.statuses[store.StatusKey(v1.KindUnit, db, host)] = v1.InstanceStatus{Host: host, State: v1.StateRunning, ContainerID: id}
		return s
	}
	h1Down := func(at time.Duration) func(*faultState) {
		return func(f *faultState) { f.down["h1"] = t0.Add(at) }
	}
	dbStopped := func(f *faultState) { f.stopped[db] = t0 }
	ttlPassed := rigHeartbeatTTL + faultCheckInterval + faultTick + time.Millisecond
	for _, tc := range []struct {
		name  string
		looks []look
		want  string // the rule broken, "" for none
	}{
		{"two running containers of one instance", []look{{snap(0,
			ctr("a", "h1", v1.KindUnit, db, "", runtime.StateRunning), ctr("b", "h1", v1.KindUnit, db, "", runtime.StateRunning)), facts(nil)}},
			"two containers for one instance"},
		{"a running and an exited container of one instance", []look{{snap(0,
			ctr("a", "h1", v1.KindUnit, db, "", runtime.StateRunning), ctr("b", "h1", v1.KindUnit, db, "", runtime.StateExited)), facts(nil)}},
			""},
		{"one Unit running on two hosts", []look{{snap(0,
			ctr("a", "h1", v1.KindUnit, db, "", runtime.StateRunning), ctr("b", "h2", v1.KindUnit, db, "", runtime.StateRunning)), facts(nil)}},
			""},
		{"an object changed by someone else", []look{{withObject(snap(0), dbKey, 6), facts(func(f *faultState) { f.objects[dbKey] = 5 })}},
			"object changed by someone else"},
		{"an object changed while the test writes", []look{{withObject(snap(0), dbKey, 6),
			facts(func(f *faultState) { f.objects[dbKey] = 5; f.writing = true })}},
			""},
		{"an object lost", []look{{snap(0), facts(func(f *faultState) { f.objects[dbKey] = 5 })}}, "object lost"},
		{"an object of the test's written by someone else", []look{{withObject(snap(0), store.JobVersionKey(w.job(), "9"), 7), facts(nil)}},
			"object written by someone else"},
		{"another test's object", []look{{withObject(snap(0), store.ObjectKey(v1.KindUnit, "other"), 7), facts(nil)}}, ""},
		{"a dead host's endpoint after its TTL and a check interval",
			[]look{{withEndpoint(snap(ttlPassed), "h1"), facts(h1Down(0))}}, "endpoint of a dead host"},
		{"a dead host's endpoint within its TTL",
			[]look{{withEndpoint(snap(rigHeartbeatTTL), "h1"), facts(h1Down(0))}}, ""},
		{"a dead host's endpoint within its TTL after a new etcd leader",
			[]look{{withEndpoint(snap(2*time.Second+ttlPassed), "h1"),
				facts(func(f *faultState) { f.down["h1"] = t0; f.leaderMoved = t0.Add(2 * time.Second) })}}, ""},
		{"a dead host's endpoint read before the deadline by a read that ended after it",
			[]look{{catalogReadAt(withEndpoint(snap(ttlPassed+time.Second), "h1"), rigHeartbeatTTL), facts(h1Down(0))}}, ""},
		{"a dead host's endpoint read after the deadline",
			[]look{{catalogReadAt(withEndpoint(snap(ttlPassed+time.Second), "h1"), ttlPassed), facts(h1Down(0))}}, "endpoint of a dead host"},
		{"an endpoint of a host that is up", []look{{withEndpoint(snap(time.Minute), "h1"), facts(nil)}}, ""},
		{"a dependent running on a host that is up after what it requires stopped",
			[]look{
				{snap(time.Second, ctr("a", "h2", v1.KindUnit, api, "", runtime.StateRunning)), facts(dbStopped)},
				{snap(time.Second+faultReconcile+time.Millisecond, ctr("a", "h2", v1.KindUnit, api, "", runtime.StateRunning)), facts(dbStopped)},
			}, "requires: dependent running"},
		{"a dependent of a dependent running after what they require stopped",
			[]look{
				{snap(0, ctr("a", "h2", v1.KindUnit, web, "", runtime.StateRunning)), facts(dbStopped)},
				{snap(faultReconcile+time.Millisecond, ctr("a", "h2", v1.KindUnit, web, "", runtime.StateRunning)), facts(dbStopped)},
			}, "requires: dependent running"},
		{"a dependent stopping within a reconcile",
			[]look{
				{snap(time.Second, ctr("a", "h2", v1.KindUnit, api, "", runtime.StateRunning)), facts(dbStopped)},
				{snap(time.Second+faultReconcile/2, ctr("a", "h2", v1.KindUnit, api, "", runtime.StateExited)), facts(dbStopped)},
				{snap(time.Second+2*faultReconcile, ctr("a", "h2", v1.KindUnit, api, "", runtime.StateExited)), facts(dbStopped)},
			}, ""},
		{"a dependent running on a host that is down",
			[]look{
				{snap(0, ctr("a", "h1", v1.KindUnit, api, "", runtime.StateRunning)), facts(func(f *faultState) { dbStopped(f); h1Down(0)(f) })},
				{snap(time.Minute, ctr("a", "h1", v1.KindUnit, api, "", runtime.StateRunning)), facts(func(f *faultState) { dbStopped(f); h1Down(0)(f) })},
			}, ""},
		{"a version of the Job its binding does not name",
			[]look{
				{withBinding(snap(0, ctr("j", "h2", v1.KindJob, w.job(), "1", runtime.StateRunning)), "h2", "2"), facts(nil)},
				{withBinding(snap(faultReconcile+time.Millisecond, ctr("j", "h2", v1.KindJob, w.job(), "1", runtime.StateRunning)), "h2", "2"), facts(nil)},
			}, "job version not bound"},
		{"the version of the Job its binding names",
			[]look{
				{withBinding(snap(0, ctr("j", "h2", v1.KindJob, w.job(), "2", runtime.StateRunning)), "h2", "2"), facts(nil)},
				{withBinding(snap(time.Minute, ctr("j", "h2", v1.KindJob, w.job(), "2", runtime.StateRunning)), "h2", "2"), facts(nil)},
			}, ""},
		{"RUNNING naming a container that does not run",
			[]look{
				{withStatus(snap(0, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateExited)), "h2", "a"), facts(nil)},
				{withStatus(snap(faultReconcile+time.Millisecond, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateExited)), "h2", "a"), facts(nil)},
			}, "RUNNING without a running container"},
		{"RUNNING naming a container that does not run, while an etcd member answers nothing",
			[]look{
				{withStatus(snap(0, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateExited)), "h2", "a"), facts(func(f *faultState) { f.blackhole = t0 })},
				{withStatus(snap(etcdKeepAlive+faultReconcile-time.Second, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateExited)), "h2", "a"),
					facts(func(f *faultState) { f.blackhole = t0 })},
			}, ""},
		{"RUNNING naming a container that does not run, long after an etcd member answered again",
			[]look{
				{withStatus(snap(0, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateExited)), "h2", "a"), facts(func(f *faultState) { f.stuckUntil = t0.Add(time.Second) })},
				{withStatus(snap(time.Second+faultReconcile+time.Millisecond, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateExited)), "h2", "a"),
					facts(func(f *faultState) { f.stuckUntil = t0.Add(time.Second) })},
			}, "RUNNING without a running container"},
		{"RUNNING naming a container that runs",
			[]look{
				{withStatus(snap(0, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateRunning)), "h2", "a"), facts(nil)},
				{withStatus(snap(time.Minute, ctr("a", "h2", v1.KindUnit, db, "", runtime.StateRunning)), "h2", "a"), facts(nil)},
			}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFaultChecker(w, rigHeartbeatTTL, rigElectionTimeout)
			for _, l := range tc.looks {
				c.judge(l.snap, l.facts)
			}
			var rules []string
			for _, v := range c.violations {
				rules = append(rules, v.Rule)
			}
			switch {
			case tc.want == "" && len(rules) > 0:
				t.Errorf("violations where none is:%s", c.report(t0))
			case tc.want != "" && (len(rules) != 1 || rules[0] != tc.want):
				t.Errorf("violations %q, want one %q:%s", strings.Join(rules, ", "), tc.want, c.report(t0))
			}
		})
	}
}

// TestFaultParsePS: every container of the rig's hosts in docker ps is
// seen, the last line's included when its last label (a Unit's version)
// is empty, and a line of the wrong shape is an error, not a container
// overlooked.
func TestFaultParsePS(t *testing.T) {
	t.Parallel()
	out := "" +
		"bbb\tberth-job-fx-roll-1\trunning\th2\tJob\tfx-roll\t1\n" +
		"ccc\tother\texited\telsewhere\tUnit\tweb\t\n" +
		"aaa\tberth-unit-fx-g0-db\trunning\th1\tUnit\tfx-g0-db\t\n"
	cs, err := parsePS(out, []string{"h1", "h2"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.ID+" "+c.Name+" "+string(c.State)+" "+c.Labels[v1.LabelHost]+" "+c.Labels[v1.LabelVersion])
	}
	want := []string{"bbb berth-job-fx-roll-1 running h2 1", "aaa berth-unit-fx-g0-db running h1 "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("parsePS kept\n%q\nwant\n%q", got, want)
	}
	if _, ok := cs[1].Labels[v1.LabelVersion]; ok {
		t.Errorf("a Unit's empty version label was kept: %v", cs[1].Labels)
	}
	if _, err := parsePS("aaa\tberth-unit-x\trunning\th1\n", []string{"h1"}); err == nil || !strings.Contains(err.Error(), "columns") {
		t.Errorf("a line with 4 columns: err %v, want one naming the columns", err)
	}
}
