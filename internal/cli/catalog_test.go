package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/cli"
	"berth.dev/berth/internal/store"
)

// putEndpoint registers e in the catalog as a host would (without a lease).
func (e *env) putEndpoint(ep catalog.Endpoint) {
	e.t.Helper()
	e.putJSON(store.CatalogKey(ep.Host, ep.Service, ep.ID), ep)
}

// applyServices stores Service objects as applyctl apply does.
func (e *env) applyServices(svcs ...*v1.Service) {
	e.t.Helper()
	objs := make([]v1.Object, len(svcs))
	for i, s := range svcs {
		s.TypeMeta = v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindService}
		v1.Default(s)
		if errs := v1.Validate(s); len(errs) > 0 {
			e.t.Fatalf("service %s: %v", s.Metadata.Name, errs)
		}
		objs[i] = s
	}
	if _, err := store.Apply(context.Background(), e.st, objs, store.ApplyOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// diskOutput is a multi-line check output longer than get shows.
const diskOutput = "df: /data: 97% used\nthreshold is 90%, add space or remove old backups under /data/backups\n"

// catalogEnv is an etcd holding two Service objects, web (three endpoints:
// passing, critical, warning) and idle (none), and the endpoints of two
// services that only registration knows, files and dns.
func catalogEnv(t *testing.T) *env {
	e := newEnv(t)
	e.applyServices(
		&v1.Service{Metadata: v1.ObjectMeta{Name: "web"}, Spec: v1.ServiceSpec{
			Selector: map[string]string{"app": "server"}, Port: v1.IntOrString{IsStr: true, StrVal: "http"}, Tags: []string{"v1"}}},
		&v1.Service{Metadata: v1.ObjectMeta{Name: "idle"}, Spec: v1.ServiceSpec{
			Selector: map[string]string{"app": "idle"}, Port: v1.IntOrString{IntVal: 8080}}},
	)
	for _, ep := range []catalog.Endpoint{
		{ID: "host-a:berth-unit-server:32768", Service: "web", Host: "host-a", Address: "10.0.0.1", Port: 32768,
			Tags: []string{"v1", "primary"}, Source: catalog.SourceContainer, Container: "0123456789abcdef0123",
			Checks: []catalog.Check{{ID: "web-http", Name: "http", Type: catalog.CheckHTTP, Status: v1.CheckPassing,
				Output: "HTTP GET http://10.0.0.1:32768/healthz: 200 OK"}}},
		{ID: "host-b:berth-unit-server:32769", Service: "web", Host: "host-b", Address: "10.0.0.2", Port: 32769,
			Tags: []string{"v1"}, Source: catalog.SourceContainer, Container: "fedcba9876543210fedc",
			Checks: []catalog.Check{
				{ID: "web-http-b", Name: "http", Type: catalog.CheckHTTP, Status: v1.CheckPassing, Output: "HTTP GET http://10.0.0.2:32769/healthz: 200 OK"},
				{ID: "web-disk-b", Name: "disk", Type: catalog.CheckExec, Status: v1.CheckCritical, Output: diskOutput},
			}},
		{ID: "static-1", Service: "web", Host: "host-a", Address: "192.0.2.10", Port: 80, Source: catalog.SourceStatic,
			Checks: []catalog.Check{{ID: "web-ping", Name: "ping", Type: catalog.CheckTCP, Status: v1.CheckWarning, Output: "TCP connect 192.0.2.10:80: slow (1.2s)"}}},
		{ID: "host-a:files:8000", Service: "files", Host: "host-a", Address: "10.0.0.1", Port: 8000, Tags: []string{"http"}, Source: catalog.SourceContainer},
		{ID: "host-b:coredns:53:udp", Service: "dns", Host: "host-b", Address: "10.0.0.2", Port: 53, Protocol: v1.ProtocolUDP, Source: catalog.SourceAgent,
			Checks: []catalog.Check{{ID: "dns-ttl", Name: "ttl", Type: catalog.CheckTTL, Status: v1.CheckPassing}}},
	} {
		e.putEndpoint(ep)
	}
	return e
}

func TestGetServices(t *testing.T) {
	t.Parallel()
	e := catalogEnv(t)
	wantEqual(t, "get services", e.ok("get", "services"), ""+
		"NAME   ENDPOINTS  PASSING  WARNING  CRITICAL  TAGS\n"+
		"dns    1          1        0        0         -\n"+
		"files  1          1        0        0         http\n"+
		"idle   0          0        0        0         -\n"+
		"web    3          1        1        1         primary,v1\n")
	wantEqual(t, "get svc -o wide", e.ok("get", "svc", "-o", "wide"), ""+
		"NAME   ENDPOINTS  PASSING  WARNING  CRITICAL  TAGS        SELECTOR    PORT\n"+
		"dns    1          1        0        0         -           -           -\n"+
		"files  1          1        0        0         http        -           -\n"+
		"idle   0          0        0        0         -           app=idle    8080\n"+
		"web    3          1        1        1         primary,v1  app=server  http\n")
	wantEqual(t, "get svc web", e.ok("get", "svc", "web"), ""+
		"NAME  ENDPOINTS  PASSING  WARNING  CRITICAL  TAGS\n"+
		"web   3          1        1        1         primary,v1\n")
	wantEqual(t, "get service/files", e.ok("get", "service/files"), ""+
		"NAME   ENDPOINTS  PASSING  WARNING  CRITICAL  TAGS\n"+
		"files  1          1        0        0         http\n")

	for _, args := range [][]string{{"get", "svc", "nope"}, {"get", "svc", "nope", "-w"}, {"get", "svc", "nope", "-o", "json"}} {
		if r := e.run("", args...); r.code != 1 || r.out != "" || r.err != "Error: service \"nope\" not found\n" {
			t.Errorf("applyctl %v: %+v", args, r)
		}
	}

	// -o json: Service objects with their status; registered services with
	// kind, name and status only.
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(e.ok("get", "services", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) != 4 {
		t.Fatalf("get services -o json: %s with %d items", list.Kind, len(list.Items))
	}
	var web v1.Service
	if err := json.Unmarshal(list.Items[3], &web); err != nil {
		t.Fatal(err)
	}
	if web.Metadata.Name != "web" || web.Metadata.UID == "" || web.Spec.Port.StrVal != "http" ||
		web.Status == nil || *web.Status != (v1.ServiceStatus{Endpoints: 3, Passing: 1, Warning: 1, Critical: 1}) {
		t.Errorf("web in the list: %s", list.Items[3])
	}
	var idle v1.Service
	if err := json.Unmarshal(list.Items[2], &idle); err != nil {
		t.Fatal(err)
	}
	if idle.Metadata.Name != "idle" || idle.Status == nil || *idle.Status != (v1.ServiceStatus{}) {
		t.Errorf("idle in the list, want a status of zeros: %s", list.Items[2])
	}
	wantEqual(t, "get svc files -o json", e.ok("get", "svc", "files", "-o", "json"), `{
    "apiVersion": "berth.dev/v1",
    "kind": "Service",
    "metadata": {
        "name": "files"
    },
    "status": {
        "endpoints": 1,
        "passing": 1,
        "warning": 0,
        "critical": 0
    }
}
`)
	wantEqual(t, "get svc dns -o yaml", e.ok("get", "svc", "dns", "-o", "yaml"),
		"apiVersion: berth.dev/v1\nkind: Service\nmetadata:\n  name: dns\nstatus:\n  critical: 0\n  endpoints: 1\n  passing: 1\n  warning: 0\n")
}

func TestGetEndpoints(t *testing.T) {
	t.Parallel()
	e := catalogEnv(t)
	wantEqual(t, "get endpoints", e.ok("get", "endpoints"), ""+
		"ID                              SERVICE  HOST    ADDRESS     PORT    STATUS    CHECK OUTPUT\n"+
		"host-b:coredns:53:udp           dns      host-b  10.0.0.2    53/udp  passing   -\n"+
		"host-a:files:8000               files    host-a  10.0.0.1    8000    passing   -\n"+
		"host-a:berth-unit-server:32768  web      host-a  10.0.0.1    32768   passing   HTTP GET http://10.0.0.1:32768/healthz: 200 OK\n"+
		"host-b:berth-unit-server:32769  web      host-b  10.0.0.2    32769   critical  df: /data: 97% used threshold is 90%, add space or remove...\n"+
		"static-1                        web      host-a  192.0.2.10  80      warning   TCP connect 192.0.2.10:80: slow (1.2s)\n")
	wantEqual(t, "get ep files -o wide", e.ok("get", "ep", "files", "-o", "wide"), ""+
		"ID                 SERVICE  HOST    ADDRESS   PORT  STATUS   CHECK OUTPUT  TAGS  SOURCE     CONTAINER\n"+
		"host-a:files:8000  files    host-a  10.0.0.1  8000  passing  -             http  container  -\n")
	wantEqual(t, "get endpoint web -o wide", e.ok("get", "endpoint", "web", "-o", "wide"), ""+
		"ID                              SERVICE  HOST    ADDRESS     PORT   STATUS    CHECK OUTPUT                                                  TAGS        SOURCE     CONTAINER\n"+
		"host-a:berth-unit-server:32768  web      host-a  10.0.0.1    32768  passing   HTTP GET http://10.0.0.1:32768/healthz: 200 OK                v1,primary  container  0123456789ab\n"+
		"host-b:berth-unit-server:32769  web      host-b  10.0.0.2    32769  critical  df: /data: 97% used threshold is 90%, add space or remove...  v1          container  fedcba987654\n"+
		"static-1                        web      host-a  192.0.2.10  80     warning   TCP connect 192.0.2.10:80: slow (1.2s)                        -           static     -\n")

	// A Service without endpoints has none to list; a name nothing knows
	// is an error.
	if r := e.run("", "get", "ep", "idle"); r.code != 0 || r.out != "" || r.err != "No resources found.\n" {
		t.Errorf("get endpoints of a Service without any: %+v", r)
	}
	if r := e.run("", "get", "ep", "nope"); r.code != 1 || r.err != "Error: service \"nope\" not found\n" {
		t.Errorf("get endpoints of an unknown service: %+v", r)
	}

	var list struct {
		APIVersion string             `json:"apiVersion"`
		Kind       string             `json:"kind"`
		Items      []catalog.Endpoint `json:"items"`
	}
	if err := json.Unmarshal([]byte(e.ok("get", "ep", "web", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if list.APIVersion != v1.APIVersion || list.Kind != "List" || len(list.Items) != 3 {
		t.Fatalf("get ep web -o json: %s %s with %d items", list.APIVersion, list.Kind, len(list.Items))
	}
	b := list.Items[1]
	if b.ID != "host-b:berth-unit-server:32769" || b.Status() != v1.CheckCritical || len(b.Checks) != 2 || b.Checks[1].Output != diskOutput {
		t.Errorf("second endpoint of web: %+v", b)
	}
	if out := e.ok("get", "ep", "-o", "yaml"); !strings.HasPrefix(out, "apiVersion: berth.dev/v1\nitems:\n- address: 10.0.0.2\n") {
		t.Errorf("get ep -o yaml:\n%s", out)
	}
	for _, args := range [][]string{{"describe", "endpoint", "x"}, {"delete", "ep", "x"}, {"wait", "ep/x", "--for=delete"}} {
		if r := e.run("", args...); r.code != 2 {
			t.Errorf("applyctl %v: exit %d, want 2: %s", args, r.code, r.err)
		}
	}
}

func TestDescribeService(t *testing.T) {
	t.Parallel()
	e := catalogEnv(t)
	e.putEvent("0", v1.Event{Object: v1.ObjectReference{Kind: "Service", Name: "web"}, Type: v1.EventWarning, Reason: "Critical",
		Message: "check disk on host-b:berth-unit-server:32769 is critical", Host: "host-b", Count: 1,
		FirstTimestamp: time.Now(), LastTimestamp: time.Now()})
	out := e.ok("describe", "service", "web")
	for _, want := range []string{
		"Name:             web\n", "Kind:             Service\n", "UID:              ",
		"Spec:\n  port: http\n  selector:\n    app: server\n  tags:\n  - v1\n",
		"Tags:             primary,v1\n",
		"Status:           3 endpoints: 1 passing, 1 warning, 1 critical\n",
		"Endpoints:\n" +
			"  ID                              HOST    ADDRESS     PORT   STATUS    TAGS\n" +
			"  host-a:berth-unit-server:32768  host-a  10.0.0.1    32768  passing   v1,primary\n" +
			"  host-b:berth-unit-server:32769  host-b  10.0.0.2    32769  critical  v1\n" +
			"  static-1                        host-a  192.0.2.10  80     warning   -\n" +
			"Checks:\n" +
			"  Check http (http) on host-a:berth-unit-server:32768: passing\n" +
			"    HTTP GET http://10.0.0.1:32768/healthz: 200 OK\n" +
			"  Check http (http) on host-b:berth-unit-server:32769: passing\n" +
			"    HTTP GET http://10.0.0.2:32769/healthz: 200 OK\n" +
			"  Check disk (exec) on host-b:berth-unit-server:32769: critical\n" +
			"    df: /data: 97% used\n" +
			"    threshold is 90%, add space or remove old backups under /data/backups\n" +
			"  Check ping (tcp) on static-1: warning\n" +
			"    TCP connect 192.0.2.10:80: slow (1.2s)\n" +
			"Events:\n",
		"  Warning  Critical  0s    host-b  check disk on host-b:berth-unit-server:32769 is critical\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe service web lacks %q:\n%s", want, out)
		}
	}

	wantEqual(t, "describe a registered service", e.ok("describe", "svc/dns"), ""+
		"Name:             dns\n"+
		"Kind:             Service\n"+
		"Source:           registration (no Service object)\n"+
		"Tags:             -\n"+
		"Status:           1 endpoints: 1 passing, 0 warning, 0 critical\n"+
		"Endpoints:\n"+
		"  ID                     HOST    ADDRESS   PORT    STATUS   TAGS\n"+
		"  host-b:coredns:53:udp  host-b  10.0.0.2  53/udp  passing  -\n"+
		"Checks:\n"+
		"  Check ttl (ttl) on host-b:coredns:53:udp: passing\n"+
		"Events:           <none>\n")

	out = e.ok("describe", "service", "idle")
	for _, want := range []string{"Name:             idle\n", "Spec:\n", "Status:           0 endpoints: 0 passing, 0 warning, 0 critical\n",
		"Endpoints:        <none>\nChecks:           <none>\nEvents:           <none>\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe service idle lacks %q:\n%s", want, out)
		}
	}
	if r := e.run("", "describe", "service", "nope"); r.code != 1 || r.out != "" || r.err != "Error: service \"nope\" not found\n" {
		t.Errorf("describe of an unknown service: %+v", r)
	}
}

// startGet runs applyctl get -w in the background until the test ends.
func startGet(t *testing.T, e *env, args ...string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := newSyncBuffer(), newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, append(args, "--etcd-endpoints", e.eps), cli.Streams{Out: out, Err: errb}, nil)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("applyctl %v exited %d after cancel: %s", args, code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("applyctl %v did not return after its context ended", args)
		}
	})
	return out
}

