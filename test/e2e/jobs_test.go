package e2e

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// The tests of this file prove issue 6 (Jobs across hosts, surviving the
// loss of a host) against the real binaries: several controllers on this
// machine, each under its own --host-name, sharing one etcd and the one
// Docker engine. Helios' verbs (deploy, undeploy, remove, status, history,
// rollout status) are driven through what they change: an apply of the
// changed Job manifest, get jobs -o json, and the binding, status and
// history keys in etcd.

// netcatSpec is the seed's netcat job: testapp answering HTTP on 8080 on a
// port the engine picks ("echo hello | nc -l 8080").
const netcatSpec = `  container:
    image: ` + testImage + `
    env: [{name: MESSAGE, value: hello}]
    ports: [{name: http, containerPort: 8080}]
`

// TestJobNetcatLifecycle: a Job deployed to one host of three runs there
// only and answers on its published port; a killed container is started
// again (restarts 1; history EXITED then RUNNING); undeploying it removes
// the container; removing the Job removes its status and binding.
func TestJobNetcatLifecycle(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	for _, h := range []string{"a", "b", "c"} {
		cl.start(h, "")
	}
	h1 := cl.host("a")
	job := cl.name("nc")
	ctr := "berth-job-" + job + "-1"
	deployed := netcatSpec + fmt.Sprintf("  deployments: [{host: %s}]\n", h1)
	cl.apply(cl.jobDoc("nc", "1", deployed))

	in := cl.waitJob("nc", h1, "RUNNING", 60*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.ContainerID != ""
	})
	if got, err := inspect(ctr, `{{index .Config.Labels "berth.dev/host"}}`); err != nil || got != h1 {
		t.Fatalf("container %s: host label %q (%v), want %s", ctr, got, err, h1)
	}
	for _, h := range []string{cl.host("b"), cl.host("c")} {
		if cs, err := jobContainers(h, job); err != nil || len(cs) > 0 {
			t.Errorf("host %s runs containers of the job pinned to %s: %v %v", h, h1, cs, err)
		}
	}
	if m, last := cl.jobInstances("nc"); len(m) != 1 {
		t.Errorf("instances of the job, want only %s:%s", h1, last)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", hostPort(t, in, "http"))
	eventually(t, 10*time.Second, "GET "+url, func() (bool, string) {
		code, body := httpGet(url)
		return code == 200 && strings.HasSuffix(body, "message=hello\n"), fmt.Sprint(code, " ", body)
	})

	mustDocker(t, "kill", in.ContainerID)
	killed := time.Now()
	cl.waitJob("nc", h1, "RUNNING again with 1 restart after docker kill", 30*time.Second, func(s v1.InstanceStatus) bool {
		return s.State == v1.StateRunning && s.Restarts == 1 && s.LastExitCode != nil && *s.LastExitCode == 137
	})
	t.Logf("netcat: RUNNING again %s after docker kill", time.Since(killed).Round(time.Millisecond))
	eventually(t, 10*time.Second, "history shows EXITED then RUNNING after the kill", func() (bool, string) {
		h := cl.history("nc", h1)
		exited := -1
		for i, e := range h {
			if e.State == v1.StateExited {
				exited = i
			}
		}
		if exited < 0 {
			return false, describeHistory(h)
		}
		for _, e := range h[exited+1:] {
			if e.State == v1.StateRunning {
				return true, ""
			}
		}
		return false, describeHistory(h)
	})
	eventually(t, 10*time.Second, "GET "+url+" after the restart", func() (bool, string) {
		code, body := httpGet(url)
		return code == 200, fmt.Sprint(code, " ", body)
	})

	// undeploy: the deployment removed.
	cl.apply(cl.jobDoc("nc", "1", netcatSpec))
	eventually(t, 30*time.Second, "container "+ctr+" gone after undeploy", func() (bool, string) { return containerGone(ctr) })
	eventually(t, 10*time.Second, "binding without hosts after undeploy", func() (bool, string) {
		b, _, err := cl.binding("nc")
		return err == nil && len(b.Hosts) == 0, describeBinding(b)
	})

	// remove.
	if out, errOut, code := applyctl(t, cl.etcd, "", "delete", "job", job); code != 0 {
		t.Fatalf("delete job: exit %d: %s%s", code, out, errOut)
	}
	eventually(t, 30*time.Second, "status and binding of the removed job gone", func() (bool, string) {
		left := append(cl.statusKeys(v1.KindJob, job), cl.keys(store.BindingKey(v1.KindJob, job))...)
		return len(left) == 0, fmt.Sprint(left)
	})
}

