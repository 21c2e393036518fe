package units

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
)

// TestVolumesUnderAllowedDirsNotThereYet: on a host that never had its
// allowed host paths, DirectoryOrCreate and FileOrCreate volumes under
// them are made, the allowed directories with them.
func TestVolumesUnderAllowedDirsNotThereYet(t *testing.T) {
	t.Parallel()
	w := newFSWorld(t)
	c := &Controller{o: Options{Host: "h1", Policy: Policy{AllowedHostPaths: []string{w.p("fresh/a/volumes"), w.p("fresh/b")}}}}
	mounts, err := c.volumeMounts([]v1.Volume{
		{HostPath: w.p("fresh/a/volumes/todo"), Type: v1.HostPathDirectoryOrCreate, ContainerPath: "/data"},
		{HostPath: w.p("fresh/b/conf/app.conf"), Type: v1.HostPathFileOrCreate, ContainerPath: "/etc/app.conf"},
	})
	if err != nil {
		t.Fatalf("volumeMounts: %v", err)
	}
	want := []runtime.Mount{
		{Type: runtime.MountBind, Source: w.p("fresh/a/volumes/todo"), Target: "/data"},
		{Type: runtime.MountBind, Source: w.p("fresh/b/conf/app.conf"), Target: "/etc/app.conf"},
	}
	if len(mounts) != 2 || mounts[0] != want[0] || mounts[1] != want[1] {
		t.Errorf("mounts %+v, want %+v", mounts, want)
	}
	for _, d := range []string{"fresh", "fresh/a", "fresh/a/volumes", "fresh/b"} {
		if fi, err := os.Stat(w.p(d)); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v %v, want a directory with mode 0755", d, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(w.p("fresh/b/conf/app.conf")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("app.conf not made: %v", err)
	}
}

// TestAllowedDirsMadeWhateverTheUmask: the allowed host paths the
// controller makes at start are 0755, even under a umask that would make
// them 0700, and owned by the controller's user (root, as it runs). Not
// parallel: the umask is the process's.
func TestAllowedDirsMadeWhateverTheUmask(t *testing.T) {
	w := newFSWorld(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	var logs bytes.Buffer
	c := &Controller{o: Options{Host: "h1", Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Policy: Policy{AllowedHostPaths: []string{w.p("new/volumes"), w.p("allowed"), "relative"}}}}
	c.makeAllowedDirs()
	for _, d := range []string{"new", "new/volumes"} {
		fi, err := os.Stat(w.p(d))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s: mode %v, err %v; want 0755", d, fi.Mode(), err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
			t.Errorf("%s owned by uid %d, want the controller's %d", d, st.Uid, os.Geteuid())
		}
	}
	if fi, _ := os.Stat(w.p("allowed")); fi.Mode().Perm() != 0o755 {
		t.Errorf("an allowed directory there already changed: %v", fi.Mode())
	}
	if got := strings.Count(logs.String(), "created an allowed host path"); got != 1 || !strings.Contains(logs.String(), "dir="+w.p("new/volumes")) {
		t.Errorf("want one line saying %s was created:\n%s", w.p("new/volumes"), logs.String())
	}
	if _, err := os.Stat("relative"); err == nil {
		t.Errorf("a relative entry was created in the working directory")
	}
}

// TestAllowedDirThatCannotBeMade: an allowed host path under a regular
// file is one error line at start naming it and the fix, and every
// volume under it a HostPathUnavailable saying the same.
func TestAllowedDirThatCannotBeMade(t *testing.T) {
	t.Parallel()
	w := newFSWorld(t)
	if err := os.WriteFile(w.p("a-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root := w.p("a-file/volumes")
	var logs bytes.Buffer
	c := &Controller{o: Options{Host: "h1", Log: slog.New(slog.NewTextHandler(&logs, nil)), Policy: Policy{AllowedHostPaths: []string{root}}}}
	c.makeAllowedDirs()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], "dir="+root) ||
		!strings.Contains(lines[0], w.p("a-file")+" is a file, not a directory") || !strings.Contains(lines[0], "--allowed-host-paths") {
		t.Errorf("want one error line naming %s, the file in the way and the flag:\n%s", root, logs.String())
	}
	for _, typ := range []v1.HostPathType{v1.HostPathDirectoryOrCreate, v1.HostPathFileOrCreate, v1.HostPathDirectory} {
		_, err := c.volumeMounts([]v1.Volume{{HostPath: root + "/todo", Type: typ, ContainerPath: "/data"}})
		var hp *hostProblem
		want := "volumes[0].hostPath " + root + "/todo: host h1 cannot create the allowed host path " + root + ": " +
			w.p("a-file") + " is a file, not a directory; move " + w.p("a-file") + " away, or set controller --allowed-host-paths to another directory"
		if !errors.As(err, &hp) || hp.reason != v1.ReasonHostPathUnavailable || hp.msg != want {
			t.Errorf("%s: error %v\nwant HostPathUnavailable %q", typ, err, want)
		}
	}
	if ls := readDir(t, w.root); strings.Join(ls, " ") != "a-file allowed allowed-evil outside secrets via" {
		t.Errorf("made something: %q", ls)
	}
}

