package registrator

import (
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
)

func container(name, image string, env []string, labels map[string]string, ports ...runtime.PortBinding) runtime.Container {
	return runtime.Container{ID: name + "-id", Name: name, Image: image, Env: env, Labels: labels, State: runtime.StateRunning, Ports: ports}
}

func tcp(cport, hport int) runtime.PortBinding {
	return runtime.PortBinding{ContainerPort: cport, HostPort: hport, Protocol: runtime.TCP}
}

func udp(cport, hport int) runtime.PortBinding {
	return runtime.PortBinding{ContainerPort: cport, HostPort: hport, Protocol: runtime.UDP}
}

// brief is what the tests compare of an endpoint.
type brief struct {
	Service, ID string
	Port        int
	Tags        []string
	Meta        map[string]string
	Checks      []string
}

func briefs(eps []catalog.Endpoint) []brief {
	var out []brief
	for _, e := range eps {
		b := brief{Service: e.Service, ID: e.ID, Port: e.Port, Tags: e.Tags, Meta: e.Meta}
		for _, c := range e.Checks {
			desc := c.Type + " " + c.HTTP + c.TCP + strings.Join(c.Exec, " ")
			if c.TTL > 0 {
				desc += c.TTL.String()
			}
			desc += " every " + c.Interval.String() + " " + string(c.Status)
			b.Checks = append(b.Checks, strings.TrimSpace(desc))
		}
		out = append(out, b)
	}
	return out
}

