package scheduler

import (
	"fmt"
	"slices"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

const gi = 1 << 30

// sized returns an Up host with cpus CPUs and mem bytes of memory.
func sized(name string, cpus int, mem int64) HostInfo {
	return HostInfo{Name: name, Up: true, MilliCPUs: int64(cpus) * 1000, Memory: mem}
}

// asking returns a unit of replicas asking cpus and memory, publishing
// ports.
func asking(replicas int, cpus v1.CPUs, mem v1.Quantity, ports ...v1.Port) *v1.Unit {
	u := unit(v1.Placement{Replicas: replicas})
	u.Spec.Container.Resources = v1.Resources{CPUs: cpus, Memory: mem}
	u.Spec.Container.Ports = ports
	return u
}

func TestScheduleResources(t *testing.T) {
	t.Parallel()
	hostNet := asking(1, "", "", v1.Port{ContainerPort: 53, Protocol: v1.ProtocolUDP})
	hostNet.Spec.Container.NetworkMode = "host"
	selected := asking(1, "", "1Gi")
	selected.Spec.Placement.HostSelector = map[string]string{"zone": "a"}
	listed := asking(0, "", "")
	listed.Spec.Placement.Hosts = []string{"h1"}
	tests := []struct {
		name    string
		u       *v1.Unit
		hosts   []HostInfo
		current *v1.Binding
		load    map[string]Usage
		want    []string
		pending int
		// rejected are the hosts rejected, as "host: message".
		rejected []string
	}{
		{
			name:     "memory: a host whose free memory is short is passed over for one with room",
			u:        asking(1, "", "2Gi"),
			hosts:    []HostInfo{sized("h1", 4, 4*gi), sized("h2", 4, 4*gi)},
			load:     map[string]Usage{"h1": {Instances: 1, Memory: 3 * gi}, "h2": {Instances: 5, Memory: gi}},
			want:     []string{"h2"},
			rejected: []string{"h1: not enough memory: asks 2Gi, 1Gi free of 4Gi"},
		},
		{
			name:     "memory: what is reserved is not offered",
			u:        asking(1, "", "2Gi"),
			hosts:    []HostInfo{{Name: "h1", Up: true, Memory: 8 * gi, ReservedMemory: 7 * gi}, sized("h2", 1, 2*gi)},
			want:     []string{"h2"},
			rejected: []string{"h1: not enough memory: asks 2Gi, 1Gi free of 8Gi (7Gi reserved)"},
		},
		{
			name:     "memory: reserved beyond what the host has leaves nothing",
			u:        asking(1, "", "100Mi"),
			hosts:    []HostInfo{{Name: "h1", Up: true, Memory: gi, ReservedMemory: 2 * gi}},
			want:     []string{},
			pending:  1,
			rejected: []string{"h1: not enough memory: asks 100Mi, 0 free of 1Gi (2Gi reserved)"},
		},
		{
			name:  "memory: exactly what is free fits",
			u:     asking(1, "", "1Gi"),
			hosts: []HostInfo{sized("h1", 1, 2*gi)},
			load:  map[string]Usage{"h1": {Memory: gi}},
			want:  []string{"h1"},
		},
		{
			name:     "cpu: the sum of the CPUs asked must fit, reserved CPUs left out",
			u:        asking(1, "1.5", ""),
			hosts:    []HostInfo{{Name: "h1", Up: true, MilliCPUs: 4000, ReservedMilliCPUs: 1000}, sized("h2", 2, 0)},
			load:     map[string]Usage{"h1": {MilliCPUs: 2000}, "h2": {MilliCPUs: 500}},
			want:     []string{"h2"},
			rejected: []string{"h1: not enough CPU: asks 1.5, 1 free of 4 (1 reserved)"},
		},
		{
			name:  "cpu in milli-CPUs",
			u:     asking(1, "500m", ""),
			hosts: []HostInfo{sized("h1", 1, 0)},
			load:  map[string]Usage{"h1": {MilliCPUs: 500}},
			want:  []string{"h1"},
		},
		{
			name:  "a host that reports no CPUs and no memory is not limited",
			u:     asking(1, "64", "1Ti"),
			hosts: up("h1"),
			load:  map[string]Usage{"h1": {MilliCPUs: 9000, Memory: 9 * gi}},
			want:  []string{"h1"},
		},
		{
			name:  "a unit that asks nothing fits on a full host",
			u:     asking(1, "", ""),
			hosts: []HostInfo{sized("h1", 1, gi)},
			load:  map[string]Usage{"h1": {MilliCPUs: 1000, Memory: gi}},
			want:  []string{"h1"},
		},
		{
			name: "host port: one a placed template publishes is taken",
			u:    asking(1, "", "", v1.Port{ContainerPort: 80, HostPort: 8080, Protocol: v1.ProtocolTCP}),
			hosts: []HostInfo{
				sized("h1", 2, 4*gi), sized("h2", 2, 4*gi), sized("h3", 2, 4*gi),
			},
			load: map[string]Usage{
				"h1": {Ports: map[HostPort]int{{8080, v1.ProtocolTCP}: 1}},
				"h2": {Observed: map[HostPort]int{{8080, v1.ProtocolTCP}: 1}},
				"h3": {Instances: 3, Ports: map[HostPort]int{{8080, v1.ProtocolUDP}: 1}},
			},
			want:     []string{"h3"},
			rejected: []string{"h1: host port 8080/tcp taken", "h2: host port 8080/tcp taken"},
		},
		{
			name:     "host port: under networkMode host the container port is the host's",
			u:        hostNet,
			hosts:    up("h1", "h2"),
			load:     map[string]Usage{"h1": {Observed: map[HostPort]int{{53, v1.ProtocolUDP}: 1}}, "h2": {Instances: 4}},
			want:     []string{"h2"},
			rejected: []string{"h1: host port 53/udp taken"},
		},
		{
			name:     "spread: among the hosts with room, the fewest instances first",
			u:        asking(2, "1", "1Gi"),
			hosts:    []HostInfo{sized("h1", 8, 8*gi), sized("h2", 8, 8*gi), sized("h3", 8, 8*gi), sized("h4", 1, gi)},
			load:     map[string]Usage{"h1": {Instances: 3}, "h2": {Instances: 1}, "h3": {Instances: 2}, "h4": {Instances: 1, Memory: 1}},
			want:     []string{"h2", "h3"},
			rejected: []string{"h4: not enough memory: asks 1Gi, 1023.9Mi free of 1Gi"},
		},
		{
			name:     "replicas no host can take are pending, each host saying why",
			u:        selected,
			hosts:    []HostInfo{{Name: "h1", Labels: map[string]string{"zone": "a"}, Memory: 4 * gi}, {Name: "h2", Labels: map[string]string{"zone": "b"}, Up: true}, {Name: "h3", Labels: map[string]string{"zone": "a"}, Up: true, Memory: gi}},
			load:     map[string]Usage{"h3": {Memory: gi / 2}},
			want:     []string{},
			pending:  1,
			rejected: []string{"h1: host is Down", "h2: labels do not match hostSelector zone=a", "h3: not enough memory: asks 1Gi, 512Mi free of 1Gi"},
		},
		{
			name:     "hosts outside placement.hosts are rejected as not listed",
			u:        func() *v1.Unit { u := asking(1, "", ""); u.Spec.Placement.Hosts = []string{"h2"}; return u }(),
			hosts:    up("h1", "h2"),
			want:     []string{"h2"},
			rejected: []string{"h1: not in placement.hosts"},
		},
		{
			name:    "more replicas than hosts: the rest are pending, no host rejected",
			u:       asking(3, "", "1Gi"),
			hosts:   []HostInfo{sized("h1", 1, 4*gi), sized("h2", 1, 4*gi)},
			want:    []string{"h1", "h2"},
			pending: 1,
		},
		{
			name:    "a bound host stays though it no longer has room: an instance is never moved",
			u:       asking(2, "", "2Gi"),
			hosts:   []HostInfo{sized("h1", 1, 2*gi), sized("h2", 1, 8*gi)},
			current: bindingOn("h1"),
			load:    map[string]Usage{"h1": {Memory: gi}},
			want:    []string{"h1", "h2"},
		},
		{
			name:     "a lost host's instance moves to a host with room",
			u:        asking(1, "", "2Gi"),
			hosts:    []HostInfo{{Name: "h1", Lost: true, Memory: 8 * gi}, sized("h2", 1, gi), sized("h3", 1, 4*gi)},
			current:  bindingOn("h1"),
			want:     []string{"h3"},
			rejected: []string{"h1: host is Down for longer than --reschedule-after", "h2: not enough memory: asks 2Gi, 1Gi free of 1Gi"},
		},
		{
			name:     "a lost host's instance with nowhere to go is pending",
			u:        asking(1, "", "2Gi"),
			hosts:    []HostInfo{{Name: "h1", Lost: true, Memory: 8 * gi}, sized("h2", 1, gi)},
			current:  bindingOn("h1"),
			want:     []string{},
			pending:  1,
			rejected: []string{"h1: host is Down for longer than --reschedule-after", "h2: not enough memory: asks 2Gi, 1Gi free of 1Gi"},
		},
		{
			name:  "a pinned unit has no decision",
			u:     listed,
			hosts: up("h1"),
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Schedule(tt.u, tt.hosts, tt.current, tt.load)
			if !slices.Equal(d.Hosts, tt.want) || (d.Hosts == nil) != (tt.want == nil) {
				t.Errorf("Hosts = %#v, want %#v", d.Hosts, tt.want)
			}
			if d.Pending != tt.pending {
				t.Errorf("Pending = %d, want %d", d.Pending, tt.pending)
			}
			var rejected []string
			for _, r := range d.Rejected {
				rejected = append(rejected, r.Host+": "+r.Message())
			}
			if !slices.Equal(rejected, tt.rejected) {
				t.Errorf("Rejected =\n  %q\nwant\n  %q", rejected, tt.rejected)
			}
		})
	}
}

