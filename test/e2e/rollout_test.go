package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/internal/testenv"
)

// webJobSpec is a health-checked testapp job (Ready means /healthz
// answers) on every role=web host, rolled out as rollout says; args are
// the container's (unhealthy: /healthz answers 503).
func webJobSpec(message, args, rollout string) string {
	return fmt.Sprintf(`  container:
    image: %s
    args: %s
    env: [{name: MESSAGE, value: %s}]
    ports: [{name: http, containerPort: 8080}]
    healthCheck: {http: {path: /healthz, port: http}, interval: 300ms, timeout: 1s, retries: 2}
  hostSelector: {role: web}
  rollout: {%s}
`, testImage, args, message, rollout)
}

// unhealthy makes /healthz answer 503 for as long as the container runs:
// the file named is always there.
const unhealthy = `["--unhealthy-file", "/etc/hosts"]`

// containerIDs returns the container of the Job's instance on each host.
func (cl *cluster) containerIDs(short string) map[string]string {
	m, _ := cl.jobInstances(short)
	out := map[string]string{}
	for h, in := range m {
		out[h] = in.ContainerID
	}
	return out
}

// jobEvents returns the Job's events as "Reason: message", from get
// events -o json.
func (cl *cluster) jobEvents(short string) []string {
	out, _, code := applyctl(cl.t, cl.etcd, "", "get", "events", "-o", "json")
	if code != 0 {
		return nil
	}
	var list struct{ Items []v1.Event }
	if json.Unmarshal([]byte(out), &list) != nil {
		return nil
	}
	var evs []string
	for _, e := range list.Items {
		if e.Object.Kind == v1.KindJob && e.Object.Name == cl.name(short) {
			evs = append(evs, e.Reason+": "+e.Message)
		}
	}
	return evs
}

