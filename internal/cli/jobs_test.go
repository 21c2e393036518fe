package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// jobDoc is a Job manifest; extra is appended under spec.
func jobDoc(name, version, extra string) string {
	return fmt.Sprintf(`apiVersion: berth.dev/v1
kind: Job
metadata: {name: %s}
spec:
  version: "%s"
  container:
    image: %s:%s
    command: [sh, -c, "echo hello | nc -l 8080"]
    env: [{name: GREETING, value: hello}, {name: MODE, value: test}]
    ports: [{name: nc, containerPort: 8080}]
%s---
`, name, version, name, version, extra)
}

func (e *env) job(name string) *v1.Job {
	e.t.Helper()
	var j v1.Job
	e.getJSON("job", name, &j)
	return &j
}

// jobDeployments is "host=goal,..." of a Job, and its generation.
func (e *env) jobDeployments(name string) string {
	e.t.Helper()
	j := e.job(name)
	var parts []string
	for _, d := range j.Spec.Deployments {
		parts = append(parts, d.Host+"="+string(d.Goal))
	}
	return fmt.Sprintf("%s gen %d", strings.Join(parts, ","), j.Metadata.Generation)
}

func (e *env) setJobStatus(name string, st v1.InstanceStatus) {
	e.t.Helper()
	e.putJSON(store.StatusKey(v1.KindJob, name, st.Host), st)
}

func (e *env) setJobBinding(name string, b v1.JobBinding) {
	e.t.Helper()
	e.putJSON(store.BindingKey(v1.KindJob, name), b)
}

func (e *env) wantRun(what string, got result, code int, out, errOut string) {
	e.t.Helper()
	if got.code != code || got.out != out || got.err != errOut {
		e.t.Errorf("%s:\n got: exit %d stdout %q stderr %q\nwant: exit %d stdout %q stderr %q",
			what, got.code, got.out, got.err, code, out, errOut)
	}
}

func TestDeployUndeployStartStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, h := range []string{"host-a", "host-b", "host-c"} {
		e.addHost(h, true, nil)
	}
	e.applyDocs(jobDoc("nc", "1", ""))
	id := e.job("nc").ID()

	e.wantRun("deploy", e.run("", "deploy", "nc", "host-a", "host-b"), 0,
		"job/nc deployed to host-a\njob/nc deployed to host-b\n", "")
	wantEqual(t, "after deploy", e.jobDeployments("nc"), "host-a=start,host-b=start gen 2")

	rev := e.revision()
	e.wantRun("deploy again", e.run("", "deploy", "nc:1", "host-a"), 0, "job/nc already deployed to host-a\n", "")
	if got := e.revision(); got != rev {
		t.Errorf("a deploy that changed nothing wrote: revision %d -> %d", rev, got)
	}
	e.wantRun("deploy of another version", e.run("", "deploy", "nc:2", "host-c"), 1, "",
		"Error: job nc: version 1 is stored, not 2: use nc or nc:1:"+v1.FullTemplateHash(&e.job("nc").Spec.Container)+"\n")
	e.wantRun("deploy of a missing job", e.run("", "deploy", "nope", "host-a"), 1, "", "Error: job \"nope\" not found\n")
	e.wantRun("deploy to a bad host name", e.run("", "deploy", "nc", "Host_A"), 2, "",
		"Error: host \"Host_A\" is not a valid host name: use lower case letters, digits, '-' and '.'\nSee 'applyctl deploy --help' for usage.\n")
	e.wantRun("deploy to a host that never joined", e.run("", "deploy", "nc", "host-z", "--no-start"), 0,
		"job/nc deployed to host-z (goal stop)\n", "Warning: host host-z has never joined: the job runs there when it does\n")

	var doc struct {
		Job        string
		ID         string
		Generation int64
		Hosts      []struct{ Host, Result, Goal string }
	}
	if err := json.Unmarshal([]byte(e.ok("deploy", id, "host-c", "host-a", "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(doc), "{nc nc:1:"+v1.FullTemplateHash(&e.job("nc").Spec.Container)+" 4 [{host-c deployed start} {host-a already deployed start}]}"; got != want {
		t.Errorf("deploy -o json: %s", got)
	}
	wantEqual(t, "after deploys", e.jobDeployments("nc"), "host-a=start,host-b=start,host-z=stop,host-c=start gen 4")

	// Goals.
	e.wantRun("stop job", e.run("", "stop", "job", "nc", "host-a", "host-b"), 0,
		"job/nc stopped on host-a\njob/nc stopped on host-b\n", "")
	e.wantRun("stop job again", e.run("", "stop", "job/nc", "host-a"), 0, "job/nc already stopped on host-a\n", "")
	rev = e.revision()
	e.wantRun("stop on a host not deployed", e.run("", "stop", "job", "nc", "host-c", "host-q", "host-r"), 1, "",
		"Error: job nc is not deployed to host-q, host-r: deploy it first (applyctl deploy nc HOST)\n")
	if got := e.revision(); got != rev {
		t.Errorf("a refused stop wrote: revision %d -> %d", rev, got)
	}
	e.wantRun("start job", e.run("", "start", "job", "nc", "host-a", "host-z"), 0,
		"job/nc started on host-a\njob/nc started on host-z\n", "")
	e.wantRun("stop job without hosts", e.run("", "stop", "job", "nc"), 2, "",
		"Error: stop job needs the job and its hosts: stop job JOB HOST [HOST...]\nSee 'applyctl stop --help' for usage.\n")
	e.wantRun("restart job", e.run("", "restart", "job", "nc"), 2, "",
		"Error: restart is for units, not jobs\nSee 'applyctl restart --help' for usage.\n")
	wantEqual(t, "after goals", e.jobDeployments("nc"), "host-a=start,host-b=stop,host-z=start,host-c=start gen 6")

	// Units keep their start and stop.
	e.applyDocs(unitDoc("web"))
	wantEqual(t, "stop unit", e.ok("stop", "unit", "web"), "unit/web stopped\n")

	// Undeploy.
	e.wantRun("undeploy", e.run("", "undeploy", "nc", "host-b", "host-q"), 0,
		"job/nc undeployed from host-b\njob/nc is not deployed to host-q\n", "")
	wantEqual(t, "after undeploy", e.jobDeployments("nc"), "host-a=start,host-z=start,host-c=start gen 7")
	e.wantRun("undeploy --all", e.run("", "undeploy", "nc", "--all"), 0,
		"job/nc undeployed from host-a\njob/nc undeployed from host-z\njob/nc undeployed from host-c\n", "")
	wantEqual(t, "after undeploy --all", e.jobDeployments("nc"), " gen 8")
	e.wantRun("undeploy without hosts", e.run("", "undeploy", "nc"), 2, "",
		"Error: undeploy needs the hosts to undeploy from, or --all\nSee 'applyctl undeploy --help' for usage.\n")
}

func TestUndeployHostSelector(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addHost("host-a", true, nil)
	e.addHost("host-s", true, map[string]string{"tier": "edge"})
	e.applyDocs(jobDoc("sel", "1", "  hostSelector: {tier: edge}\n  deployments: [{host: host-a}]\n"))
	e.setJobBinding("sel", v1.JobBinding{Hosts: map[string]string{"host-a": "1", "host-s": "1"}})

	e.wantRun("undeploy a selected host", e.run("", "undeploy", "sel", "host-s", "host-a"), 1,
		"job/sel undeployed from host-a\n",
		"Error: job/sel runs on host-s through its hostSelector (tier=edge), not a deployment: change spec.hostSelector to take it off host-s\n")
	wantEqual(t, "after undeploy", e.jobDeployments("sel"), " gen 2")
	e.wantRun("undeploy --all with a selector", e.run("", "undeploy", "sel", "--all"), 0, "",
		"sel still runs on the hosts its hostSelector (tier=edge) matches: change spec.hostSelector to take it off them\n")

	// The leader rebinds: host-a is no longer deployed.
	e.setJobBinding("sel", v1.JobBinding{Hosts: map[string]string{"host-s": "1"}})
	e.wantRun("remove while selected", e.run("", "remove", "sel"), 1, "",
		"Error: job sel runs on host-s through its hostSelector: clear spec.hostSelector first or use --force\n")
}

func TestRemove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addHost("host-a", true, nil)
	e.addHost("host-b", true, nil)
	e.applyDocs(jobDoc("nc", "1", "  deployments: [{host: host-b}, {host: host-a}]\n"), jobDoc("idle", "3", ""))

	rev := e.revision()
	e.wantRun("remove while deployed", e.run("", "remove", "nc"), 1, "",
		"Error: job nc is deployed to host-a, host-b: undeploy it first or use --force\n")
	if got := e.revision(); got != rev {
		t.Errorf("a refused remove wrote: revision %d -> %d", rev, got)
	}
	e.wantRun("remove another version", e.run("", "remove", "idle:2"), 1, "",
		"Error: job idle: version 3 is stored, not 2: use idle or idle:3:"+v1.FullTemplateHash(&e.job("idle").Spec.Container)+"\n")
	e.wantRun("remove with --force", e.run("", "remove", "nc", "--force"), 0,
		"job/nc removed (it was deployed to host-a, host-b: their controllers stop it)\n", "")
	idleHash := v1.FullTemplateHash(&e.job("idle").Spec.Container)
	e.wantRun("remove undeployed", e.run("", "remove", "idle:3", "-o", "json"), 0,
		"{\n    \"job\": \"idle\",\n    \"id\": \"idle:3:"+idleHash+"\",\n    \"result\": \"removed\"\n}\n", "")
	e.wantRun("remove again", e.run("", "remove", "idle"), 1, "", "Error: job \"idle\" not found\n")
	if r := e.run("", "get", "job", "nc"); r.code != 1 {
		t.Errorf("job/nc still there after remove --force: %+v", r)
	}
	if kvs, _, err := e.st.List(context.Background(), store.JobVersionsPrefix); err != nil || len(kvs) != 0 {
		t.Errorf("version records left after remove: %d (%v)", len(kvs), err)
	}
}