// TestJobHostSelectorReachesLateHost: a Job on a hostSelector runs on every
// matching host, not on the others, and on a matching host that joins
// later.
func TestJobHostSelectorReachesLateHost(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	cl.start("web1", "role=web")
	cl.start("web2", "role=web")
	cl.start("db", "role=db")
	cl.apply(cl.jobDoc("sel", "1", netcatSpec+"  hostSelector: {role: web}\n"))
	for _, h := range []string{"web1", "web2"} {
		cl.waitJob("sel", cl.host(h), "RUNNING", 60*time.Second, runningReady(""))
	}
	if cs, _ := jobContainers(cl.host("db"), cl.name("sel")); len(cs) > 0 {
		t.Errorf("host db (role=db) runs the job: %v", cs)
	}
	cl.start("web3", "role=web")
	start := time.Now()
	cl.waitJob("sel", cl.host("web3"), "RUNNING on the host that joined", 60*time.Second, runningReady(""))
	t.Logf("late host: job RUNNING %s after its controller was ready", time.Since(start).Round(time.Millisecond))
	if m, last := cl.jobInstances("sel"); len(m) != 3 {
		t.Errorf("want instances on the three web hosts:%s", last)
	}
}

// rolloutSpec is a health-checked testapp job (Ready means /healthz
// answers) on every role=web host, rolled one host at a time.
func rolloutSpec(message, args, timeout string) string {
	return webJobSpec(message, args, "parallelism: 1, timeout: "+timeout+", onFailure: stop")
}

// checkOneByOne fails the test unless the recorded bindings moved hosts
// to version v one at a time: never more than one host moving, and a host
// moved only once every host moved before it was done.
func checkOneByOne(t *testing.T, seen []v1.JobBinding, v string) []string {
	t.Helper()
	var order []string
	moved := map[string]bool{}
	for i, b := range seen {
		if ro := b.Rollout; ro != nil && ro.Version == v && len(ro.Current) > 1 {
			t.Errorf("binding %d moves %d hosts at once: %s", i, len(ro.Current), describeBinding(b))
		}
		var now []string
		for h, ver := range b.Hosts {
			if ver == v && !moved[h] {
				now = append(now, h)
			}
		}
		if len(now) > 1 && i > 0 {
			t.Errorf("binding %d moves %v to version %s at once: %s", i, now, v, describeBinding(b))
		}
		for _, h := range now {
			if i > 0 && b.Rollout != nil {
				for _, prev := range order {
					if !contains(b.Rollout.Done, prev) {
						t.Errorf("binding %d moves %s before %s is done: %s", i, h, prev, describeBinding(b))
					}
				}
			}
			moved[h] = true
			order = append(order, h)
		}
	}
	return order
}

// TestJobRolloutOneHostAtATime: a new version rolls across three hosts one
// at a time, each healthy before the next, never with two hosts down at
// once; a failing version then stops after its first host, says which
// host failed and why, and leaves the others on the previous version.
func TestJobRolloutOneHostAtATime(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	cl.blockedByNameClash = true
	hosts := []string{cl.host("a"), cl.host("b"), cl.host("c")}
	for _, h := range []string{"a", "b", "c"} {
		cl.start(h, "role=web")
	}
	testRollout(t, cl, hosts, nil)
}

