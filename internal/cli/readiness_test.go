package cli

import (
	"bytes"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

func TestUnitReadiness(t *testing.T) {
	t.Parallel()
	inst := func(host string, gen int64, state v1.InstanceState, ready v1.ConditionStatus) v1.InstanceStatus {
		in := v1.InstanceStatus{Host: host, State: state, ObservedGeneration: gen}
		if ready != "" {
			in.Conditions = []v1.Condition{{Type: v1.ConditionReady, Status: ready}}
		}
		return in
	}
	hosts := []*v1.Host{
		{Metadata: v1.ObjectMeta{Name: "a", Labels: map[string]string{"zone": "a"}}, Status: v1.HostStatus{State: v1.HostUp}},
		{Metadata: v1.ObjectMeta{Name: "b", Labels: map[string]string{"zone": "b"}}, Status: v1.HostStatus{State: v1.HostUp}},
		{Metadata: v1.ObjectMeta{Name: "c", Labels: map[string]string{"zone": "a"}}, Status: v1.HostStatus{State: v1.HostDown}},
	}
	for _, tc := range []struct {
		name      string
		placement v1.Placement
		insts     []v1.InstanceStatus
		expected  int
		ready     int
		isReady   bool
		failed    string
	}{
		{"one replica, none yet", v1.Placement{Replicas: 1}, nil, 1, 0, false, ""},
		{"one replica ready", v1.Placement{Replicas: 1}, []v1.InstanceStatus{inst("a", 2, v1.StateRunning, v1.ConditionTrue)}, 1, 1, true, ""},
		{"ready at an old generation", v1.Placement{Replicas: 1}, []v1.InstanceStatus{inst("a", 1, v1.StateRunning, v1.ConditionTrue)}, 1, 0, false, ""},
		{"running but not ready", v1.Placement{Replicas: 1}, []v1.InstanceStatus{inst("a", 2, v1.StateHealthchecking, v1.ConditionFalse)}, 1, 0, false, ""},
		{"no Ready condition", v1.Placement{Replicas: 1}, []v1.InstanceStatus{inst("a", 2, v1.StateRunning, "")}, 1, 0, false, ""},
		{"replicas default to one", v1.Placement{}, []v1.InstanceStatus{inst("b", 2, v1.StateRunning, v1.ConditionTrue)}, 1, 1, true, ""},
		{"two of three replicas", v1.Placement{Replicas: 3}, []v1.InstanceStatus{
			inst("a", 2, v1.StateRunning, v1.ConditionTrue), inst("b", 2, v1.StateRunning, v1.ConditionTrue), inst("c", 2, v1.StateStarting, v1.ConditionFalse)}, 3, 2, false, ""},
		{"replicas on named hosts use the scheduler", v1.Placement{Hosts: []string{"a", "b"}, Replicas: 1}, []v1.InstanceStatus{
			inst("b", 2, v1.StateRunning, v1.ConditionTrue)}, 1, 1, true, ""},
		{"pinned: every host named", v1.Placement{Hosts: []string{"a", "c"}}, []v1.InstanceStatus{
			inst("a", 2, v1.StateRunning, v1.ConditionTrue), inst("b", 2, v1.StateRunning, v1.ConditionTrue)}, 2, 1, false, ""},
		{"pinned ready, down host too", v1.Placement{Hosts: []string{"a", "c"}}, []v1.InstanceStatus{
			inst("a", 2, v1.StateRunning, v1.ConditionTrue), inst("c", 2, v1.StateRunning, v1.ConditionTrue)}, 2, 2, true, ""},
		{"global: up hosts that match", v1.Placement{Global: true, HostSelector: map[string]string{"zone": "a"}}, []v1.InstanceStatus{
			inst("b", 2, v1.StateRunning, v1.ConditionTrue), inst("c", 2, v1.StateRunning, v1.ConditionTrue)}, 1, 0, false, ""},
		{"global ready", v1.Placement{Global: true, HostSelector: map[string]string{"zone": "a"}}, []v1.InstanceStatus{
			inst("a", 2, v1.StateRunning, v1.ConditionTrue)}, 1, 1, true, ""},
		{"global without selector: every up host", v1.Placement{Global: true}, []v1.InstanceStatus{
			inst("a", 2, v1.StateRunning, v1.ConditionTrue)}, 2, 1, false, ""},
		{"global on no host is ready", v1.Placement{Global: true, HostSelector: map[string]string{"zone": "x"}}, nil, 0, 0, true, ""},
		{"failed at the generation", v1.Placement{Replicas: 2}, []v1.InstanceStatus{
			inst("a", 2, v1.StateRunning, v1.ConditionTrue), inst("b", 2, v1.StateFailed, v1.ConditionFalse)}, 2, 1, false, "b"},
		{"failed at an old generation waits", v1.Placement{Replicas: 1}, []v1.InstanceStatus{inst("a", 1, v1.StateFailed, v1.ConditionFalse)}, 1, 0, false, ""},
		{"failed on a host not counted", v1.Placement{Hosts: []string{"a"}}, []v1.InstanceStatus{
			inst("a", 2, v1.StateRunning, v1.ConditionTrue), inst("b", 2, v1.StateFailed, v1.ConditionFalse)}, 1, 1, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &v1.Unit{Metadata: v1.ObjectMeta{Name: "todo", Generation: 2}, Spec: v1.UnitSpec{Placement: tc.placement}}
			r := unitReadiness(u, tc.insts, hosts)
			failed := ""
			if r.Failed != nil {
				failed = r.Failed.Host
			}
			if r.Expected != tc.expected || r.ReadyCount != tc.ready || r.Ready() != tc.isReady || failed != tc.failed {
				t.Errorf("expected %d ready %d Ready() %v failed %q; want %d %d %v %q",
					r.Expected, r.ReadyCount, r.Ready(), failed, tc.expected, tc.ready, tc.isReady, tc.failed)
			}
		})
	}
}

