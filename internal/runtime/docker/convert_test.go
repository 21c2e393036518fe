package docker

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"berth.dev/berth/internal/runtime"
)

func TestPorts(t *testing.T) {
	any4, any6 := netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::")
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name string
		in   network.PortMap
		want []runtime.PortBinding
	}{
		{"nothing", nil, nil},
		{"exposed, not published", network.PortMap{network.MustParsePort("80/tcp"): nil}, nil},
		{
			"IPv4 and IPv6 twins become one",
			network.PortMap{network.MustParsePort("80/tcp"): {{HostIP: any6, HostPort: "32768"}, {HostIP: any4, HostPort: "32768"}}},
			[]runtime.PortBinding{{ContainerPort: 80, HostPort: 32768, Protocol: "tcp"}},
		},
		{
			"udp and tcp on one number, sorted, host IP kept",
			network.PortMap{
				network.MustParsePort("53/udp"): {{HostIP: lo, HostPort: "5353"}},
				network.MustParsePort("53/tcp"): {{HostIP: lo, HostPort: "5354"}},
				network.MustParsePort("8/tcp"):  {{HostPort: "8000"}},
			},
			[]runtime.PortBinding{
				{ContainerPort: 8, HostPort: 8000, Protocol: "tcp"},
				{ContainerPort: 53, HostPort: 5354, HostIP: "127.0.0.1", Protocol: "tcp"},
				{ContainerPort: 53, HostPort: 5353, HostIP: "127.0.0.1", Protocol: "udp"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ports(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ports() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFromMessage(t *testing.T) {
	at := time.Unix(1700000000, 5)
	tests := []struct {
		name string
		in   events.Message
		want runtime.Event
	}{
		{
			"die with exit code and labels",
			events.Message{Type: "container", Action: "die", TimeNano: at.UnixNano(), Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "web", "image": "x", "exitCode": "3", "app": "web"}}},
			runtime.Event{ID: "abc", Name: "web", Action: runtime.ActionDie, ExitCode: 3, Labels: map[string]string{"app": "web"}, Time: at},
		},
		{
			"health status",
			events.Message{Type: "container", Action: "health_status: unhealthy", Time: 1700000000, Actor: events.Actor{ID: "abc"}},
			runtime.Event{ID: "abc", Action: runtime.ActionHealthStatus, Health: runtime.HealthUnhealthy, Labels: map[string]string{}, Time: time.Unix(1700000000, 0)},
		},
		{
			"exec suffix dropped",
			events.Message{Type: "container", Action: "exec_start: /testapp echo", Actor: events.Actor{ID: "abc", Attributes: map[string]string{"execID": "e"}}},
			runtime.Event{ID: "abc", Action: runtime.ActionExecStart, Labels: map[string]string{}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromMessage(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fromMessage() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCreateOptions(t *testing.T) {
	opts, err := createOptions(runtime.ContainerSpec{
		Name: "web", Image: "img", CPUs: 1.5, MemoryBytes: 1 << 20, StopTimeout: 1500 * time.Millisecond,
		Network: "net", Aliases: []string{"a"},
		Ports:  []runtime.PortBinding{{ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}},
		Mounts: []runtime.Mount{{Source: "/srv", Target: "/data"}, {Source: "vol", Target: "/v", ReadOnly: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := opts.HostConfig
	if h.NanoCPUs != 1_500_000_000 || h.Memory != 1<<20 || h.RestartPolicy.Name != "no" || h.NetworkMode != "net" {
		t.Errorf("host config = %+v", h)
	}
	if *opts.Config.StopTimeout != 2 {
		t.Errorf("stop timeout = %d, want 2 (rounded up)", *opts.Config.StopTimeout)
	}
	if h.Mounts[0].Type != "bind" || h.Mounts[1].Type != "volume" || !h.Mounts[1].ReadOnly {
		t.Errorf("mounts = %+v", h.Mounts)
	}
	if b := h.PortBindings[network.MustParsePort("53/udp")]; len(b) != 1 || b[0].HostPort != "" || b[0].HostIP.String() != "127.0.0.1" {
		t.Errorf("port bindings = %+v", h.PortBindings)
	}
	if ep := opts.NetworkingConfig.EndpointsConfig["net"]; ep == nil || ep.Aliases[0] != "a" {
		t.Errorf("networking = %+v", opts.NetworkingConfig)
	}
	for _, bad := range []runtime.ContainerSpec{
		{Image: "i", Ports: []runtime.PortBinding{{ContainerPort: 1, Protocol: "sctp"}}},
		{Image: "i", Ports: []runtime.PortBinding{{ContainerPort: 70000}}},
		{Image: "i", Network: "a", NetworkMode: "host"},
		{Image: "i", Mounts: []runtime.Mount{{Type: "tmpfs", Target: "/t"}}},
	} {
		if _, err := createOptions(bad); err == nil {
			t.Errorf("createOptions(%+v) accepted", bad)
		}
	}
}

func TestSecurityToAndFromHostConfig(t *testing.T) {
	want := runtime.Security{Privileged: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, NoNewPrivileges: true, ReadOnlyRootfs: true}
	opts, err := createOptions(runtime.ContainerSpec{Image: "i", Security: want})
	if err != nil {
		t.Fatal(err)
	}
	h := opts.HostConfig
	if !h.Privileged || !h.ReadonlyRootfs || !reflect.DeepEqual(h.SecurityOpt, []string{"no-new-privileges"}) ||
		!reflect.DeepEqual(h.CapAdd, []string{"NET_ADMIN"}) || !reflect.DeepEqual(h.CapDrop, []string{"ALL"}) {
		t.Errorf("host config = %+v", h)
	}
	if got := security(h); !reflect.DeepEqual(got, want) {
		t.Errorf("read back %+v, want %+v", got, want)
	}
	plain, _ := createOptions(runtime.ContainerSpec{Image: "i"})
	if h := plain.HostConfig; h.Privileged || h.ReadonlyRootfs || h.SecurityOpt != nil || h.CapAdd != nil || h.CapDrop != nil {
		t.Errorf("a spec without Security made %+v", h)
	}
	tests := []struct {
		name string
		in   container.HostConfig
		want runtime.Security
	}{
		{"engine spelling of capabilities", container.HostConfig{CapAdd: []string{"CAP_NET_ADMIN"}, CapDrop: []string{"cap_mknod"}},
			runtime.Security{CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"MKNOD"}}},
		{"no-new-privileges:true", container.HostConfig{SecurityOpt: []string{"label=disable", "no-new-privileges:true"}}, runtime.Security{NoNewPrivileges: true}},
		{"no-new-privileges=true", container.HostConfig{SecurityOpt: []string{"no-new-privileges=true"}}, runtime.Security{NoNewPrivileges: true}},
		{"no-new-privileges:false", container.HostConfig{SecurityOpt: []string{"no-new-privileges:false"}}, runtime.Security{}},
	}
	for _, tc := range tests {
		if got := security(&tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: security() = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