func TestGetCatalogWatch(t *testing.T) {
	t.Parallel()
	e := catalogEnv(t)

	t.Run("endpoints", func(t *testing.T) {
		out := startGet(t, e, "get", "endpoints", "files", "-w")
		out.waitFor(t, "host-a:files:8000  files    host-a  10.0.0.1  8000  passing  -\n")
		late := catalog.Endpoint{ID: "host-b:files:8000", Service: "files", Host: "host-b", Address: "10.0.0.2", Port: 8000, Source: catalog.SourceContainer,
			Checks: []catalog.Check{{Name: "http", Type: catalog.CheckHTTP, Status: v1.CheckCritical, Output: "connection refused"}}}
		e.putEndpoint(late)
		out.waitFor(t, "host-b:files:8000  files    host-b  10.0.0.2  8000  critical  connection refused\n")
		late.Checks[0].Status, late.Checks[0].Output = v1.CheckPassing, "200 OK"
		e.putEndpoint(late)
		out.waitFor(t, "host-b:files:8000  files    host-b  10.0.0.2  8000  passing   200 OK\n")
		e.putEndpoint(catalog.Endpoint{ID: "x", Service: "web", Host: "host-c", Address: "10.0.0.3", Port: 1})
		if _, err := e.st.Delete(context.Background(), store.CatalogKey(late.Host, "files", late.ID)); err != nil {
			t.Fatal(err)
		}
		out.waitFor(t, "host-b:files:8000  files    host-b  10.0.0.2  8000  deleted   200 OK\n")
		if s := out.String(); strings.Count(s, "ID ") != 1 || strings.Contains(s, "web") || strings.Count(s, "host-a:files:8000") != 1 {
			t.Errorf("get endpoints files -w printed a header twice, another service or an unchanged row again:\n%s", s)
		}
	})

	t.Run("services", func(t *testing.T) {
		out := startGet(t, e, "get", "svc", "-w")
		out.waitFor(t, "idle   0          0        0        0         -\n")
		e.putEndpoint(catalog.Endpoint{ID: "host-a:idle:8080", Service: "idle", Host: "host-a", Address: "10.0.0.1", Port: 8080, Tags: []string{"new"}})
		out.waitFor(t, "idle   1          1        0        0         new\n")
		e.putEndpoint(catalog.Endpoint{ID: "host-a:cache:6379", Service: "cache", Host: "host-a", Address: "10.0.0.1", Port: 6379})
		out.waitFor(t, "cache  1          1        0        0         -\n")
	})
}
