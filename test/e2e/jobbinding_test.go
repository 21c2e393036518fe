package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// TestLeaderRoleChoosesOnlyWhere: with etcd's roles, whoever holds
// berth-leader (every host, unless --no-leader) writes Jobs' bindings and
// the leader's statuses, and nothing else. Here that is host jbfa's
// certificate, in the hands of someone who runs no controller, against a
// real controller (jbfh, which may not lead) and the real Docker engine:
//
//   - it cannot store a version of a Job (objects/jobversion/ is the
//     operators');
//   - a binding it writes places a version operators stored where the Job
//     allows it: that runs;
//   - a binding carrying a template of its own, naming a version no
//     operator stored, or placing a Job on a host its placement does not
//     name is refused: FAILED (BindingRefused) with an event, and nothing of
//     it is created;
//   - a status it writes under status/leader/ is no host's instance.
func TestLeaderRoleChoosesOnlyWhere(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	dir := filepath.Join(t.TempDir(), "certs")
	ep := tlsEtcd(t, dir, []string{"jbfh", "jbfa"}, []string{"alice"})
	hackEtcdAuth(t, dir, ep, "enable")
	hackEtcdAuth(t, dir, ep, "host", "jbfh", "--no-leader")
	hackEtcdAuth(t, dir, ep, "host", "jbfa")
	hackEtcdAuth(t, dir, ep, "operator", "alice")
	ctx := context.Background()
	leaderRole := storeAs(t, dir, ep, "host-jbfa")
	asAlice := etcdFlags(dir, "user-alice")
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := applyctl(t, ep, "", append(asAlice, args...)...)
		if code != 0 {
			t.Fatalf("applyctl %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	put := func(key string, v any) {
		t.Helper()
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := leaderRole.Put(ctx, key, b, 0); err != nil {
			t.Fatalf("put %s with the leader's role: %v", key, err)
		}
	}

	evil := v1.ContainerTemplate{Image: testImage, Env: []v1.EnvVar{{Name: "OWNED", Value: "by-the-leader-role"}}}
	if _, err := leaderRole.Put(ctx, store.JobVersionKey("jbf-web", "evil"), []byte(`{}`), 0); !errors.Is(err, store.ErrPermissionDenied) {
		t.Errorf("the leader's role stored a version of a Job: %v, want etcd's refusal", err)
	}

	startController(t, controllerOpts{name: "jbfh", etcdEndpoints: ep, extra: etcdFlags(dir, "host-jbfh")})
	jobs := writeFile(t, "jobs.yaml", `apiVersion: berth.dev/v1
kind: Job
metadata: {name: jbf-web}
spec:
  version: "1"
  container: {image: `+testImage+`}
  deployments: [{host: jbfh}]
---
apiVersion: berth.dev/v1
kind: Job
metadata: {name: jbf-other}
spec:
  version: "1"
  container: {image: `+testImage+`}
  deployments: [{host: jbf-elsewhere}]
`)
	run("apply", "-f", jobs)
	o, err := store.GetObject(ctx, leaderRole, v1.KindJob, "jbf-web")
	if err != nil {
		t.Fatal(err)
	}
	web := o.(*v1.Job)
	v1.Default(web)
	hash := v1.FullTemplateHash(&web.Spec.Container)
	status := func(job string) map[string]v1.InstanceStatus {
		var list struct {
			Items []struct {
				Host   string
				Status *v1.InstanceStatus
			}
		}
		out, _, _ := applyctl(t, ep, "", append(asAlice, "status", "--job", job, "-o", "json")...)
		_ = json.Unmarshal([]byte(out), &list)
		m := map[string]v1.InstanceStatus{}
		for _, it := range list.Items {
			if it.Status != nil {
				m[it.Host] = *it.Status
			}
		}
		return m
	}
	waitState := func(job, what string, ok func(v1.InstanceStatus) bool) {
		t.Helper()
		eventually(t, 60*time.Second, job+" on jbfh: "+what, func() (bool, string) {
			st, found := status(job)["jbfh"]
			return found && ok(st), string(st.State) + ": " + st.Message
		})
	}
	running := func(st v1.InstanceStatus) bool { return st.State == v1.StateRunning }

	// Where, among what the Job allows: runs.
	put(store.BindingKey(v1.KindJob, "jbf-web"), v1.JobBinding{Hosts: map[string]string{"jbfh": "1"}, Hashes: map[string]string{"1": hash}})
	waitState("jbf-web", "RUNNING", running)

	// What: refused, nothing created.
	forged, err := json.Marshal(map[string]any{"hosts": map[string]string{"jbfh": "evil"}, "templates": map[string]any{"evil": evil}})
	if err != nil {
		t.Fatal(err)
	}
	put(store.BindingKey(v1.KindJob, "jbf-web"), forged)
	waitState("jbf-web", "the forged binding refused", func(st v1.InstanceStatus) bool {
		return st.State == v1.StateFailed && strings.Contains(st.Message, "version evil has no template an operator stored")
	})
	// Where the Job does not allow: refused.
	put(store.BindingKey(v1.KindJob, "jbf-other"), v1.JobBinding{Hosts: map[string]string{"jbfh": "1"}})
	waitState("jbf-other", "the binding outside its placement refused", func(st v1.InstanceStatus) bool {
		return st.State == v1.StateFailed && strings.Contains(st.Message, "which the job's placement does not allow")
	})
	if out := run("describe", "job", "jbf-web"); !strings.Contains(out, "BindingRefused") {
		t.Errorf("describe job jbf-web shows no BindingRefused event:\n%s", out)
	}
	for _, job := range []string{"jbf-web", "jbf-other"} {
		if ids, err := docker("ps", "-aq", "--filter", "label="+v1.LabelName+"="+job); err != nil || strings.TrimSpace(ids) != "" {
			t.Errorf("containers of %s after the refusals: %q (%v), want none", job, ids, err)
		}
	}
	if ids, err := docker("ps", "-aq", "--filter", "label="+v1.LabelVersion+"=evil"); err != nil || strings.TrimSpace(ids) != "" {
		t.Errorf("containers of the forged version: %q (%v)", ids, err)
	}

	// A status the leader's role may write, under the name of no host.
	put(store.StatusKey(v1.KindJob, "jbf-web", "leader"), v1.InstanceStatus{State: v1.StateRunning, ContainerID: "forgedforged"})
	if out := run("status", "--job", "jbf-web"); strings.Contains(out, "leader") || strings.Contains(out, "forged") {
		t.Errorf("status shows the leader role's status as an instance:\n%s", out)
	}

	// Back where it belongs: it runs again.
	put(store.BindingKey(v1.KindJob, "jbf-web"), v1.JobBinding{Hosts: map[string]string{"jbfh": "1"}, Hashes: map[string]string{"1": hash}})
	waitState("jbf-web", "RUNNING again", running)
	if env, err := inspect("berth-job-jbf-web-1", "{{json .Config.Env}}"); err != nil || strings.Contains(env, "OWNED") {
		t.Errorf("the container of jbf-web: env %s (%v)", env, err)
	}
}
