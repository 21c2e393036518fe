package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// Tests of each host's container policy (the controller's --allow-* and
// --allowed-* flags) and of env values read from files on the host.

// refused waits until the instance is FAILED with reason and a message
// that says msg, and returns it.
func (h *unitHost) refused(short, reason, msg string) v1.InstanceStatus {
	h.t.Helper()
	return h.waitInstance(short, "FAILED ("+reason+"): "+msg, 30*time.Second, func(in v1.InstanceStatus) bool {
		c := v1.FindCondition(in.Conditions, v1.ConditionReady)
		return in.State == v1.StateFailed && c != nil && c.Reason == reason && strings.Contains(in.Message, msg)
	})
}

// TestPolicyRefusesWhatTheHostDoesNotAllow: on a host started with only
// --allowed-host-paths, a privileged Unit, a Unit adding a capability and
// Units mounting host paths outside the allowed directory (directly,
// through "..", through a symbolic link) get no container, and describe
// and get units say which field and which flag; a Unit mounting inside
// runs, and every container runs with no-new-privileges. The same
// controller started again with --allow-privileged and
// --allowed-capabilities runs the privileged Unit and the capability.
func TestPolicyRefusesWhatTheHostDoesNotAllow(t *testing.T) {
	t.Parallel()
	allowed, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(allowed, "link-out")); err != nil {
		t.Fatal(err)
	}
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", allowed}}, false)
	mount := func(p string) string {
		return testapp(fmt.Sprintf("    volumes: [{hostPath: %q, containerPath: /data}]\n", p), "")
	}
	h.apply(
		h.doc("priv", testapp("    securityContext: {privileged: true}\n", "")),
		h.doc("netadmin", testapp("    securityContext: {capabilities: {add: [CAP_NET_ADMIN], drop: [MKNOD]}}\n", "")),
		h.doc("outside", mount(outside)),
		h.doc("dotdot", mount(allowed+"/../"+filepath.Base(outside))),
		h.doc("linkout", mount(filepath.Join(allowed, "link-out", "data"))),
		h.doc("inside", mount(filepath.Join(allowed, "data"))),
		h.doc("plain", testapp("", "")),
	)

	privMsg := "refused by host " + h.name + "'s policy: securityContext.privileged is not allowed (controller --allow-privileged)"
	h.refused("priv", v1.ReasonPolicyDenied, privMsg)
	h.refused("netadmin", v1.ReasonPolicyDenied, "securityContext.capabilities.add[0] NET_ADMIN is not allowed (controller --allowed-capabilities: none)")
	h.refused("outside", v1.ReasonPolicyDenied, "volumes[0].hostPath "+outside+" is outside the allowed host paths (controller --allowed-host-paths: "+allowed+")")
	h.refused("dotdot", v1.ReasonPolicyDenied, "("+outside+") is outside the allowed host paths")
	h.refused("linkout", v1.ReasonPolicyDenied, "("+filepath.Join(outside, "data")+") is outside the allowed host paths")
	h.waitRunning("inside", 60*time.Second)
	plain := h.waitRunning("plain", 60*time.Second)

	for _, u := range []string{"priv", "netadmin", "outside", "dotdot", "linkout"} {
		if gone, what := containerGone(h.container(u)); !gone {
			t.Errorf("%s was refused, yet %s", u, what)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "data")); err == nil {
		t.Errorf("a refused hostPath was created through the link: %s", filepath.Join(outside, "data"))
	}

	described := h.ctl("describe", "unit", h.unit("priv"))
	for _, want := range []string{"FAILED (PolicyDenied)", privMsg} {
		if !strings.Contains(described, want) {
			t.Errorf("describe unit priv does not show %q:\n%s", want, described)
		}
	}
	if !hasLine(described, "Ready", "PolicyDenied") || !hasLine(described, "Warning", "PolicyDenied", privMsg) {
		t.Errorf("describe unit priv shows no Ready condition and no Warning event with reason PolicyDenied:\n%s", described)
	}
	table := h.ctl("get", "units")
	if row := strings.Join(tableRow(table, h.unit("priv")), " "); !strings.Contains(row, "FAILED (PolicyDenied)") {
		t.Errorf("get units shows priv as %q, want FAILED (PolicyDenied):\n%s", row, table)
	}

	for _, u := range []string{"plain", "inside"} {
		if opts := mustDocker(t, "inspect", "-f", "{{json .HostConfig.SecurityOpt}}", h.container(u)); !strings.Contains(opts, "no-new-privileges") {
			t.Errorf("%s runs without no-new-privileges: SecurityOpt %s", u, opts)
		}
	}
	if st := mustDocker(t, "exec", h.container("plain"), "/testapp", "cat", "/proc/self/status"); !strings.Contains(st, "NoNewPrivs:\t1") {
		t.Errorf("a process of plain may gain privileges:\n%s", st)
	}

	// The same host, started again with the flags that allow them.
	if err := h.c.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("controller exited with %v on SIGTERM:\n%s", err, h.c.log())
	}
	h.c.args = append(h.c.args, "--allow-privileged", "--allowed-capabilities", "NET_ADMIN,SYS_TIME")
	h.c.start()
	h.waitRunning("netadmin", 60*time.Second)
	if caps := mustDocker(t, "inspect", "-f", "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}", h.container("netadmin")); !strings.Contains(caps, "NET_ADMIN") || !strings.Contains(caps, "MKNOD") {
		t.Errorf("netadmin's capabilities: %s, want NET_ADMIN added and MKNOD dropped", caps)
	}
	if privilegedRuns(t) {
		h.waitRunning("priv", 60*time.Second)
	} else {
		// The engine here runs inside a container without every capability
		// and cannot start a privileged one: the host's policy lets it be
		// created, which is what this test is about.
		t.Logf("this Docker engine cannot start privileged containers; checking that the privileged unit is created")
		eventually(t, 60*time.Second, "priv's container created", func() (bool, string) {
			out, err := inspect(h.container("priv"), "{{.HostConfig.Privileged}}")
			return err == nil && out == "true", out
		})
	}
	if opts := mustDocker(t, "inspect", "-f", "{{.HostConfig.Privileged}} {{json .HostConfig.SecurityOpt}}", h.container("priv")); !strings.HasPrefix(opts, "true ") || !strings.Contains(opts, `"no-new-privileges"`) {
		t.Errorf("priv's container: privileged and security options %s, want privileged with no-new-privileges", opts)
	}
	if in, _ := h.instance("outside"); in.State != v1.StateFailed {
		t.Errorf("outside after the restart: %s, want still refused", describeInstance(in))
	}
	if in, _ := h.instance("plain"); in.ContainerID != plain.ContainerID {
		t.Errorf("plain's container changed across the restart: %s, was %.12s", describeInstance(in), plain.ContainerID)
	}
}

