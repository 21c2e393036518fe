package scheduler

import (
	"slices"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

func unit(p v1.Placement) *v1.Unit {
	u := &v1.Unit{Metadata: v1.ObjectMeta{Name: "u", Generation: 1}}
	u.Spec.Placement = p
	return u
}

func up(names ...string) []HostInfo {
	var out []HostInfo
	for _, n := range names {
		out = append(out, HostInfo{Name: n, Up: true})
	}
	return out
}

func bindingOn(hosts ...string) *v1.Binding { return &v1.Binding{Hosts: hosts, Generation: 1} }

func TestSchedule(t *testing.T) {
	t.Parallel()
	zoneA := map[string]string{"zone": "a"}
	zoneB := map[string]string{"zone": "b"}
	labelled := []HostInfo{
		{Name: "h1", Labels: zoneA, Up: true},
		{Name: "h2", Labels: zoneB, Up: true},
		{Name: "h3", Labels: zoneA, Up: true},
	}
	tests := []struct {
		name    string
		p       v1.Placement
		hosts   []HostInfo
		current *v1.Binding
		load    map[string]int
		want    []string
	}{
		{
			name:  "replicas 1 on 3 hosts picks the least loaded",
			p:     v1.Placement{Replicas: 1},
			hosts: up("h1", "h2", "h3"),
			load:  map[string]int{"h1": 2, "h2": 0, "h3": 1},
			want:  []string{"h2"},
		},
		{
			name:  "replicas 0 is one instance",
			p:     v1.Placement{},
			hosts: up("h1", "h2"),
			want:  []string{"h1"},
		},
		{
			name:    "already bound host is kept even when now the most loaded",
			p:       v1.Placement{Replicas: 1},
			hosts:   up("h1", "h2", "h3"),
			current: bindingOn("h1"),
			load:    map[string]int{"h1": 9},
			want:    []string{"h1"},
		},
		{
			name:  "hostSelector limits the candidates",
			p:     v1.Placement{Replicas: 2, HostSelector: zoneA},
			hosts: labelled,
			want:  []string{"h1", "h3"},
		},
		{
			name:  "hostSelector with more replicas than matching hosts binds what exists",
			p:     v1.Placement{Replicas: 3, HostSelector: zoneA},
			hosts: labelled,
			want:  []string{"h1", "h3"},
		},
		{
			name:  "hosts list with replicas chooses among the hosts named",
			p:     v1.Placement{Hosts: []string{"h2", "h3"}, Replicas: 1},
			hosts: up("h1", "h2", "h3"),
			load:  map[string]int{"h2": 1},
			want:  []string{"h3"},
		},
		{
			name:  "hosts list and hostSelector must both match",
			p:     v1.Placement{Hosts: []string{"h1", "h2"}, Replicas: 2, HostSelector: zoneA},
			hosts: labelled,
			want:  []string{"h1"},
		},
		{
			name:    "replicas raised adds the least loaded and keeps the bound",
			p:       v1.Placement{Replicas: 3},
			hosts:   up("h1", "h2", "h3", "h4"),
			current: bindingOn("h4"),
			load:    map[string]int{"h1": 3, "h2": 1, "h3": 2, "h4": 5},
			want:    []string{"h2", "h3", "h4"},
		},
		{
			name:    "replicas lowered drops the most loaded",
			p:       v1.Placement{Replicas: 1},
			hosts:   up("h1", "h2", "h3"),
			current: bindingOn("h1", "h2", "h3"),
			load:    map[string]int{"h1": 4, "h2": 1, "h3": 2},
			want:    []string{"h2"},
		},
		{
			name:    "replicas lowered drops Down hosts first",
			p:       v1.Placement{Replicas: 1},
			hosts:   []HostInfo{{Name: "h1", Up: false}, {Name: "h2", Up: true}},
			current: bindingOn("h1", "h2"),
			load:    map[string]int{"h2": 7},
			want:    []string{"h2"},
		},
		{
			name:    "replicas lowered with equal load drops the last by name",
			p:       v1.Placement{Replicas: 2},
			hosts:   up("h1", "h2", "h3"),
			current: bindingOn("h3", "h2", "h1"),
			want:    []string{"h1", "h2"},
		},
		{
			name:    "host that stopped matching the selector is replaced",
			p:       v1.Placement{Replicas: 1, HostSelector: zoneB},
			hosts:   labelled,
			current: bindingOn("h1"),
			want:    []string{"h2"},
		},
		{
			name:    "host no longer in the hosts list is replaced",
			p:       v1.Placement{Hosts: []string{"h2", "h3"}, Replicas: 1},
			hosts:   up("h1", "h2", "h3"),
			current: bindingOn("h1"),
			load:    map[string]int{"h2": 1},
			want:    []string{"h3"},
		},
		{
			name:    "host whose record is gone is replaced",
			p:       v1.Placement{Replicas: 1},
			hosts:   up("h2"),
			current: bindingOn("h1"),
			want:    []string{"h2"},
		},
		{
			name:  "Down host is not chosen for a new instance",
			p:     v1.Placement{Replicas: 2},
			hosts: []HostInfo{{Name: "h1", Up: false}, {Name: "h2", Up: true}, {Name: "h3", Up: true}},
			load:  map[string]int{"h2": 5, "h3": 5},
			want:  []string{"h2", "h3"},
		},
		{
			name:    "Down host already bound stays bound",
			p:       v1.Placement{Replicas: 1},
			hosts:   []HostInfo{{Name: "h1", Up: false}, {Name: "h2", Up: true}},
			current: bindingOn("h1"),
			want:    []string{"h1"},
		},
		{
			name:    "Down host already bound counts towards replicas",
			p:       v1.Placement{Replicas: 2},
			hosts:   []HostInfo{{Name: "h1", Up: false}, {Name: "h2", Up: true}, {Name: "h3", Up: true}},
			current: bindingOn("h1"),
			load:    map[string]int{"h2": 1},
			want:    []string{"h1", "h3"},
		},
		{
			name:  "no host at all is empty",
			p:     v1.Placement{Replicas: 1},
			hosts: nil,
			want:  []string{},
		},
		{
			name:  "no candidate is empty",
			p:     v1.Placement{Replicas: 1, HostSelector: map[string]string{"zone": "c"}},
			hosts: labelled,
			want:  []string{},
		},
		{
			name:  "only Down candidates is empty",
			p:     v1.Placement{Replicas: 1},
			hosts: []HostInfo{{Name: "h1"}, {Name: "h2"}},
			want:  []string{},
		},
		{
			name:  "ties are broken by name whatever the order of hosts",
			p:     v1.Placement{Replicas: 2},
			hosts: up("h3", "h1", "h2", "h0"),
			load:  map[string]int{"h0": 1},
			want:  []string{"h1", "h2"},
		},
		{
			name:    "a binding listing a host twice keeps it once",
			p:       v1.Placement{Replicas: 2},
			hosts:   up("h1", "h2"),
			current: bindingOn("h1", "h1"),
			want:    []string{"h1", "h2"},
		},
		{
			name:  "global unit has no binding",
			p:     v1.Placement{Global: true},
			hosts: up("h1"),
			want:  nil,
		},
		{
			name:  "pinned unit has no binding",
			p:     v1.Placement{Hosts: []string{"h1"}},
			hosts: up("h1"),
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var before []string
			if tt.current != nil {
				before = slices.Clone(tt.current.Hosts)
			}
			load := map[string]Usage{}
			for h, n := range tt.load {
				load[h] = Usage{Instances: n}
			}
			got := Schedule(unit(tt.p), tt.hosts, tt.current, load).Hosts
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Schedule = %#v, want %#v", got, tt.want)
			}
			if tt.current != nil && !slices.Equal(tt.current.Hosts, before) {
				t.Errorf("Schedule changed the current binding to %v", tt.current.Hosts)
			}
		})
	}
}