// TestJobCanaryRevertedThenPromoted: on three hosts, with version 1
// healthy everywhere, a version 2 whose health check fails moves to one
// canary only, fails its healthyDeadline there and is reverted: the
// canary runs version 1 again, the other hosts never stopped their
// version 1 containers, and rollout status and the Job's events say what
// happened. A good version 3 then waits on its healthy canary until
// promote, and rolls to the other two hosts together (parallelism 2).
func TestJobCanaryRevertedThenPromoted(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	hosts := []string{cl.host("a"), cl.host("b"), cl.host("c")}
	for _, h := range []string{"a", "b", "c"} {
		// A TTL that a busy machine does not miss: a host Down for a
		// moment leaves the hostSelector's targets (it then comes back on
		// the version the rollout replaces, which the test allows).
		cl.start(h, "role=web", "--heartbeat-ttl", "10s")
	}
	rollout := "parallelism: 2, timeout: 1m, canary: 1, healthyDeadline: 20s, minHealthyTime: 1s, autoRevert: true"
	cl.apply(cl.jobDoc("web", "1", webJobSpec("v1", "[]", rollout)))
	for _, h := range hosts {
		cl.waitJob("web", h, "RUNNING and Ready on version 1", 90*time.Second, runningReady(""))
	}
	eventually(t, 30*time.Second, "version 1 stable", func() (bool, string) {
		b, _, err := cl.binding("web")
		return err == nil && b.Stable == "1", describeBinding(b) + " stable=" + b.Stable
	})
	before := cl.containerIDs("web")

	// Version 2 never becomes healthy: its canary is reverted.
	rec := cl.recordBinding("web")
	cl.apply(cl.jobDoc("web", "2", webJobSpec("v2", unhealthy, rollout)))
	var reverted v1.JobBinding
	eventually(t, 90*time.Second, "version 2 reverted", func() (bool, string) {
		b, _, err := cl.binding("web")
		reverted = b
		return err == nil && b.Rollout != nil && b.Rollout.Version == "2" && b.Rollout.State == v1.RolloutReverted, describeBinding(b)
	})
	ro := reverted.Rollout
	t.Logf("reverted: %s", describeBinding(reverted))
	if len(ro.Canaries) != 1 || !slices.Equal(ro.Failed, ro.Canaries) || ro.RevertedTo != "1" {
		t.Fatalf("want one canary, the one failed, reverted to 1: %s", describeBinding(reverted))
	}
	canary := ro.Canaries[0]
	want := fmt.Sprintf("version 2 unhealthy on %s for 20s (healthyDeadline): reverted to 1; %s: ", canary, canary)
	if !strings.HasPrefix(ro.Message, want) {
		t.Errorf("message %q, want it to start %q", ro.Message, want)
	}
	for i, b := range rec.values() {
		for _, h := range hosts {
			if ver, ok := b.Hosts[h]; ok && h != canary && ver != "1" {
				t.Errorf("binding %d moves %s, which is no canary, to version %s: %s", i, h, ver, describeBinding(b))
			}
		}
	}
	cl.waitJob("web", canary, "the canary RUNNING and Ready on version 1 again", 60*time.Second, func(in v1.InstanceStatus) bool {
		return runningReady("")(in) && strings.HasSuffix(mustGet(t, in), "message=v1\n")
	})
	after := cl.containerIDs("web")
	for _, h := range hosts {
		if h != canary && after[h] != before[h] {
			t.Errorf("host %s, which never moved, runs container %.12s, not its version 1 container %.12s", h, after[h], before[h])
		}
	}
	out, errOut, code := applyctl(t, cl.etcd, "", "rollout", "status", "job", cl.name("web"))
	if code != 1 || !strings.Contains(errOut, "rollout reverted: "+want) {
		t.Errorf("rollout status: exit %d, want 1 and the revert\n%s%s", code, out, errOut)
	}
	eventually(t, 30*time.Second, "RolloutStarted and RolloutReverted events", func() (bool, string) {
		evs := cl.jobEvents("web")
		started := slices.ContainsFunc(evs, func(e string) bool {
			return strings.HasPrefix(e, "RolloutStarted: version 2 rolls out over 3 host(s) from version 1; canaries: "+canary)
		})
		rev := slices.ContainsFunc(evs, func(e string) bool { return strings.HasPrefix(e, "RolloutReverted: "+want) })
		return started && rev, strings.Join(evs, "\n")
	})

	// Version 3 is good: its canary waits for promotion, then the other
	// two hosts move together.
	rec = cl.recordBinding("web")
	cl.apply(cl.jobDoc("web", "3", webJobSpec("v3", "[]", rollout)))
	var waiting v1.JobBinding
	eventually(t, 90*time.Second, "version 3's canary healthy, waiting for promotion", func() (bool, string) {
		b, _, err := cl.binding("web")
		waiting = b
		return err == nil && b.Rollout != nil && b.Rollout.Version == "3" && b.Rollout.State == v1.RolloutWaitingForPromotion, describeBinding(b)
	})
	canary3 := waiting.Rollout.Canaries[0]
	consistently(t, 3*time.Second, "the other hosts wait on version 1", func() (bool, string) {
		b, _, _ := cl.binding("web")
		for _, h := range hosts {
			if ver, ok := b.Hosts[h]; ok && h != canary3 && ver != "1" {
				return false, describeBinding(b)
			}
		}
		return b.Rollout.State == v1.RolloutWaitingForPromotion, describeBinding(b)
	})
	out, errOut, code = applyctl(t, cl.etcd, "", "rollout", "status", "job", cl.name("web"), "--watch=false")
	if code != 0 || !strings.Contains(out, "canaries "+canary3+" healthy on version 3") || !strings.Contains(out, canary3+" (canary)") {
		t.Errorf("rollout status --watch=false: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = applyctl(t, cl.etcd, "", "rollout", "promote", "job", cl.name("web"))
	if code != 0 || !strings.Contains(out, "promoted") {
		t.Fatalf("rollout promote: exit %d\n%s%s", code, out, errOut)
	}
	eventually(t, 90*time.Second, "version 3 DONE", func() (bool, string) {
		b, _, err := cl.binding("web")
		return err == nil && b.Rollout != nil && b.Rollout.Version == "3" && b.Rollout.State == v1.RolloutDone && b.Stable == "3",
			describeBinding(b) + " stable=" + b.Stable
	})
	m, last := cl.jobInstances("web")
	for _, h := range hosts {
		if in := m[h]; !runningReady("")(in) || !strings.HasSuffix(mustGet(t, in), "message=v3\n") {
			t.Errorf("host %s not serving version 3:%s", h, last)
		}
	}
	together := false
	for _, b := range rec.values() {
		if ro := b.Rollout; ro != nil && ro.Version == "3" && ro.Promoted && len(ro.Current) == 2 && !slices.Contains(ro.Current, canary3) {
			together = true
		}
	}
	if !together {
		var seen []string
		for _, b := range rec.values() {
			seen = append(seen, describeBinding(b))
		}
		t.Errorf("no binding moved the two other hosts together after the promotion:\n%s", strings.Join(seen, "\n"))
	}
}

// machineMemory is what every controller of the tests reports as its
// host's memory: the machine's MemTotal.
func machineMemory(t *testing.T) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no MemTotal in /proc/meminfo")
	return 0
}

// TestUnitPendingUntilHostWithRoom: a Unit asking more memory than the
// only host has free (its controller reserves all but 256Mi) is planned
// as pending, naming the host and the figures; applied, it is PENDING
// with that reason and a Pending event; when a host with room joins (a
// second controller, started later), it runs there, with a Placed event.
// Then plan names the host that lacks memory beside the one that has it.
func TestUnitPendingUntilHostWithRoom(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, testenv.Etcd(t))
	total := machineMemory(t)
	free := int64(256 << 20)
	reserved := total - free
	small, roomy := cl.host("small"), cl.host("roomy")
	cl.start("small", "", "--reserved-memory", strconv.FormatInt(reserved, 10))
	unit := func(short string) string {
		return fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n"+
			"  container: {image: %s, resources: {memory: 1Gi}}\n", cl.name(short), testImage)
	}
	lacks := fmt.Sprintf("not enough memory: asks 1Gi, %s free of %s (%s reserved)",
		scheduler.FormatBytes(free), scheduler.FormatBytes(total), scheduler.FormatBytes(reserved))

	out, errOut, code := applyctl(t, cl.etcd, unit("big"), "plan", "-f", "-")
	wantPlan := "unit/" + cl.name("big") + " created\n" +
		"  ! 1 replica(s) pending: no host can take one\n" +
		"  rejected:\n" +
		"     " + small + "  " + lacks + "\n" +
		"Plan: 0 to create, 0 to replace, 0 to stop, 1 pending.\n"
	if code != 1 || out != wantPlan {
		t.Errorf("plan: exit %d, want 1\n%s%s\nwant\n%s", code, out, errOut, wantPlan)
	}

	cl.apply(unit("big"))
	reason := "pending: no host can take one: " + small + ": " + lacks
	eventually(t, 30*time.Second, "the unit PENDING with the reason", func() (bool, string) {
		out, errOut, _ := applyctl(t, cl.etcd, "", "get", "units", "-o", "wide")
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[0] == cl.name("big") && f[2] == string(v1.StatePending) && strings.HasSuffix(l, reason) {
				return true, ""
			}
		}
		return false, out + errOut
	})
	eventually(t, 30*time.Second, "a Pending event", func() (bool, string) {
		out, _, _ := applyctl(t, cl.etcd, "", "describe", "unit", cl.name("big"))
		return strings.Contains(out, "Pending") && strings.Contains(out, reason), out
	})

	cl.start("roomy", "")
	eventually(t, 90*time.Second, "the unit RUNNING on the host that joined", func() (bool, string) {
		out, errOut, _ := applyctl(t, cl.etcd, "", "get", "units", cl.name("big"))
		f := strings.Fields(strings.TrimPrefix(out, strings.SplitN(out, "\n", 2)[0]+"\n"))
		return len(f) > 2 && f[1] == roomy && f[2] == string(v1.StateRunning) && !strings.Contains(out, "PENDING"), out + errOut
	})
	out, _, _ = applyctl(t, cl.etcd, "", "describe", "unit", cl.name("big"))
	if !strings.Contains(out, "Placed") || !strings.Contains(out, "every replica has a host now: "+roomy) {
		t.Errorf("describe unit: no Placed event naming %s:\n%s", roomy, out)
	}

	out, errOut, code = applyctl(t, cl.etcd, unit("more"), "plan", "-f", "-")
	wantPlan = "unit/" + cl.name("more") + " created\n" +
		"  +  " + roomy + "  create\n" +
		"  rejected:\n" +
		"     " + small + "  " + lacks + "\n" +
		"Plan: 1 to create, 0 to replace, 0 to stop, 0 pending.\n"
	if code != 1 || out != wantPlan {
		t.Errorf("plan with a host that has room: exit %d, want 1\n%s%s\nwant\n%s", code, out, errOut, wantPlan)
	}
}