// hasLine reports whether a line of text holds every one of parts.
func hasLine(text string, parts ...string) bool {
	for _, l := range strings.Split(text, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

// privilegedRuns reports whether this Docker engine can start a privileged
// container at all.
func privilegedRuns(t *testing.T) bool {
	t.Helper()
	out, err := docker("run", "--rm", "--privileged", testImage, "echo", "ok")
	return err == nil && strings.TrimSpace(out) == "ok"
}

// TestEnvFromFile: a Unit whose env value comes from a file in the host's
// --secrets-dir sees the file's content (one trailing newline dropped),
// while get -o yaml and every key in etcd hold only the file's name; a
// Unit whose file is missing is not started, describe names the file and
// not its content, and it starts once the file is there.
func TestEnvFromFile(t *testing.T) {
	t.Parallel()
	secrets := t.TempDir()
	const secret = "e2e-s3cret-correct-horse"
	if err := os.WriteFile(filepath.Join(secrets, "db-password"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newUnitHost(t, controllerOpts{extra: []string{"--secrets-dir", secrets, "--resync", "2s"}}, false)
	envFrom := func(file string) string {
		return testapp(fmt.Sprintf("    env:\n      - {name: PLAIN, value: visible}\n      - name: DB_PASSWORD\n        valueFrom: {file: %s}\n", file), "")
	}
	h.apply(h.doc("db", envFrom("db-password")), h.doc("late", envFrom("late-password")))

	h.waitRunning("db", 60*time.Second)
	if got := mustDocker(t, "exec", h.container("db"), "/testapp", "env", "DB_PASSWORD", "PLAIN"); got != secret+"\nvisible" {
		t.Errorf("the container sees DB_PASSWORD, PLAIN = %q, want %q", got, secret+"\nvisible")
	}

	yaml := h.ctl("get", "unit", h.unit("db"), "-o", "yaml")
	if !strings.Contains(yaml, "file: db-password") || strings.Contains(yaml, secret) {
		t.Errorf("get -o yaml shows the value or not the file:\n%s", yaml)
	}
	st := testenv.NewStore(t, store.Config{Endpoints: []string{h.etcd}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kvs, _, err := st.List(ctx, store.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, kv := range kvs {
		if strings.Contains(string(kv.Value), secret) {
			t.Errorf("etcd key %s holds the secret", kv.Key)
		}
		named = named || (strings.HasPrefix(kv.Key, store.ObjectKey(v1.KindUnit, h.unit("db"))) && strings.Contains(string(kv.Value), `"file":"db-password"`))
	}
	if !named {
		t.Errorf("the stored unit does not name its env file")
	}

	late := h.refused("late", v1.ReasonEnvFileUnavailable, `cannot read env[1].valueFrom.file "late-password": no such file in `+secrets)
	if gone, what := containerGone(h.container("late")); !gone {
		t.Errorf("late started without its env file: %s", what)
	}
	if described := h.ctl("describe", "unit", h.unit("late")); !strings.Contains(described, late.Message) || !strings.Contains(described, "EnvFileUnavailable") {
		t.Errorf("describe unit late does not say which file is missing:\n%s", described)
	}
	if err := os.WriteFile(filepath.Join(secrets, "late-password"), []byte("late-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitRunning("late", 30*time.Second) // at the next resync
	if got := mustDocker(t, "exec", h.container("late"), "/testapp", "env", "DB_PASSWORD"); got != "late-value" {
		t.Errorf("late sees DB_PASSWORD = %q", got)
	}
}