func TestPendingReason(t *testing.T) {
	t.Parallel()
	mem := func(host string) Rejection {
		return Rejection{Host: host, Reason: ReasonNotEnoughMemory, Asks: 4 * gi, Free: gi, Capacity: 8 * gi}
	}
	many := func(n int) []Rejection {
		var out []Rejection
		for i := range n {
			out = append(out, mem(fmt.Sprintf("h%d", i)))
		}
		return append(out, Rejection{Host: "x1", Reason: ReasonHostDown}, Rejection{Host: "x2", Reason: ReasonHostDown})
	}
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"nothing pending", Decision{Hosts: []string{"h1"}}, ""},
		{"one replica, hosts named one by one",
			Decision{Hosts: []string{}, Pending: 1, Rejected: []Rejection{mem("h1"), {Host: "h2", Reason: ReasonHostDown}}},
			"pending: no host can take one: h1: not enough memory: asks 4Gi, 1Gi free of 8Gi; h2: host is Down"},
		{"some of several replicas",
			Decision{Hosts: []string{"h3"}, Pending: 2, Rejected: []Rejection{mem("h1")}},
			"2 of 3 replicas pending: no host can take one: h1: not enough memory: asks 4Gi, 1Gi free of 8Gi"},
		{"many hosts are counted by reason",
			Decision{Hosts: []string{}, Pending: 1, Rejected: many(98)},
			"pending: none of 100 hosts can take one: 98 hosts lack memory (h0: not enough memory: asks 4Gi, 1Gi free of 8Gi), 2 hosts Down (x1: host is Down)"},
		{"every candidate runs one",
			Decision{Hosts: []string{"h1", "h2"}, Pending: 1},
			"1 of 3 replicas pending: every host that could take one runs one already (one replica per host)"},
		{"no host at all", Decision{Hosts: []string{}, Pending: 1}, "pending: no host is known"},
	}
	for _, tt := range tests {
		if got := tt.d.PendingReason(); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 1023: "1023", 1024: "1Ki", 1536 << 20: "1.5Gi", 300 << 20: "300Mi", 5 << 40: "5Ti"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 250: "0.25", 1500: "1.5", 2000: "2"} {
		if got := FormatCPUs(n); got != want {
			t.Errorf("FormatCPUs(%d) = %q, want %q", n, got, want)
		}
	}
}