// A version's template never changes, whichever version the Job is at:
// apply, apply --dry-run and diff --prune refuse another template for a
// recorded version, and write nothing.
func TestJobVersionsAreImmutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.applyDocs(jobDoc("nc", "1", ""))
	e.applyDocs(jobDoc("nc", "2", ""))
	changed := strings.Replace(jobDoc("nc", "1", ""), "MODE, value: test", "MODE, value: prod", 1)
	rev := e.revision()
	for _, args := range [][]string{{"apply", "-f", "-"}, {"apply", "-f", "-", "--dry-run"}, {"diff", "-f", "-", "--prune", "--applyset", "s"}} {
		r := e.run(changed, args...)
		if r.code == 0 || !strings.Contains(r.err, "job nc: version 1 was stored before with another container template (stored nc:1:") ||
			!strings.Contains(r.err, "raise spec.version to deploy a new template") {
			t.Errorf("%s of version 1 with another template: exit %d, stderr %q", strings.Join(args, " "), r.code, r.err)
		}
	}
	if got := e.revision(); got != rev {
		t.Errorf("a refused apply wrote: revision %d -> %d", rev, got)
	}
	e.wantRun("back to version 1 as it was", e.run(jobDoc("nc", "1", ""), "apply", "-f", "-"), 0, "job/nc configured\n", "")
}