// TestHostMessagesNameObjectAndRemedy: every message a user can meet
// about a hostPath, an allowed host path or an env file names the object
// (the field and the path) and says what to do.
func TestHostMessagesNameObjectAndRemedy(t *testing.T) {
	t.Parallel()
	w := newFSWorld(t)
	for _, f := range []string{"a-file", "allowed/data/file", "secrets/big", "secrets/nul"} {
		if err := os.WriteFile(w.p(f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(w.p("secrets/big"), bytes.Repeat([]byte("x"), v1.MaxEnvFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.p("secrets/nul"), []byte("a\x00b"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Controller{o: Options{Host: "h1", Policy: Policy{AllowedHostPaths: []string{w.p("allowed"), w.p("a-file/volumes")}, SecretsDir: w.p("secrets")}}}
	noSecrets := &Controller{o: Options{Host: "h1", Policy: Policy{SecretsDir: w.p("nothing/secrets")}}}
	volume := func(path string, typ v1.HostPathType) func() string {
		return func() string {
			_, err := c.volumeMounts([]v1.Volume{{HostPath: path, Type: typ, ContainerPath: "/data"}})
			if err == nil {
				return ""
			}
			return err.Error()
		}
	}
	envFile := func(c *Controller, file string) func() string {
		return func() string {
			_, ref := c.readEnvFile("env[0].valueFrom.file", file)
			if ref == nil {
				return ""
			}
			return ref.msg
		}
	}
	synthetic := func(path string, typ v1.HostPathType, err error) func() string {
		return func() string {
			return c.hostPathProblem("volumes[0].hostPath", v1.Volume{HostPath: path, Type: typ}, w.p("allowed"), err).msg
		}
	}
	permission := &fs.PathError{Op: "mkdir", Path: w.p("allowed/x"), Err: syscall.EACCES}
	for _, tt := range []struct {
		name    string
		msg     func() string
		objects []string // what the message must name
		remedy  string   // what it must say to do
	}{
		{"allowed host path under a file", volume(w.p("a-file/volumes/todo"), v1.HostPathDirectoryOrCreate),
			[]string{"volumes[0].hostPath " + w.p("a-file/volumes/todo"), w.p("a-file/volumes"), "host h1"}, "move " + w.p("a-file") + " away, or set controller --allowed-host-paths"},
		{"allowed host path not writable", func() string {
			return c.allowedDirProblem("volumes[0].hostPath", v1.Volume{HostPath: "/srv/vols/todo"}, "/srv/vols", permission).msg
		}, []string{"volumes[0].hostPath /srv/vols/todo", "/srv/vols: permission denied", "host h1"}, "create it (mkdir -p -m 0755 /srv/vols), or set controller --allowed-host-paths"},
		{"a file in the way inside", volume(w.p("allowed/data/file/x"), v1.HostPathDirectoryOrCreate),
			[]string{"volumes[0].hostPath " + w.p("allowed/data/file/x"), w.p("allowed/data/file") + " is a file", "host h1"}, "move it away, or choose another hostPath"},
		{"a file where a directory is asked", volume(w.p("allowed/data/file"), v1.HostPathDirectoryOrCreate),
			[]string{"volumes[0].hostPath " + w.p("allowed/data/file"), "host h1"}, "move what is there away, or use type File or FileOrCreate"},
		{"a directory where a file is asked", volume(w.p("allowed/data"), v1.HostPathFileOrCreate),
			[]string{"volumes[0].hostPath " + w.p("allowed/data"), "host h1"}, "move it away, or use type Directory or DirectoryOrCreate"},
		{"no directory", volume(w.p("allowed/none"), v1.HostPathDirectory),
			[]string{"volumes[0].hostPath " + w.p("allowed/none"), "host h1"}, "create it (mkdir -p " + w.p("allowed/none") + "), or use type DirectoryOrCreate"},
		{"no file", volume(w.p("allowed/none"), v1.HostPathFile),
			[]string{"volumes[0].hostPath " + w.p("allowed/none"), "host h1"}, "create it, or use type FileOrCreate"},
		{"permission denied", synthetic(w.p("allowed/x"), v1.HostPathDirectoryOrCreate, permission),
			[]string{"volumes[0].hostPath " + w.p("allowed/x"), "host h1", "permission denied"}, "create it there yourself, or set controller --allowed-host-paths"},
		{"read-only file system", synthetic(w.p("allowed/x"), v1.HostPathDirectoryOrCreate, &fs.PathError{Op: "mkdir", Path: w.p("allowed/x"), Err: syscall.EROFS}),
			[]string{"volumes[0].hostPath " + w.p("allowed/x"), "host h1", "read-only file system"}, "set controller --allowed-host-paths"},
		{"another error", synthetic(w.p("allowed/x"), v1.HostPathDirectoryOrCreate, errors.New("too many links")),
			[]string{"volumes[0].hostPath " + w.p("allowed/x"), "host h1", "too many links"}, "fix it on the host, or choose another hostPath"},
		{"outside the allowed host paths", volume(w.p("outside/x"), v1.HostPathDirectoryOrCreate),
			[]string{"volumes[0].hostPath " + w.p("outside/x"), "host h1"}, "(controller --allowed-host-paths: " + w.p("allowed")},
		{"a link that leads nowhere", volume(w.p("allowed/dangling"), v1.HostPathDirectoryOrCreate),
			[]string{"volumes[0].hostPath " + w.p("allowed/dangling"), "host h1"}, "fix or remove the link"},

		{"no secrets directory", envFile(noSecrets, "db-password"),
			[]string{`env[0].valueFrom.file "db-password"`, w.p("nothing/secrets"), "host h1"}, "create it (mkdir -p -m 0700 " + w.p("nothing/secrets") + ") and write the file in it, or set controller --secrets-dir"},
		{"no such file", envFile(c, "db-password"),
			[]string{`env[0].valueFrom.file "db-password"`, "host h1"}, "write " + w.p("secrets/db-password") + " there (mode 0600), or set controller --secrets-dir"},
		{"not a regular file", envFile(c, "db"),
			[]string{`env[0].valueFrom.file "db"`, "host h1"}, "write the value in a regular file " + w.p("secrets/db")},
		{"too large", envFile(c, "big"),
			[]string{`env[0].valueFrom.file "big"`, "host h1"}, "keep a smaller value in " + w.p("secrets/big")},
		{"a NUL byte", envFile(c, "nul"),
			[]string{`env[0].valueFrom.file "nul"`, "host h1"}, "remove it from " + w.p("secrets/nul")},
		{"outside the secrets directory", envFile(c, "/etc/hostname"),
			[]string{"env[0].valueFrom.file /etc/hostname", "host h1"}, "(controller --secrets-dir)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.msg()
			if msg == "" {
				t.Fatal("no message")
			}
			for _, o := range append(tt.objects, tt.remedy) {
				if !strings.Contains(msg, o) {
					t.Errorf("message %q does not say %q", msg, o)
				}
			}
		})
	}
}

// TestInstanceStuckOnAHostPath: a Unit whose hostPath cannot be made is
// CREATING with the message, not Progressing (reason
// HostPathUnavailable), one warning event, no container; looking again
// tried again with backoff, writing nothing new; and it runs once the host
// is fixed, without anything else happening.
func TestInstanceStuckOnAHostPath(t *testing.T) {
	t.Parallel()
	w := newFSWorld(t)
	if err := os.WriteFile(w.p("a-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root := w.p("a-file/volumes")
	reg := prometheus.NewRegistry()
	ev := &recorded{}
	e := newEnv(t, func(o *Options) {
		o.Policy, o.Metrics, o.Events = Policy{AllowedHostPaths: []string{root}}, reconcile.NewMetrics(reg), ev
	})
	e.apply(pinned("todo", func(u *v1.Unit) {
		u.Spec.Container.Volumes = []v1.Volume{{HostPath: root + "/todo", Type: v1.HostPathDirectoryOrCreate, ContainerPath: "/data"}}
	}))
	want := "volumes[0].hostPath " + root + "/todo: host h cannot create the allowed host path " + root
	var st *v1.InstanceStatus
	e.eventually("todo stuck with why", func() (bool, string) {
		st = e.status("todo")
		if st == nil {
			return false, "no status"
		}
		return st.State == v1.StateCreating && strings.HasPrefix(st.Message, want), fmt.Sprintf("%s %q", st.State, st.Message)
	})
	for _, typ := range []string{v1.ConditionReady, v1.ConditionProgressing} {
		if c := v1.FindCondition(st.Conditions, typ); c == nil || c.Status != v1.ConditionFalse || c.Reason != v1.ReasonHostPathUnavailable || c.Message != st.Message {
			t.Errorf("%s = %+v, want False, HostPathUnavailable, the message", typ, c)
		}
	}
	if len(e.containers("todo")) != 0 {
		t.Errorf("a container was made: %+v", e.containers("todo"))
	}
	// Tried again with backoff, as errors are; the tries write nothing
	// new and record no new event.
	ctx := context.Background()
	before, _ := e.s.Revision(ctx)
	errors0 := value(t, reg, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "unit"})
	e.eventually("three more tries", func() (bool, string) {
		v := value(t, reg, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "unit"})
		return v >= errors0+3, fmt.Sprint(v)
	})
	if after, _ := e.s.Revision(ctx); after != before {
		t.Errorf("trying again wrote to etcd: revision %d -> %d", before, after)
	}
	if n := ev.count("Unit/todo HostPathUnavailable"); n != 1 {
		t.Errorf("%d HostPathUnavailable events, want 1: %v", n, ev.reasons)
	}

	// Fixed on the host: the backoff's next try makes it.
	if err := os.Remove(w.p("a-file")); err != nil {
		t.Fatal(err)
	}
	st = e.waitState("todo", v1.StateRunning)
	if st.Message != "" {
		t.Errorf("running with message %q", st.Message)
	}
	for _, typ := range []string{v1.ConditionReady, v1.ConditionProgressing} {
		if c := v1.FindCondition(st.Conditions, typ); c == nil || c.Reason != "Running" {
			t.Errorf("%s = %+v, want reason Running", typ, c)
		}
	}
	if cs := e.containers("todo"); len(cs) != 1 {
		t.Fatalf("containers %+v, want one", cs)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("allowed host path %s: %v %v, want made with mode 0755", root, fi.Mode(), err)
	}
	if fi, err := os.Stat(root + "/todo"); err != nil || !fi.IsDir() {
		t.Errorf("volume %s/todo not made: %v", root, err)
	}
}

// TestErrorsBeingRetriedAreNotProgressing: an error the engine returns
// (a create it refuses) leaves the instance not Progressing, with reason
// Error and the message, and is tried again with backoff until a try
// succeeds.
func TestErrorsBeingRetriedAreNotProgressing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rt.Fail("Create", errors.New("conflicting options: hostname and the network mode"), 1000)
	e.apply(pinned("web", nil))
	var st *v1.InstanceStatus
	e.eventually("web failing with why", func() (bool, string) {
		st = e.status("web")
		return st != nil && strings.Contains(st.Message, "conflicting options"), fmt.Sprint(st)
	})
	if st.State != v1.StateCreating {
		t.Errorf("state %s, want CREATING", st.State)
	}
	for _, typ := range []string{v1.ConditionReady, v1.ConditionProgressing} {
		if c := v1.FindCondition(st.Conditions, typ); c == nil || c.Status != v1.ConditionFalse || c.Reason != v1.ReasonError || c.Message != st.Message {
			t.Errorf("%s = %+v, want False, Error, the message", typ, c)
		}
	}
	e.rt.Fail("Create", nil, 0)
	st = e.waitState("web", v1.StateRunning)
	if p := v1.FindCondition(st.Conditions, v1.ConditionProgressing); p == nil || p.Reason != "Running" || st.Message != "" {
		t.Errorf("Progressing = %+v, message %q, once the retry worked", p, st.Message)
	}
}