// TestRegistratorConventions follows Registrator's documented behaviour,
// variable by variable.
func TestRegistratorConventions(t *testing.T) {
	tests := []struct {
		name string
		c    runtime.Container
		want []brief
	}{
		{"image base name", container("web1", "registry:5000/team/web:1.2", nil, nil, tcp(80, 8080)),
			[]brief{{Service: "web", ID: "h1:web1:80", Port: 8080}}},
		{"several ports get -port", container("r", "redis", nil, nil, tcp(6379, 16379), tcp(6380, 16380)),
			[]brief{{Service: "redis-6379", ID: "h1:r:6379", Port: 16379}, {Service: "redis-6380", ID: "h1:r:6380", Port: 16380}}},
		{"SERVICE_NAME", container("f", "x", []string{"SERVICE_NAME=files"}, nil, tcp(80, 8000)),
			[]brief{{Service: "files", ID: "h1:f:80", Port: 8000}}},
		{"SERVICE_NAME with several ports keeps the suffix", container("f", "x", []string{"SERVICE_NAME=files"}, nil, tcp(80, 8000), tcp(443, 8443)),
			[]brief{{Service: "files-443", ID: "h1:f:443", Port: 8443}, {Service: "files-80", ID: "h1:f:80", Port: 8000}}},
		{"per-port name wins and drops the suffix", container("f", "x", []string{"SERVICE_NAME=files", "SERVICE_443_NAME=files-tls"}, nil, tcp(80, 8000), tcp(443, 8443)),
			[]brief{{Service: "files-80", ID: "h1:f:80", Port: 8000}, {Service: "files-tls", ID: "h1:f:443", Port: 8443}}},
		{"labels win over env", container("f", "x", []string{"SERVICE_NAME=env"}, map[string]string{"SERVICE_NAME": "label"}, tcp(80, 8000)),
			[]brief{{Service: "label", ID: "h1:f:80", Port: 8000}}},
		{"tags with an escaped comma", container("f", "x", []string{`SERVICE_TAGS=a,b\,c, d`}, nil, tcp(80, 8000)),
			[]brief{{Service: "x", ID: "h1:f:80", Port: 8000, Tags: []string{"a", "b,c", "d"}}}},
		{"SERVICE_ID", container("f", "x", []string{"SERVICE_ID=files-1"}, nil, tcp(80, 8000)),
			[]brief{{Service: "x", ID: "files-1", Port: 8000}}},
		{"udp id", container("dns", "coredns", nil, nil, udp(53, 1053)),
			[]brief{{Service: "coredns", ID: "h1:dns:53:udp", Port: 1053}}},
		{"SERVICE_IGNORE", container("f", "x", []string{"SERVICE_IGNORE=true"}, nil, tcp(80, 8000)), nil},
		{"SERVICE_<port>_IGNORE", container("f", "x", []string{"SERVICE_443_IGNORE=1"}, nil, tcp(80, 8000), tcp(443, 8443)),
			[]brief{{Service: "x-80", ID: "h1:f:80", Port: 8000}}},
		{"unpublished ports are not registered", container("f", "x", nil, nil, runtime.PortBinding{ContainerPort: 80}), nil},
		{"IPv4 and IPv6 bindings are one", container("f", "x", nil, nil, tcp(80, 8000), runtime.PortBinding{ContainerPort: 80, HostPort: 8000, HostIP: "::"}),
			[]brief{{Service: "x", ID: "h1:f:80", Port: 8000}}},
		{"other keys are meta, per port wins", container("f", "x", []string{"SERVICE_REGION=eu", "SERVICE_80_REGION=us", "SERVICE_OWNER=ops"}, nil, tcp(80, 8000)),
			[]brief{{Service: "x", ID: "h1:f:80", Port: 8000, Meta: map[string]string{"region": "us", "owner": "ops"}}}},
		{"checks", container("f", "x", []string{"SERVICE_CHECK_HTTP=/health", "SERVICE_CHECK_INTERVAL=5s", "SERVICE_CHECK_TCP=true",
			"SERVICE_CHECK_TTL=30s", "SERVICE_CHECK_SCRIPT=check $SERVICE_IP $SERVICE_PORT", "SERVICE_CHECK_INITIAL_STATUS=passing"}, nil, tcp(80, 8000)),
			[]brief{{Service: "x", ID: "h1:f:80", Port: 8000, Checks: []string{
				"http http://10.0.0.1:8000/health every 5s passing",
				"tcp 10.0.0.1:8000 every 5s passing",
				"exec check 10.0.0.1 8000 every 5s passing",
				"ttl 30s every 0s passing"}}}},
		{"another host's berth container on a shared engine is that host's to register",
			container("berth-unit-web", "web", nil, map[string]string{v1.LabelHost: "h2", v1.LabelKind: v1.KindUnit, v1.LabelName: "web"}, tcp(80, 8000)), nil},
		{"a container of no berth host is registered",
			container("f", "web", nil, map[string]string{"other": "label"}, tcp(80, 8000)),
			[]brief{{Service: "web", ID: "h1:f:80", Port: 8000}}},
		{"checks start critical by default", container("f", "x", []string{"SERVICE_CHECK_TCP=true"}, nil, tcp(80, 8000)),
			[]brief{{Service: "x", ID: "h1:f:80", Port: 8000, Checks: []string{"tcp 10.0.0.1:8000 every 10s critical"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := briefs(desired(input{Host: "h1", Address: "10.0.0.1", Containers: []runtime.Container{tt.c}}))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServiceSelection(t *testing.T) {
	unit := &v1.Unit{Metadata: v1.ObjectMeta{Name: "todo", Labels: map[string]string{"app": "todo"}},
		Spec: v1.UnitSpec{Container: v1.ContainerTemplate{Ports: []v1.Port{{Name: "http", ContainerPort: 8000}, {Name: "metrics", ContainerPort: 9000}}}}}
	svc := &v1.Service{Metadata: v1.ObjectMeta{Name: "todo-web"}, Spec: v1.ServiceSpec{
		Selector: map[string]string{"app": "todo"}, Port: v1.FromString("http"), Tags: []string{"web"},
		Checks:    []v1.Check{{HTTP: "/healthz", Interval: &v1.Duration{Duration: 2 * time.Second}, InitialStatus: v1.CheckCritical}},
		Endpoints: []v1.StaticEndpoint{{Address: "10.9.9.9", Port: 80, Host: "h1"}, {Address: "10.9.9.8", Port: 80}}}}
	c := container("berth-unit-todo", "berth/todo", nil,
		map[string]string{v1.LabelHost: "h1", v1.LabelKind: v1.KindUnit, v1.LabelName: "todo"}, tcp(8000, 8000), tcp(9000, 29000))
	other := container("plain", "nginx", nil, nil, tcp(80, 8080))
	in := input{Host: "h1", Address: "10.0.0.1", Containers: []runtime.Container{c, other}, Units: map[string]*v1.Unit{"todo": unit}, Services: []*v1.Service{svc}}
	got := briefs(desired(in))
	want := []brief{
		{Service: "nginx", ID: "h1:plain:80", Port: 8080},
		{Service: "todo-web", ID: "h1:berth-unit-todo:8000", Port: 8000, Tags: []string{"web"}, Meta: map[string]string{"unit": "todo"},
			Checks: []string{"http http://10.0.0.1:8000/healthz every 2s critical"}},
		{Service: "todo-web", ID: "todo-web:static:0", Port: 80, Tags: []string{"web"}, Checks: []string{"http http://10.9.9.9:80/healthz every 2s critical"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	in.Leader = true
	if n := len(desired(in)); n != 4 {
		t.Errorf("the leader registers the static endpoint that names no host: %d endpoints", n)
	}
}

func TestJobRegistrationAndSelection(t *testing.T) {
	job := &v1.Job{Metadata: v1.ObjectMeta{Name: "nc", Labels: map[string]string{"app": "nc"}}, Spec: v1.JobSpec{Version: "2",
		Container: v1.ContainerTemplate{Ports: []v1.Port{{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP}, {Name: "admin", ContainerPort: 9090, Protocol: v1.ProtocolTCP}},
			HealthCheck: &v1.HealthCheck{HTTP: &v1.HTTPCheck{Path: "/healthz", Port: v1.FromString("http"), Scheme: "http"},
				Interval: &v1.Duration{Duration: time.Second}, Timeout: &v1.Duration{Duration: time.Second}}},
		Registration: []v1.Registration{{Port: "http", Service: "netcat", Tags: []string{"v2"}}}}}
	c := container("berth-job-nc-2", "berth/testapp", nil,
		map[string]string{v1.LabelHost: "h1", v1.LabelKind: v1.KindJob, v1.LabelName: "nc", v1.LabelVersion: "2"}, tcp(8080, 21000), tcp(9090, 21001))
	got := briefs(desired(input{Host: "h1", Address: "10.0.0.1", Containers: []runtime.Container{c}, Jobs: map[string]*v1.Job{"nc": job}}))
	want := []brief{{Service: "netcat", ID: "h1:berth-job-nc-2:8080", Port: 21000, Tags: []string{"v2"},
		Meta: map[string]string{"job": "nc", "version": "2"}, Checks: []string{"http http://10.0.0.1:21000/healthz every 1s critical"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("registration:\ngot  %+v\nwant %+v", got, want)
	}
	// A Service whose selector matches the Job's labels registers it too.
	job.Spec.Registration = nil
	svc := &v1.Service{Metadata: v1.ObjectMeta{Name: "nc-admin"}, Spec: v1.ServiceSpec{Selector: map[string]string{"app": "nc"}, Port: v1.FromString("admin")}}
	got = briefs(desired(input{Host: "h1", Address: "10.0.0.1", Containers: []runtime.Container{c}, Jobs: map[string]*v1.Job{"nc": job}, Services: []*v1.Service{svc}}))
	want = []brief{{Service: "nc-admin", ID: "h1:berth-job-nc-2:9090", Port: 21001, Meta: map[string]string{"job": "nc"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("selection:\ngot  %+v\nwant %+v", got, want)
	}
}