// testRollout rolls version 2 then a failing version 3 across hosts;
// during is called once the first host has moved to version 2.
func testRollout(t *testing.T, cl *cluster, hosts []string, during func()) {
	t.Helper()
	cl.apply(cl.jobDoc("roll", "1", rolloutSpec("v1", "[]", "30s")))
	for _, h := range hosts {
		cl.waitJob("roll", h, "RUNNING and Ready on version 1", 90*time.Second, runningReady(""))
	}

	// Sample the instances while rolling: at most one host is not serving.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var worst int
	var worstAt string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // the sampling period of the invariant
			}
			m, last := cl.jobInstances("roll")
			down := 0
			for _, h := range hosts {
				if in, ok := m[h]; !ok || !runningReady("")(in) {
					down++
				}
			}
			if down > worst {
				worst, worstAt = down, last
			}
		}
	}()

	rec := cl.recordBinding("roll")
	started := time.Now()
	cl.apply(cl.jobDoc("roll", "2", rolloutSpec("v2", "[]", "30s")))
	if during != nil {
		eventually(t, 60*time.Second, "the first host moved to version 2", func() (bool, string) {
			b, _, err := cl.binding("roll")
			return err == nil && b.Rollout != nil && b.Rollout.Version == "2" && len(b.Rollout.Done) >= 1, describeBinding(b)
		})
		during()
	}
	eventually(t, 120*time.Second, "rollout of version 2 DONE", func() (bool, string) {
		b, _, err := cl.binding("roll")
		return err == nil && b.Rollout != nil && b.Rollout.Version == "2" && b.Rollout.State == v1.RolloutDone, describeBinding(b)
	})
	t.Logf("rollout of version 2 across %d hosts: %s", len(hosts), time.Since(started).Round(time.Millisecond))
	m, last := cl.jobInstances("roll")
	for _, h := range hosts {
		if in := m[h]; !runningReady("")(in) || !strings.HasSuffix(mustGet(t, in), "message=v2\n") {
			t.Errorf("host %s not serving version 2 after the rollout:%s", h, last)
		}
	}
	close(stop)
	wg.Wait()
	if worst > 1 {
		t.Errorf("%d hosts were not RUNNING and Ready at once during the rollout:%s", worst, worstAt)
	}
	order := checkOneByOne(t, rec.values(), "2")
	t.Logf("version 2 moved in order %v over %d binding writes; at most %d host(s) not serving at once", order, len(rec.values()), worst)
	if len(order) != len(hosts) {
		t.Errorf("moved %v, want all of %v", order, hosts)
	}

	// Version 3 exits at once: the rollout stops at its first host.
	cl.apply(cl.jobDoc("roll", "3", rolloutSpec("v3", `["exit", "3"]`, "8s")))
	var failed v1.JobBinding
	eventually(t, 60*time.Second, "rollout of version 3 FAILED", func() (bool, string) {
		b, _, err := cl.binding("roll")
		failed = b
		return err == nil && b.Rollout != nil && b.Rollout.Version == "3" && b.Rollout.State == v1.RolloutFailed, describeBinding(b)
	})
	ro := failed.Rollout
	t.Logf("failed rollout: %s", describeBinding(failed))
	if len(ro.Failed) != 1 || !strings.Contains(ro.Message, ro.Failed[0]) {
		t.Errorf("rollout should name the one failed host in its message: %s", describeBinding(failed))
	}
	if !strings.Contains(ro.Message, "EXITED") && !strings.Contains(ro.Message, "FAILED") && !strings.Contains(ro.Message, "exit") {
		t.Errorf("rollout message does not say why the host failed: %q", ro.Message)
	}
	on3 := 0
	for _, h := range hosts {
		switch failed.Hosts[h] {
		case "3":
			on3++
		case "2":
		default:
			t.Errorf("host %s on version %q after the failed rollout: %s", h, failed.Hosts[h], describeBinding(failed))
		}
	}
	if on3 != 1 {
		t.Errorf("%d hosts on the failing version 3, want 1: %s", on3, describeBinding(failed))
	}
	consistently(t, 3*time.Second, "the other hosts keep serving version 2", func() (bool, string) {
		m, last := cl.jobInstances("roll")
		for _, h := range hosts {
			if failed.Hosts[h] == "2" && !runningReady("")(m[h]) {
				return false, last
			}
		}
		b, _, _ := cl.binding("roll")
		for _, h := range hosts {
			if failed.Hosts[h] == "2" && b.Hosts[h] != "2" {
				return false, describeBinding(b)
			}
		}
		return true, ""
	})
}

// mustGet returns the body of GET / on the instance's http port.
func mustGet(t *testing.T, in v1.InstanceStatus) string {
	t.Helper()
	for _, p := range in.Ports {
		if p.Name == "http" && p.HostPort != 0 {
			_, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", p.HostPort))
			return body
		}
	}
	return "no http port"
}

