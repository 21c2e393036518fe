package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/store"
)

// A host writes only under its own keys (status/<host>/, history/<host>/,
// catalog/<host>/: etcd's roles). What host-a writes there naming host-b is
// not shown as host-b's, nor as host-a's: it is no instance, history entry
// or endpoint at all.
func TestValuesNamingAnotherHostAreNotThatHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addHost("host-a", true, nil)
	e.addHost("host-b", true, nil)
	e.ok("apply", "-f", "testdata/todo.yaml", "-f", "testdata/job.yaml")

	e.putJSON(store.StatusKey(v1.KindUnit, "todo", "host-a"), status("host-b", v1.StateRunning, 1, ""))
	e.putJSON(store.StatusKey(v1.KindJob, "netcat", "host-a"), v1.InstanceStatus{Host: "host-b", State: v1.StateRunning, ContainerID: "forgedforgedforged"})
	e.putJSON(store.HistoryPrefix(v1.KindJob, "netcat", "host-a")+"1", v1.HistoryEntry{Host: "host-b",
		Timestamp: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC), State: v1.StateRunning, ContainerID: "forgedforgedforged"})
	e.putJSON(store.CatalogKey("host-a", "web", "web"), catalog.Endpoint{ID: "web", Service: "web", Host: "host-b", Address: "10.6.6.6", Port: 80})

	hosts := e.ok("get", "hosts")
	for _, h := range []string{"host-a", "host-b"} {
		if !strings.Contains(hosts, h+"  UP      0         0") {
			t.Errorf("get hosts counts an instance on %s:\n%s", h, hosts)
		}
	}
	var u v1.Unit
	e.getJSON("unit", "todo", &u)
	if u.Status == nil || len(u.Status.Instances) != 0 {
		t.Errorf("get unit todo -o json shows instances %+v, want none", u.Status)
	}
	if r := e.run("", "wait", "unit/todo", "--for=condition=Ready", "--timeout", "100ms"); r.code != 1 {
		t.Errorf("wait --for=condition=Ready was met by host-a's status naming host-b: %+v", r)
	}
	if out := e.ok("status", "--job", "netcat"); strings.Contains(out, "host-b") || strings.Contains(out, "forged") {
		t.Errorf("status shows what host-a wrote as host-b's:\n%s", out)
	}
	e.wantRun("history", e.run("", "history", "netcat"), 0, "", "No history for job/netcat.\n")
	if out := e.ok("get", "endpoints"); strings.Contains(out, "10.6.6.6") {
		t.Errorf("get endpoints shows what host-a wrote as host-b's:\n%s", out)
	}

	// What host-b writes under its own keys is host-b's.
	e.setStatus("todo", status("host-b", v1.StateRunning, 1, ""))
	wantEqual(t, "wait once host-b reports todo", e.ok("wait", "unit/todo", "--for=condition=Ready", "--timeout", "10s"), "unit/todo condition met\n")
	if hosts := e.ok("get", "hosts"); !strings.Contains(hosts, "host-b  UP      1         1") {
		t.Errorf("get hosts does not count host-b's own instance:\n%s", hosts)
	}
	e.putEndpoint(catalog.Endpoint{ID: "web", Service: "web", Host: "host-b", Address: "10.0.0.2", Port: 80})
	var list struct{ Items []catalog.Endpoint }
	if err := json.Unmarshal([]byte(e.ok("get", "endpoints", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Host != "host-b" || list.Items[0].Address != "10.0.0.2" {
		t.Errorf("get endpoints -o json = %+v, want host-b's web only", list.Items)
	}
}

// Two hosts may register the same service id (Consul agents registering a
// service without an ID): get endpoints lists both.
func TestGetEndpointsSameIDOnTwoHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putEndpoint(catalog.Endpoint{ID: "web", Service: "web", Host: "host-b", Address: "10.0.0.2", Port: 80})
	e.putEndpoint(catalog.Endpoint{ID: "web", Service: "web", Host: "host-a", Address: "10.0.0.1", Port: 80})
	var list struct{ Items []catalog.Endpoint }
	if err := json.Unmarshal([]byte(e.ok("get", "endpoints", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 || list.Items[0].Host != "host-a" || list.Items[1].Host != "host-b" {
		t.Errorf("get endpoints -o json = %+v, want web of host-a, then of host-b", list.Items)
	}
	var svc struct{ Status v1.ServiceStatus }
	if err := json.Unmarshal([]byte(e.ok("get", "services", "web", "-o", "json")), &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Status.Endpoints != 2 || svc.Status.Passing != 2 {
		t.Errorf("get services web -o json: status %+v, want 2 passing endpoints", svc.Status)
	}
}

// An instance on a host that is DOWN is shown UNKNOWN (host DOWN) by get
// units: what it last reported may no longer be true.
func TestGetUnitsOnADownHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addHost("host-a", true, nil)
	e.addHost("host-c", false, nil)
	e.ok("apply", "-f", "testdata/todo.yaml")
	e.setStatus("todo", status("host-a", v1.StateRunning, 1, ""))
	e.setStatus("todo", status("host-c", v1.StateRunning, 1, ""))
	out := e.ok("get", "units", "todo")
	if row := tableRowOf(out, "host-a"); !strings.Contains(row, "RUNNING") {
		t.Errorf("host-a's instance is not RUNNING:\n%s", out)
	}
	if row := tableRowOf(out, "host-c"); !strings.Contains(row, "UNKNOWN (host DOWN)") {
		t.Errorf("host-c (DOWN)'s instance is not UNKNOWN (host DOWN):\n%s", out)
	}
}

func tableRowOf(table, host string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.Contains(l, "  "+host+"  ") {
			return l
		}
	}
	return ""
}

// Only a host writes statuses under its own name (etcd's roles), and a
// host that joined has a record. A status under the name of no host, such
// as the leader's status/leader/, which whoever holds berth-leader may
// write, is no instance of anything: no view shows it, and wait is not
// satisfied by it.
func TestStatusesOfNoHostAreNotShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addHost("host-a", true, nil)
	e.ok("apply", "-f", "testdata/todo.yaml", "-f", "testdata/job.yaml")
	for _, fake := range []string{"leader", "ghost"} {
		e.putJSON(store.StatusKey(v1.KindJob, "netcat", fake), v1.InstanceStatus{State: v1.StateRunning, ContainerID: "forgedforgedforged",
			Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue}}})
		e.putJSON(store.StatusKey(v1.KindUnit, "todo", fake), status(fake, v1.StateRunning, 1, ""))
	}
	// A binding naming hosts the Job's placement does not allow: they
	// would refuse it.
	e.setJobBinding("netcat", v1.JobBinding{Hosts: map[string]string{"host-a": "1", "leader": "1", "ghost": "1"}})
	for _, args := range [][]string{{"get", "jobs"}, {"get", "jobs", "netcat", "-o", "json"}, {"describe", "job", "netcat"},
		{"status"}, {"status", "--job", "netcat", "-o", "json"}, {"get", "units"}, {"describe", "unit", "todo"}} {
		out := e.ok(args...)
		if strings.Contains(out, "RUNNING") || strings.Contains(out, "forged") || strings.Contains(out, "leader") || strings.Contains(out, "ghost") {
			t.Errorf("%s shows an instance on a host that never joined:\n%s", strings.Join(args, " "), out)
		}
	}
	if r := e.run("", "wait", "unit/todo", "--for=condition=Ready", "--timeout", "100ms"); r.code != 1 {
		t.Errorf("wait --for=condition=Ready was met by the status of a host that never joined: %+v", r)
	}
	if out := e.ok("jobs", "-o", "json"); !strings.Contains(out, "\"hosts\": [\n                \"host-a\"\n            ]") {
		t.Errorf("jobs counts hosts the Job's placement does not allow:\n%s", out)
	}
	if r := e.run("", "remove", "netcat"); r.code != 1 || strings.Contains(r.err, "leader") || strings.Contains(r.err, "ghost") {
		t.Errorf("remove: %+v; want it refused for host-a's deployment only", r)
	}

	// host-a's own status is shown.
	e.setJobStatus("netcat", v1.InstanceStatus{Host: "host-a", State: v1.StateRunning})
	if out := e.ok("status", "--job", "netcat"); tableRowOf(out, "host-a") == "" || !strings.Contains(tableRowOf(out, "host-a"), "RUNNING") {
		t.Errorf("status does not show host-a's instance:\n%s", out)
	}
}