func TestProgressOnATerminal(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := newProgress(&b, true)
	p.update("todo", "waiting for unit/todo: 0/1 ready (no instance yet)")
	p.update("todo", "waiting for unit/todo: 0/1 ready (no instance yet)")
	p.update("todo", "waiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)")
	p.println("unit/todo ready")
	p.clear()
	want := "\r\033[Kwaiting for unit/todo: 0/1 ready (no instance yet)" +
		"\r\033[Kwaiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)" +
		"\r\033[Kunit/todo ready\n"
	if b.String() != want {
		t.Errorf("terminal output %q\nwant %q", b.String(), want)
	}
	b.Reset()
	p = newProgress(&b, false)
	p.update("todo", "a")
	p.update("todo", "a")
	p.update("todo", "b")
	p.println("unit/todo ready")
	if want := "a\nb\nunit/todo ready\n"; b.String() != want {
		t.Errorf("output %q, want %q", b.String(), want)
	}
	// Why an instance is stuck stays on a terminal, and is not repeated.
	b.Reset()
	p = newProgress(&b, true)
	p.update("todo", "waiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)")
	p.keep("todo", "waiting for unit/todo: 0/1 ready (host-a: CREATING: volumes[0].hostPath /x: ...)")
	p.keep("todo", "waiting for unit/todo: 0/1 ready (host-a: CREATING: volumes[0].hostPath /x: ...)")
	p.update("todo", "waiting for unit/todo: 0/1 ready (host-a: CREATING)")
	p.println("unit/todo ready")
	want = "\r\033[Kwaiting for unit/todo: 0/1 ready (host-a: PULLING_IMAGE)" +
		"\r\033[Kwaiting for unit/todo: 0/1 ready (host-a: CREATING: volumes[0].hostPath /x: ...)\n" +
		"\r\033[Kwaiting for unit/todo: 0/1 ready (host-a: CREATING)" +
		"\r\033[Kunit/todo ready\n"
	if b.String() != want {
		t.Errorf("terminal output with a stuck instance %q\nwant %q", b.String(), want)
	}
	if isTerminal(&b) {
		t.Error("a buffer is a terminal")
	}
}