// Load keeps what each owner takes, replaces it on Place and Observe,
// and leaves one owner out in Without without changing what it shares.
func TestLoad(t *testing.T) {
	t.Parallel()
	l := NewLoad()
	web := Request{MilliCPUs: 500, Memory: gi, Ports: []HostPort{{80, v1.ProtocolTCP}}}
	l.Place(UnitOwner("web"), []string{"h1", "h2"}, web)
	l.Place(JobOwner("db"), []string{"h1"}, Request{Memory: 2 * gi})
	l.Observe(UnitOwner("web"), "h1", []HostPort{{80, v1.ProtocolTCP}, {31000, v1.ProtocolTCP}})

	all := l.Without("none")
	if u := all["h1"]; u.Instances != 2 || u.Memory != 3*gi || u.MilliCPUs != 500 || !u.taken(HostPort{80, v1.ProtocolTCP}) || !u.taken(HostPort{31000, v1.ProtocolTCP}) {
		t.Errorf("h1 = %+v", u)
	}
	without := l.Without(UnitOwner("web"))
	if u := without["h1"]; u.Instances != 1 || u.Memory != 2*gi || u.MilliCPUs != 0 || u.taken(HostPort{80, v1.ProtocolTCP}) || u.taken(HostPort{31000, v1.ProtocolTCP}) {
		t.Errorf("h1 without web = %+v", u)
	}
	if u := l.Without("none")["h1"]; !u.taken(HostPort{80, v1.ProtocolTCP}) {
		t.Errorf("Without changed the load it shares: h1 = %+v", u)
	}

	l.Place(UnitOwner("web"), []string{"h2"}, web) // moved off h1
	l.Observe(UnitOwner("web"), "h1", nil)
	if u := l.Without("none")["h1"]; u.Instances != 1 || u.Memory != 2*gi || len(u.Ports) != 0 || len(u.Observed) != 0 {
		t.Errorf("h1 after web left = %+v", u)
	}
	l.Place(JobOwner("db"), nil, Request{})
	if u := l.Without("none")["h1"]; u.Instances != 0 || u.Memory != 0 {
		t.Errorf("h1 after db left = %+v", u)
	}
	if got := l.Owners(); !slices.Equal(got, []string{UnitOwner("web")}) {
		t.Errorf("Owners = %v", got)
	}
}
