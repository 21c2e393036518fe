package units

import (
	"reflect"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

func TestContainerSpec(t *testing.T) {
	web := func(mod func(*v1.Unit)) *workload {
		u := testUnit(func(u *v1.Unit) {
			u.Spec.Container.Ports = []v1.Port{{Name: "http-alt", ContainerPort: 8080}, {ContainerPort: 53, Protocol: v1.ProtocolUDP}}
			if mod != nil {
				mod(u)
			}
		})
		return &workload{key: "web", kind: v1.KindUnit, name: "web", unit: u, placed: true}
	}
	facts := hostFacts{
		Host:   "h",
		Env:    []string{"A=1"},
		Mounts: []runtime.Mount{{Type: runtime.MountBind, Source: "/srv/web", Target: "/data"}},
		Ports: []runtime.PortBinding{{ContainerPort: 8080, Protocol: "tcp", HostPort: 20001},
			{ContainerPort: 53, Protocol: "udp", HostPort: 20002}},
	}
	// base is the spec of web(nil) with facts, but for the hash of the
	// template each case's is labelled with.
	base := func() runtime.ContainerSpec {
		return runtime.ContainerSpec{
			Name:        "berth-unit-web",
			Image:       "berth/testapp",
			Labels:      map[string]string{v1.LabelHost: "h", v1.LabelKind: v1.KindUnit, v1.LabelName: "web"},
			Mounts:      facts.Mounts,
			Ports:       facts.Ports,
			Env:         []string{"A=1", "BERTH_HOST=h", "BERTH_UNIT=web", "BERTH_PORT_HTTP_ALT=20001", "BERTH_PORT_53=20002"},
			Network:     v1.NetworkName,
			Aliases:     []string{"web"},
			StopSignal:  "SIGTERM",
			StopTimeout: v1.DefaultStopTimeout,
			Security:    runtime.Security{NoNewPrivileges: true},
		}
	}
	tests := []struct {
		name  string
		w     *workload
		facts hostFacts
		want  func(*runtime.ContainerSpec) // changes to base
	}{
		{name: "a unit on berth's network, its ports published and told",
			w: web(nil), facts: facts},
		{name: "a job's version: named and labelled with it, told its job and version",
			w: func() *workload {
				w := web(nil)
				w.key, w.kind, w.version = jobKey("web"), v1.KindJob, "2"
				return w
			}(),
			facts: facts,
			want: func(s *runtime.ContainerSpec) {
				s.Name = "berth-job-web-2"
				s.Labels[v1.LabelKind], s.Labels[v1.LabelVersion] = v1.KindJob, "2"
				s.Env = []string{"A=1", "BERTH_HOST=h", "BERTH_JOB=web", "BERTH_JOB_VERSION=2", "BERTH_PORT_HTTP_ALT=20001", "BERTH_PORT_53=20002"}
			}},
		{name: "the host's resolver, its API's address told after the template's env",
			w: web(nil),
			facts: func() hostFacts {
				f := facts
				f.Resolver = &Resolver{Nameserver: "172.18.0.1", Search: "service.berth", HTTPAddress: "172.18.0.1:8500"}
				return f
			}(),
			want: func(s *runtime.ContainerSpec) {
				s.DNS = runtime.DNS{Nameservers: []string{"172.18.0.1"}, Searches: []string{"service.berth"}}
				s.Env = []string{"A=1", "CONSUL_HTTP_ADDR=172.18.0.1:8500", "BERTH_HOST=h", "BERTH_UNIT=web", "BERTH_PORT_HTTP_ALT=20001", "BERTH_PORT_53=20002"}
			}},
		{name: "host network: no berth network, no ports, the host's resolver kept",
			w:     web(func(u *v1.Unit) { u.Spec.Container.NetworkMode = "host" }),
			facts: hostFacts{Host: "h", NetworkMode: "host", Resolver: &Resolver{Nameserver: "172.18.0.1", Search: "service.berth"}},
			want: func(s *runtime.ContainerSpec) {
				s.NetworkMode, s.Network, s.Aliases, s.Ports, s.Mounts = "host", "", nil, nil, nil
				s.Env = []string{"BERTH_HOST=h", "BERTH_UNIT=web"}
			}},
		{name: "another container's network, named by its ID as admit resolved it",
			w:     web(func(u *v1.Unit) { u.Spec.Container.NetworkMode = "container:db" }),
			facts: hostFacts{Host: "h", NetworkMode: "container:0123456789ab"},
			want: func(s *runtime.ContainerSpec) {
				s.NetworkMode, s.Network, s.Aliases, s.Ports, s.Mounts = "container:0123456789ab", "", nil, nil, nil
				s.Env = []string{"BERTH_HOST=h", "BERTH_UNIT=web"}
			}},
		{name: "the template's process, limits, stop and security; berth's labels win over its own",
			w: web(func(u *v1.Unit) {
				c := &u.Spec.Container
				c.Command, c.Args, c.WorkingDir, c.User, c.Hostname = []string{"/bin/web"}, []string{"--port", "8080"}, "/srv", "1000:1000", "web-1"
				c.Resources = v1.Resources{CPUs: "0.5", Memory: "64Mi"}
				c.StopSignal, c.StopTimeout = "SIGINT", &v1.Duration{Duration: 20 * time.Second}
				c.Labels = map[string]string{"team": "a", v1.LabelHost: "forged"}
				c.SecurityContext = &v1.SecurityContext{ReadOnlyRootFilesystem: true, Capabilities: &v1.Capabilities{Drop: []string{"all"}}}
				u.Spec.GracePeriod = &v1.Duration{Duration: 5 * time.Second}
			}),
			facts: facts,
			want: func(s *runtime.ContainerSpec) {
				s.Entrypoint, s.Cmd, s.WorkingDir, s.User, s.Hostname = []string{"/bin/web"}, []string{"--port", "8080"}, "/srv", "1000:1000", "web-1"
				s.CPUs, s.MemoryBytes = 0.5, 64<<20
				s.StopSignal, s.StopTimeout = "SIGINT", 20*time.Second
				s.Labels["team"], s.Labels[LabelGracePeriod] = "a", "5s"
				s.Security = runtime.Security{NoNewPrivileges: true, ReadOnlyRootfs: true, CapDrop: []string{"ALL"}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base()
			if tt.want != nil {
				tt.want(&want)
			}
			want.Labels[v1.LabelSpecHash] = v1.TemplateHash(&tt.w.unit.Spec.Container)
			got := containerSpec(tt.w, tt.facts)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("containerSpec:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestPublishes(t *testing.T) {
	for mode, want := range map[string]bool{"": true, "bridge": true, "berth": true, "host": false, "none": false, "container:db": false} {
		if got := publishes(&v1.ContainerTemplate{NetworkMode: mode}); got != want {
			t.Errorf("networkMode %q publishes = %v, want %v", mode, got, want)
		}
	}
}
