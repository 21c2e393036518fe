package gitsync_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/gitsync"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func pinned(name string, gen int64, hosts ...string) *v1.Unit {
	u := v1.New(v1.KindUnit).(*v1.Unit)
	u.Metadata.Name, u.Metadata.Generation = name, gen
	u.Spec.Placement.Hosts = hosts
	return u
}

func inst(host string, gen int64, state v1.InstanceState, ready v1.ConditionStatus) v1.InstanceStatus {
	return v1.InstanceStatus{Host: host, ObservedGeneration: gen, State: state,
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: ready}}}
}

func TestUnitsHealth(t *testing.T) {
	t.Parallel()
	hosts := []*v1.Host{{Metadata: v1.ObjectMeta{Name: "a"}, Status: v1.HostStatus{State: v1.HostUp}}}
	for _, tc := range []struct {
		name     string
		statuses map[string][]v1.InstanceStatus
		want     []string // substrings of NotReady, in order; none: Ready
		failed   bool
	}{
		{"ready", map[string][]v1.InstanceStatus{"web": {inst("a", 2, v1.StateRunning, v1.ConditionTrue)}}, nil, false},
		{"no instance", nil, []string{"unit/web: 0/1 ready at generation 2 (no instance yet)"}, false},
		{"old generation", map[string][]v1.InstanceStatus{"web": {inst("a", 1, v1.StateRunning, v1.ConditionTrue)}},
			[]string{"unit/web: 0/1 ready at generation 2 (a: RUNNING at generation 1)"}, false},
		{"not ready yet", map[string][]v1.InstanceStatus{"web": {inst("a", 2, v1.StatePullingImage, v1.ConditionFalse)}},
			[]string{"unit/web: 0/1 ready", "a: PULLING_IMAGE"}, false},
		{"failed", map[string][]v1.InstanceStatus{"web": {inst("a", 2, v1.StateFailed, v1.ConditionFalse)}},
			[]string{"unit/web: 0/1 ready", "a: FAILED"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := gitsync.UnitsHealth([]*v1.Unit{pinned("web", 2, "a")}, tc.statuses, hosts)
			got := strings.Join(h.NotReady, "\n")
			if h.Ready() != (tc.want == nil) || h.Failed != tc.failed {
				t.Fatalf("Ready %t Failed %t (%q), want ready %t failed %t", h.Ready(), h.Failed, got, tc.want == nil, tc.failed)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("NotReady %q does not say %q", got, w)
				}
			}
		})
	}
	var none *gitsync.Health
	if !none.Ready() {
		t.Error("nil Health (no wait) is not Ready")
	}
}

func TestNewStatusWait(t *testing.T) {
	t.Parallel()
	src := source("file:///r", false)
	now := time.Unix(1700000000, 0).UTC()
	prev := &v1.GitSourceStatus{LastAppliedRevision: "main@sha1:old"}
	for _, tc := range []struct {
		name    string
		health  *gitsync.Health
		status  v1.ConditionStatus
		reason  string
		applied string
	}{
		{"no wait", nil, v1.ConditionTrue, v1.ReasonReconciliationSucceeded, "main@sha1:new"},
		{"all ready", &gitsync.Health{}, v1.ConditionTrue, v1.ReasonReconciliationSucceeded, "main@sha1:new"},
		{"progressing", &gitsync.Health{NotReady: []string{"unit/web: 0/1 ready"}}, v1.ConditionFalse, v1.ReasonProgressing, "main@sha1:old"},
		{"failed", &gitsync.Health{NotReady: []string{"unit/web: 0/1 ready (a: FAILED)"}, Failed: true}, v1.ConditionFalse, v1.ReasonHealthCheckFailed, "main@sha1:old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gitsync.NewStatus(src, prev, gitsync.Result{Revision: "main@sha1:new", Health: tc.health}, nil, now)
			c := v1.FindCondition(s.Conditions, v1.ConditionReady)
			if c.Status != tc.status || c.Reason != tc.reason || s.LastAppliedRevision != tc.applied || s.LastAttemptedRevision != "main@sha1:new" {
				t.Fatalf("Ready %s %s %q, applied %s attempted %s; want %s %s, applied %s",
					c.Status, c.Reason, c.Message, s.LastAppliedRevision, s.LastAttemptedRevision, tc.status, tc.reason, tc.applied)
			}
			if tc.health != nil && !tc.health.Ready() && !strings.Contains(c.Message, "unit/web") {
				t.Errorf("message %q does not name unit/web", c.Message)
			}
		})
	}
}

// TestSyncWait: with spec.wait, a sync is Progressing until the applied
// Unit's instance reports Ready at its generation, then Ready True.
func TestSyncWait(t *testing.T) {
	r := newRepo(t)
	st := testenv.EtcdStore(t)
	src := source(r.url(), false)
	src.Spec.Wait = true
	s := &syncer{t: t, st: st, src: src, work: filepath.Join(t.TempDir(), "cache")}
	c1 := r.commit("add web", map[string]string{"deploy/web.yaml": unitYAML("web", "web:1") + "  placement: {hosts: [host-a]}\n"})

	got := s.mustSync()
	c := v1.FindCondition(got.Conditions, v1.ConditionReady)
	if c.Status != v1.ConditionFalse || c.Reason != v1.ReasonProgressing || !strings.Contains(c.Message, "unit/web: 0/1 ready") {
		t.Fatalf("before the instance reports: Ready %s %s %q, want False Progressing naming unit/web", c.Status, c.Reason, c.Message)
	}
	if got.LastAppliedRevision != "" || got.LastAttemptedRevision != "main@sha1:"+c1 {
		t.Fatalf("applied %q attempted %q", got.LastAppliedRevision, got.LastAttemptedRevision)
	}

	o, err := store.GetObject(context.Background(), st, v1.KindUnit, "web")
	if err != nil {
		t.Fatal(err)
	}
	// host-a joins (its record, Up) and reports the instance Ready.
	h, _ := json.Marshal(v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}, Metadata: v1.ObjectMeta{Name: "host-a"}})
	b, _ := json.Marshal(inst("host-a", o.GetObjectMeta().Generation, v1.StateRunning, v1.ConditionTrue))
	for key, value := range map[string][]byte{store.HostKey("host-a"): h, store.AliveKey("host-a"): []byte("{}"),
		store.StatusKey(v1.KindUnit, "web", "host-a"): b} {
		if _, err := st.Put(context.Background(), key, value, 0); err != nil {
			t.Fatal(err)
		}
	}
	got = s.mustSync()
	c = v1.FindCondition(got.Conditions, v1.ConditionReady)
	if c.Status != v1.ConditionTrue || got.LastAppliedRevision != "main@sha1:"+c1 {
		t.Fatalf("after the instance is Ready: Ready %s %s %q, applied %q", c.Status, c.Reason, c.Message, got.LastAppliedRevision)
	}
}