func TestJobViews(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addHost("host-a", true, nil)
	e.addHost("host-b", true, nil)
	e.addHost("host-c", false, nil) // Down: its alive key is gone
	e.applyDocs(jobDoc("nc", "1", "  deployments: [{host: host-a}, {host: host-b, goal: stop}, {host: host-c}]\n"))
	e.applyDocs(jobDoc("nc", "2", "  deployments: [{host: host-a}, {host: host-b, goal: stop}, {host: host-c}]\n"),
		`apiVersion: berth.dev/v1
kind: Job
metadata: {name: plain}
spec:
  version: "1"
  container: {image: "plain:1"}
---
`)
	nc, plain := e.job("nc"), e.job("plain")
	h2 := v1.FullTemplateHash(&nc.Spec.Container)
	old := nc.Spec.Container
	old.Image = "nc:1"
	h1 := v1.FullTemplateHash(&old)
	hp := v1.FullTemplateHash(&plain.Spec.Container)

	// host-a still runs version 1 (a rollout under way), host-b and host-c
	// version 2: the ids are those of the versions' records.
	e.setJobBinding("nc", v1.JobBinding{Hosts: map[string]string{"host-a": "1", "host-b": "2", "host-c": "2"}})
	e.setJobStatus("nc", v1.InstanceStatus{Host: "host-a", State: v1.StateRunning, ContainerID: "0123456789abcdef0123",
		Ports:   []v1.PortStatus{{Name: "nc", ContainerPort: 8080, HostPort: 31000, Protocol: v1.ProtocolTCP}},
		ImageID: "registry.example.com/nc@sha256:" + strings.Repeat("ab", 32)})
	e.setJobStatus("nc", v1.InstanceStatus{Host: "host-c", State: v1.StateRunning, ContainerID: "cccccccccccccccc"})
	e.setJobStatus("nc", v1.InstanceStatus{Host: "host-d", State: v1.StateExited, Throttled: v1.ThrottleFlapping, ContainerID: "dddddddddddddddd"})
	e.addHost("host-d", true, nil)

	wantEqual(t, "jobs", e.ok("jobs"),
		"JOB ID            NAME   VERSION  HOSTS  COMMAND                          ENVIRONMENT\n"+
			"nc:2:"+h2[:8]+"     nc     2        3      sh -c \"echo hello | nc -l 8080\"  GREETING=hello,MODE=test\n"+
			"plain:1:"+hp[:8]+"  plain  1        0      -                                -\n")
	wantEqual(t, "jobs -y -f", e.ok("jobs", "-y", "--full"),
		"JOB ID                                                                 NAME  VERSION  HOSTS  COMMAND                          ENVIRONMENT\n"+
			"nc:2:"+h2+"  nc    2        3      sh -c \"echo hello | nc -l 8080\"  GREETING=hello,MODE=test\n")
	wantEqual(t, "jobs PATTERN", e.ok("jobs", "plain:1"),
		"JOB ID            NAME   VERSION  HOSTS  COMMAND  ENVIRONMENT\n"+
			"plain:1:"+hp[:8]+"  plain  1        0      -        -\n")
	e.wantRun("jobs with no match", e.run("", "jobs", "zzz"), 0, "", "No jobs found.\n")
	var list struct {
		Kind  string
		Items []struct {
			ID, Name, Version string
			Hosts, Command    []string
			Environment       map[string]string
		}
	}
	if err := json.Unmarshal([]byte(e.ok("jobs", "nc", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(list); got != "{List [{nc:2:"+h2[:8]+" nc 2 [host-a host-b host-c] [sh -c echo hello | nc -l 8080] map[GREETING:hello MODE:test]}]}" {
		t.Errorf("jobs -o json: %s", got)
	}

	wantEqual(t, "status", e.ok("status"),
		"JOB ID         HOST    GOAL      STATE                CONTAINER ID  PORTS\n"+
			"nc:1:"+h1[:8]+"  host-a  start     RUNNING              0123456789ab  31000->8080/tcp\n"+
			"nc:2:"+h2[:8]+"  host-b  stop      -                    -             -\n"+
			"nc:2:"+h2[:8]+"  host-c  start     UNKNOWN (host DOWN)  cccccccccccc  -\n"+
			"nc:2:"+h2[:8]+"  host-d  undeploy  EXITED (FLAPPING)    dddddddddddd  -\n")
	wantEqual(t, "status --job --host", e.ok("status", "--job", "nc", "--host", "host-a"),
		"JOB ID         HOST    GOAL   STATE    CONTAINER ID  PORTS\n"+
			"nc:1:"+h1[:8]+"  host-a  start  RUNNING  0123456789ab  31000->8080/tcp\n")
	if full := e.ok("status", "--job", "nc", "--host", "host-a", "--full"); !strings.Contains(full, "IMAGE ID") ||
		!strings.Contains(full, "0123456789abcdef0123  31000->8080/tcp  registry.example.com/nc@sha256:"+strings.Repeat("ab", 32)+"\n") {
		t.Errorf("status --full lacks the image ID:\n%s", full)
	}
	wantEqual(t, "status job NAME:VERSION", e.ok("status", "job", "nc:2", "--host", "host-b"),
		"JOB ID         HOST    GOAL  STATE  CONTAINER ID  PORTS\n"+
			"nc:2:"+h2[:8]+"  host-b  stop  -      -             -\n")
	e.wantRun("status of a missing job", e.run("", "status", "--job", "nope"), 1, "", "Error: job \"nope\" not found\n")
	e.wantRun("status of a unit flag mix", e.run("", "status", "unit", "x", "--host", "a"), 2, "",
		"Error: --job, --host, -f and -o are for jobs' status: status [--job JOB] [--host HOST]\nSee 'applyctl status --help' for usage.\n")
	var insts struct {
		Items []struct {
			ID, Job, Host, Goal, State string
			HostUp                     bool
			Status                     *v1.InstanceStatus
		}
	}
	if err := json.Unmarshal([]byte(e.ok("status", "--host", "host-c", "-o", "json")), &insts); err != nil {
		t.Fatal(err)
	}
	if len(insts.Items) != 1 || insts.Items[0].HostUp || insts.Items[0].State != "UNKNOWN (host DOWN)" || insts.Items[0].Status.ContainerID != "cccccccccccccccc" {
		t.Errorf("status -o json: %+v", insts)
	}

	// History, written out of order across hosts.
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	hist := func(host string, seq int, d time.Duration, state v1.InstanceState, thr v1.ThrottleState, ctr, ver string) {
		e.putJSON(store.HistoryPrefix(v1.KindJob, "nc", host)+fmt.Sprintf("%d", seq), v1.HistoryEntry{
			Host: host, Timestamp: t0.Add(d), State: state, Throttled: thr, ContainerID: ctr, Version: ver})
	}
	hist("host-b", 1, 2*time.Second, v1.StateCreating, "", "", "2")
	hist("host-a", 2, 1500*time.Millisecond, v1.StateRunning, v1.ThrottleNo, "0123456789abcdef0123", "1")
	hist("host-a", 1, time.Second, v1.StatePullingImage, "", "", "1")
	hist("host-b", 10, 3*time.Second, v1.StateExited, v1.ThrottleFlapping, "bbbbbbbbbbbbbbbb", "2")
	wantEqual(t, "history", e.ok("history", "nc"),
		"HOST    TIMESTAMP                STATE          THROTTLED  CONTAINER ID\n"+
			"host-a  2025-03-04 10:00:01.000  PULLING_IMAGE  -          -\n"+
			"host-a  2025-03-04 10:00:01.500  RUNNING        NO         0123456789ab\n"+
			"host-b  2025-03-04 10:00:02.000  CREATING       -          -\n"+
			"host-b  2025-03-04 10:00:03.000  EXITED         FLAPPING   bbbbbbbbbbbb\n")
	wantEqual(t, "history NAME:VERSION", e.ok("history", "nc:2"),
		"HOST    TIMESTAMP                STATE     THROTTLED  CONTAINER ID\n"+
			"host-b  2025-03-04 10:00:02.000  CREATING  -          -\n"+
			"host-b  2025-03-04 10:00:03.000  EXITED    FLAPPING   bbbbbbbbbbbb\n")
	var entries struct{ Items []v1.HistoryEntry }
	if err := json.Unmarshal([]byte(e.ok("history", "nc", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries.Items) != 4 || entries.Items[3].ContainerID != "bbbbbbbbbbbbbbbb" {
		t.Errorf("history -o json: %+v", entries)
	}
	e.wantRun("history without entries", e.run("", "history", "plain"), 0, "", "No history for job/plain.\n")
	e.wantRun("history of a missing job", e.run("", "history", "nope"), 1, "", "Error: job \"nope\" not found\n")

	// hosts is get hosts.
	wantEqual(t, "hosts", e.ok("hosts"), e.ok("get", "hosts"))
}