// TestHostLostUnitsRescheduled: a host's controller killed with SIGKILL
// (and its containers gone with it, as when a machine is lost): after the
// heartbeat TTL the host is DOWN and its catalog endpoints are gone; after
// --reschedule-after its Unit runs on another matching host; its Job stays
// deployed to it.
func TestHostLostUnitsRescheduled(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	for _, h := range []string{"a", "b", "c"} {
		cl.start(h, "role=web", "--reschedule-after", "3s")
	}
	unit := cl.name("web")
	svc := cl.name("websvc")
	cl.apply(fmt.Sprintf(`apiVersion: berth.dev/v1
kind: Unit
metadata: {name: %s}
spec:
  placement: {hostSelector: {role: web}, replicas: 1}
  container:
    image: %s
    env: [{name: SERVICE_NAME, value: %s}]
    ports: [{name: http, containerPort: 8080}]
`, unit, testImage, svc))
	var victim string
	eventually(t, 60*time.Second, "the unit RUNNING on one host", func() (bool, string) {
		h := &unitHost{t: t, etcd: cl.etcd, sfx: cl.sfx}
		us, err := h.units()
		if err != nil {
			return false, err.Error()
		}
		u := us[unit]
		if u.Status == nil {
			return false, "no status"
		}
		for _, in := range u.Status.Instances {
			if in.State == v1.StateRunning {
				victim = in.Host
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", u.Status.Instances)
	})
	// A Job pinned to the same host.
	cl.apply(cl.jobDoc("pinned", "1", netcatSpec+fmt.Sprintf("  deployments: [{host: %s}]\n", victim)))
	cl.waitJob("pinned", victim, "RUNNING", 60*time.Second, runningReady(""))
	var survivor *controller
	for h, c := range cl.hosts {
		if h != victim {
			survivor = c
		}
	}
	consul := survivor.consulClient(nil)
	eventually(t, 30*time.Second, "the unit's endpoint in the catalog", func() (bool, string) {
		eps, last := endpointsOn(consul, svc, victim)
		return len(eps) == 1, last
	})

	if err := cl.hosts[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	removeHostContainers(t, victim) // the machine is gone, and its containers with it
	eventually(t, 30*time.Second, "the lost host's endpoints gone from a survivor's catalog", func() (bool, string) {
		eps, last := endpointsOn(consul, svc, victim)
		return len(eps) == 0, last
	})
	t.Logf("endpoints gone %s after SIGKILL (heartbeat TTL 3s)", time.Since(killed).Round(time.Millisecond))
	eventually(t, 30*time.Second, "get hosts shows the lost host DOWN", func() (bool, string) {
		out, _, _ := applyctl(t, cl.etcd, "", "get", "hosts")
		row := tableRow(out, victim)
		return len(row) > 1 && row[1] == "DOWN", out
	})
	var moved string
	eventually(t, 60*time.Second, "the unit RUNNING on another host", func() (bool, string) {
		h := &unitHost{t: t, etcd: cl.etcd}
		us, err := h.units()
		if err != nil {
			return false, err.Error()
		}
		u := us[unit]
		if u.Status == nil {
			return false, "no status"
		}
		for _, in := range u.Status.Instances {
			if in.Host != victim && in.State == v1.StateRunning {
				moved = in.Host
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", u.Status.Instances)
	})
	t.Logf("unit moved from %s to %s: RUNNING %s after SIGKILL (TTL 3s + reschedule-after 3s)", victim, moved, time.Since(killed).Round(time.Millisecond))
	eventually(t, 30*time.Second, "the moved unit's endpoint in the catalog", func() (bool, string) {
		eps, last := endpointsOn(consul, svc, moved)
		return len(eps) == 1, last
	})
	b, ok, err := cl.binding("pinned")
	if err != nil || !ok || b.Hosts[victim] != "1" || len(b.Hosts) != 1 {
		t.Errorf("the job pinned to the lost host should stay bound to it only: %s (%v)", describeBinding(b), err)
	}
	if m, last := cl.jobInstances("pinned"); len(m) != 1 || m[victim].Host != victim {
		t.Errorf("the pinned job should still show its instance on the lost host only:%s", last)
	}
}

// TestLeaderKilledAnotherLeads: killing the leading controller hands the
// cluster-wide loops to another within the election TTL, and scheduling
// goes on.
func TestLeaderKilledAnotherLeads(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	for _, h := range []string{"a", "b", "c"} {
		cl.start(h, "role=web")
	}
	old := cl.leader(30 * time.Second)
	if err := cl.hosts[old].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	removeHostContainers(t, old)
	next := cl.leader(30*time.Second, old)
	took := time.Since(killed)
	t.Logf("leader %s killed; %s leads %s later (election TTL 3s)", old, next, took.Round(time.Millisecond))
	if took > 3*time.Second+2*time.Second {
		t.Errorf("new leader after %s, want within the 3s TTL (plus 2s of slack)", took)
	}
	unit := cl.name("after")
	cl.apply(fmt.Sprintf(`apiVersion: berth.dev/v1
kind: Unit
metadata: {name: %s}
spec:
  placement: {hostSelector: {role: web}, replicas: 1}
  container: {image: %s}
`, unit, testImage))
	eventually(t, 60*time.Second, "a unit applied after the failover RUNNING on a live host", func() (bool, string) {
		h := &unitHost{t: t, etcd: cl.etcd}
		us, err := h.units()
		if err != nil {
			return false, err.Error()
		}
		u := us[unit]
		if u.Status == nil {
			return false, "no status"
		}
		for _, in := range u.Status.Instances {
			if in.Host != old && in.State == v1.StateRunning {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", u.Status.Instances)
	})
}

// TestJobRolloutSurvivesEtcdMemberLoss: with a 3-member etcd cluster given
// whole to every controller, stopping one member during a rollout does not
// stop it.
func TestJobRolloutSurvivesEtcdMemberLoss(t *testing.T) {
	t.Parallel()
	ec := testenv.EtcdCluster(t, 3)
	cl := newCluster(t, ec.Endpoints())
	cl.blockedByNameClash = true
	hosts := []string{cl.host("a"), cl.host("b"), cl.host("c")}
	for _, h := range []string{"a", "b", "c"} {
		cl.start(h, "role=web")
	}
	testRollout(t, cl, hosts, func() {
		ec.Members[0].Stop()
		t.Logf("etcd member %s stopped during the rollout", ec.Members[0].Name)
	})
}
