package units

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// fsWorld is a directory tree for the policy's path checks:
//
//	allowed/            an allowed directory
//	allowed/data/       a directory inside it
//	allowed/out  -> outside/
//	allowed/dangling -> outside/nothing
//	allowed-evil/       a sibling whose name starts like allowed
//	outside/
//	outside/in -> allowed/data
//	via -> allowed      an allowed directory named through a link
//	secrets/            the secrets directory
type fsWorld struct{ root string }

func newFSWorld(t *testing.T) fsWorld {
	t.Helper()
	// The temporary directory may itself sit behind a link (/tmp on some
	// systems): resolve it, so that the messages show the paths written.
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := fsWorld{root}
	for _, d := range []string{"allowed/data", "allowed-evil", "outside", "secrets/db"} {
		if err := os.MkdirAll(w.p(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"allowed/out": w.p("outside"), "allowed/dangling": w.p("outside/nothing"),
		"outside/in": w.p("allowed/data"), "via": w.p("allowed"),
	} {
		if err := os.Symlink(target, w.p(link)); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w fsWorld) p(rel string) string { return filepath.Join(w.root, rel) }

func TestPolicyProblems(t *testing.T) {
	t.Parallel()
	w := newFSWorld(t)
	yes := true
	no := false
	hostPath := func(p string) func(*v1.ContainerTemplate) {
		return func(c *v1.ContainerTemplate) { c.Volumes = []v1.Volume{{HostPath: p, ContainerPath: "/data"}} }
	}
	sc := func(s v1.SecurityContext) func(*v1.ContainerTemplate) {
		return func(c *v1.ContainerTemplate) { c.SecurityContext = &s }
	}
	envFile := func(f string) func(*v1.ContainerTemplate) {
		return func(c *v1.ContainerTemplate) {
			c.Env = []v1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &v1.EnvVarSource{File: f}}}
		}
	}
	allowed := Policy{AllowedHostPaths: []string{w.p("allowed")}, SecretsDir: w.p("secrets")}
	tests := []struct {
		name     string
		policy   Policy
		template func(*v1.ContainerTemplate)
		want     []string // substrings of the problems, in order; none: allowed
	}{
		{"plain container", Policy{}, nil, nil},
		{"privileged", Policy{}, sc(v1.SecurityContext{Privileged: true}),
			[]string{"securityContext.privileged is not allowed (controller --allow-privileged)"}},
		{"privileged allowed", Policy{AllowPrivileged: true}, sc(v1.SecurityContext{Privileged: true}), nil},
		{"capability", Policy{}, sc(v1.SecurityContext{Capabilities: &v1.Capabilities{Add: []string{"NET_ADMIN"}}}),
			[]string{"securityContext.capabilities.add[0] NET_ADMIN is not allowed (controller --allowed-capabilities: none)"}},
		{"capability not in the list", Policy{AllowedCapabilities: []string{"NET_ADMIN"}},
			sc(v1.SecurityContext{Capabilities: &v1.Capabilities{Add: []string{"NET_ADMIN", "SYS_TIME"}}}),
			[]string{"capabilities.add[1] SYS_TIME is not allowed (controller --allowed-capabilities: NET_ADMIN)"}},
		{"capability spelled otherwise in the flag", Policy{AllowedCapabilities: []string{"cap_net_admin"}},
			sc(v1.SecurityContext{Capabilities: &v1.Capabilities{Add: []string{"NET_ADMIN"}}}), nil},
		{"any capability", Policy{AllowedCapabilities: []string{"ALL"}},
			sc(v1.SecurityContext{Capabilities: &v1.Capabilities{Add: []string{"SYS_ADMIN", "ALL"}}}), nil},
		{"add ALL needs ALL", Policy{AllowedCapabilities: []string{"NET_ADMIN"}},
			sc(v1.SecurityContext{Capabilities: &v1.Capabilities{Add: []string{"ALL"}}}), []string{"add[0] ALL is not allowed"}},
		{"dropping is always allowed", Policy{}, sc(v1.SecurityContext{Capabilities: &v1.Capabilities{Drop: []string{"ALL"}}}), nil},
		{"privilege escalation", Policy{}, sc(v1.SecurityContext{AllowPrivilegeEscalation: &yes}),
			[]string{"securityContext.allowPrivilegeEscalation true is not allowed (controller --allow-privilege-escalation)"}},
		{"privilege escalation allowed", Policy{AllowPrivilegeEscalation: true}, sc(v1.SecurityContext{AllowPrivilegeEscalation: &yes}), nil},
		{"no privilege escalation", Policy{}, sc(v1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: true}), nil},
		{"host network", Policy{}, func(c *v1.ContainerTemplate) { c.NetworkMode = "host" },
			[]string{"networkMode host is not allowed (controller --allow-host-network)"}},
		{"host network allowed", Policy{AllowHostNetwork: true}, func(c *v1.ContainerTemplate) { c.NetworkMode = "host" }, nil},
		{"bridge network", Policy{}, func(c *v1.ContainerTemplate) { c.NetworkMode = "bridge" }, nil},
		{"named volume", Policy{}, func(c *v1.ContainerTemplate) { c.Volumes = []v1.Volume{{Name: "cache", ContainerPath: "/c"}} }, nil},

		{"no host paths allowed", Policy{}, hostPath(w.p("allowed/data")),
			[]string{"volumes[0].hostPath " + w.p("allowed/data") + " is outside the allowed host paths (controller --allowed-host-paths: none)"}},
		{"inside", allowed, hostPath(w.p("allowed/data")), nil},
		{"the allowed directory itself", allowed, hostPath(w.p("allowed")), nil},
		{"not there yet, inside", allowed, hostPath(w.p("allowed/new/deeper")), nil},
		{"dot dot out", allowed, hostPath(w.p("allowed") + "/../outside"),
			[]string{"is outside the allowed host paths (controller --allowed-host-paths: " + w.p("allowed") + ")"}},
		{"dot dot out to /etc", allowed, hostPath(w.p("allowed") + "/../../../../../../../etc"), []string{"(/etc) is outside"}},
		{"dot dot staying inside", allowed, hostPath(w.p("allowed") + "/data/../data"), nil},
		{"link out", allowed, hostPath(w.p("allowed/out")),
			[]string{w.p("allowed/out") + " (" + w.p("outside") + ") is outside the allowed host paths"}},
		{"not there yet, behind a link out", allowed, hostPath(w.p("allowed/out/new")), []string{"(" + w.p("outside/new") + ") is outside"}},
		{"link pointing nowhere", allowed, hostPath(w.p("allowed/dangling")), []string{"cannot be resolved on this host"}},
		{"link in from outside", allowed, hostPath(w.p("outside/in")), nil},
		{"a sibling that starts alike", allowed, hostPath(w.p("allowed-evil")), []string{"is outside the allowed host paths"}},
		{"allowed directory named through a link", Policy{AllowedHostPaths: []string{w.p("via")}}, hostPath(w.p("allowed/data")), nil},
		{"relative allowed entry never matches", Policy{AllowedHostPaths: []string{"allowed"}}, hostPath(w.p("allowed/data")), []string{"is outside"}},
		{"root allows everything", Policy{AllowedHostPaths: []string{"/"}}, hostPath("/etc"), nil},
		{"several allowed", Policy{AllowedHostPaths: []string{w.p("outside"), w.p("allowed")}}, hostPath(w.p("allowed/data")), nil},

		{"env file by name", allowed, envFile("db/password"), nil},
		{"env file absolute inside", allowed, envFile(w.p("secrets/db/password")), nil},
		{"env file absolute outside", allowed, envFile("/etc/shadow"),
			[]string{"env[1].valueFrom.file /etc/shadow is outside the secrets directory " + w.p("secrets") + " (controller --secrets-dir)"}},
		{"env file the directory itself", allowed, envFile(w.p("secrets")), []string{"is outside the secrets directory"}},
		{"env file dot dot", allowed, envFile("../allowed/x"), []string{"env[1].valueFrom.file ../allowed/x is outside the secrets directory"}},
		{"env file without a secrets directory", Policy{}, envFile("db/password"),
			[]string{"this host has no secrets directory (controller --secrets-dir)"}},

		{"every problem at once", Policy{}, func(c *v1.ContainerTemplate) {
			c.SecurityContext = &v1.SecurityContext{Privileged: true, AllowPrivilegeEscalation: &yes}
			c.NetworkMode = "host"
		}, []string{"privileged", "allowPrivilegeEscalation", "networkMode host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := &v1.ContainerTemplate{Image: "x"}
			if tt.template != nil {
				tt.template(tmpl)
			}
			got := tt.policy.problems(tmpl)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q does not say %q", got[i], w)
				}
			}
		})
	}
}

func TestReadEnvFile(t *testing.T) {
	t.Parallel()
	w := newFSWorld(t)
	write := func(rel, content string) {
		if err := os.WriteFile(w.p(rel), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("secrets/plain", "s3cret")
	write("secrets/newline", "s3cret\n")
	write("secrets/crlf", "s3cret\r\n")
	write("secrets/two-newlines", "s3cret\n\n")
	write("secrets/multi-line", "line 1\nline 2\n")
	write("secrets/db/password", "pw")
	write("secrets/nul", "s3c\x00ret")
	write("secrets/biggest", strings.Repeat("x", v1.MaxEnvFileBytes)+"\r\n")
	write("secrets/too-big", strings.Repeat("x", v1.MaxEnvFileBytes+1))
	write("secrets/huge-with-crlf-at-the-limit", strings.Repeat("x", v1.MaxEnvFileBytes)+"\r\nmore")
	write("outside/shadow", "root-hash")
	for link, target := range map[string]string{"secrets/link-in": w.p("secrets/db/password"), "secrets/link-out": w.p("outside/shadow")} {
		if err := os.Symlink(target, w.p(link)); err != nil {
			t.Fatal(err)
		}
	}
	c := &Controller{o: Options{Host: "h1", Policy: Policy{SecretsDir: w.p("secrets")}}}
	tests := []struct {
		file   string
		want   string
		reason string // of the refusal; "" when the file is read
		msg    string // part of the refusal's message
	}{
		{file: "plain", want: "s3cret"},
		{file: "newline", want: "s3cret"},
		{file: "crlf", want: "s3cret"},
		{file: "two-newlines", want: "s3cret\n"},
		{file: "multi-line", want: "line 1\nline 2"},
		{file: "db/password", want: "pw"},
		{file: w.p("secrets/db/password"), want: "pw"},
		{file: "link-in", want: "pw"},
		{file: "biggest", want: strings.Repeat("x", v1.MaxEnvFileBytes)},
		{file: "missing", reason: v1.ReasonEnvFileUnavailable,
			msg: `host h1 cannot read env[0].valueFrom.file "missing": no such file in ` + w.p("secrets")},
		{file: "db", reason: v1.ReasonEnvFileUnavailable, msg: "not a regular file"},
		{file: "nul", reason: v1.ReasonEnvFileUnavailable, msg: "NUL byte"},
		{file: "too-big", reason: v1.ReasonEnvFileUnavailable, msg: "larger than 64 KiB"},
		{file: "huge-with-crlf-at-the-limit", reason: v1.ReasonEnvFileUnavailable, msg: "larger than 64 KiB"},
		{file: "link-out", reason: v1.ReasonPolicyDenied,
			msg: "refused by host h1's policy: env[0].valueFrom.file link-out leads outside the secrets directory"},
		{file: "/etc/hostname", reason: v1.ReasonPolicyDenied, msg: "is outside the secrets directory"},
	}
	for _, tt := range tests {
		got, ref := c.readEnvFile("env[0].valueFrom.file", tt.file)
		switch {
		case tt.reason == "" && ref != nil:
			t.Errorf("%s: refused: %v", tt.file, ref)
		case tt.reason == "" && got != tt.want:
			t.Errorf("%s: read %q, want %q", tt.file, got, tt.want)
		case tt.reason != "" && ref == nil:
			t.Errorf("%s: read %q, want a refusal %s", tt.file, got, tt.reason)
		case tt.reason != "":
			if ref.reason != tt.reason || !strings.Contains(ref.msg, tt.msg) {
				t.Errorf("%s: refusal %s %q, want %s %q", tt.file, ref.reason, ref.msg, tt.reason, tt.msg)
			}
			for _, secret := range []string{"s3c", "root-hash", "xxxx"} {
				if strings.Contains(ref.msg, secret) {
					t.Errorf("%s: the refusal %q shows the file's content", tt.file, ref.msg)
				}
			}
		}
	}
}

func TestSecurityOfTheContainer(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		sc   *v1.SecurityContext
		want runtime.Security
	}{
		{"none asked: no-new-privileges", nil, runtime.Security{NoNewPrivileges: true}},
		{"escalation false", &v1.SecurityContext{ReadOnlyRootFilesystem: true}, runtime.Security{NoNewPrivileges: true, ReadOnlyRootfs: true}},
		{"escalation asked", &v1.SecurityContext{AllowPrivilegeEscalation: &yes}, runtime.Security{}},
		{"privileged and capabilities", &v1.SecurityContext{Privileged: true, Capabilities: &v1.Capabilities{Add: []string{"cap_net_admin"}, Drop: []string{"ALL"}}},
			runtime.Security{Privileged: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, NoNewPrivileges: true}},
	}
	for _, tt := range tests {
		if got := security(&v1.ContainerTemplate{SecurityContext: tt.sc}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: security = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// policyHost runs a Controller for host "h" with a policy on a shared
// store and fake engine; stop ends it, as a controller restarting with
// other flags would.
type policyHost struct {
	t    *testing.T
	s    *store.Store
	rt   *fake.Runtime
	ev   *recorded
	reg  *prometheus.Registry
	c    *Controller
	stop func()
}

func newPolicyHost(t *testing.T, s *store.Store, rt *fake.Runtime, p Policy) *policyHost {
	t.Helper()
	h := &policyHost{t: t, s: s, rt: rt, ev: &recorded{}, reg: prometheus.NewRegistry()}
	h.c = New(Options{Store: s, Runtime: rt, Host: "h", Resync: time.Hour, PortRange: [2]int{42000, 42999}, Policy: p, Events: h.ev,
		Metrics: reconcile.NewMetrics(h.reg)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.c.Run(ctx) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(h.stop)
	e := h.env()
	e.eventually("caches synced", func() (bool, string) { return h.c.Synced(), "" })
	return h
}

func (h *policyHost) env() *env { return &env{t: h.t, s: h.s, rt: h.rt, c: h.c, reg: h.reg} }

// waitRefused waits for the instance to be FAILED with reason and a
// message containing msg.
func (h *policyHost) waitRefused(name, reason, msg string) *v1.InstanceStatus {
	h.t.Helper()
	e := h.env()
	var st *v1.InstanceStatus
	e.eventually(name+" refused ("+reason+")", func() (bool, string) {
		st = e.status(name)
		if st == nil {
			return false, "no status"
		}
		ready := v1.FindCondition(st.Conditions, v1.ConditionReady)
		return st.State == v1.StateFailed && ready != nil && ready.Reason == reason && strings.Contains(st.Message, msg),
			string(st.State) + " " + st.Message
	})
	return st
}

// TestPolicyRefusesUntilAllowed: a privileged Unit on a host that does
// not allow it gets no container, a FAILED status with reason PolicyDenied
// saying which flag, and one event; the same host started again with
// --allow-privileged runs it, with no-new-privileges; started again
// without, it removes the container.
func TestPolicyRefusesUntilAllowed(t *testing.T) {
	t.Parallel()
	s, rt := testenv.EtcdStore(t), fake.New()
	rt.AddImage("berth/testapp")
	h := newPolicyHost(t, s, rt, Policy{})
	e := h.env()
	e.apply(pinned("priv", func(u *v1.Unit) { u.Spec.Container.SecurityContext = &v1.SecurityContext{Privileged: true} }))
	st := h.waitRefused("priv", v1.ReasonPolicyDenied,
		"refused by host h's policy: securityContext.privileged is not allowed (controller --allow-privileged)")
	if len(e.containers("priv")) != 0 {
		t.Errorf("a refused unit has containers: %+v", e.containers("priv"))
	}
	if p := v1.FindCondition(st.Conditions, v1.ConditionProgressing); p == nil || p.Reason != v1.ReasonPolicyDenied {
		t.Errorf("Progressing = %+v, want reason PolicyDenied", p)
	}
	// Looking again (the resync) neither writes nor records anything new.
	ctx := context.Background()
	before, _ := s.Revision(ctx)
	errs := func() float64 {
		return value(t, h.reg, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "unit"})
	}
	errs0 := errs()
	for range 3 {
		e.reconciled("priv")
	}
	if n := errs() - errs0; n != 0 {
		t.Errorf("a refusal is returned as an error to retry: %v reconcile errors", n)
	}
	if after, _ := s.Revision(ctx); after != before {
		t.Errorf("looking again at a refused unit wrote to etcd: revision %d -> %d", before, after)
	}
	if n := h.ev.count("Unit/priv PolicyDenied"); n != 1 {
		t.Errorf("%d PolicyDenied events, want 1: %v", n, h.ev.reasons)
	}

	h.stop()
	h = newPolicyHost(t, s, rt, Policy{AllowPrivileged: true})
	e = h.env()
	e.waitState("priv", v1.StateRunning)
	cs := e.containers("priv")
	if len(cs) != 1 || !cs[0].Security.Privileged || !cs[0].Security.NoNewPrivileges {
		t.Fatalf("containers %+v, want one privileged with no-new-privileges", cs)
	}

	h.stop()
	h = newPolicyHost(t, s, rt, Policy{})
	e = h.env()
	h.waitRefused("priv", v1.ReasonPolicyDenied, "securityContext.privileged is not allowed")
	e.eventually("the privileged container removed", func() (bool, string) { return len(e.containers("priv")) == 0, "" })
}

// TestEnvFromFile: a value read from a file reaches the container and
// nowhere else (spec, status, spec-hash label); a missing file leaves the
// instance FAILED naming the file, and it starts once the file is there.
func TestEnvFromFile(t *testing.T) {
	t.Parallel()
	secrets := t.TempDir()
	const secret = "correct-horse-battery-staple"
	if err := os.WriteFile(filepath.Join(secrets, "db-password"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, rt := testenv.EtcdStore(t), fake.New()
	rt.AddImage("berth/testapp")
	h := newPolicyHost(t, s, rt, Policy{SecretsDir: secrets})
	e := h.env()
	withFile := func(file string) func(*v1.Unit) {
		return func(u *v1.Unit) {
			u.Spec.Container.Env = []v1.EnvVar{{Name: "DB_PASSWORD", ValueFrom: &v1.EnvVarSource{File: file}}}
			u.Spec.Container.Ports = nil
		}
	}
	e.apply(pinned("db", withFile("db-password")))
	st := e.waitState("db", v1.StateRunning)
	cs := e.containers("db")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	if !strings.Contains(strings.Join(cs[0].Env, "\n"), "DB_PASSWORD="+secret+"\n") {
		t.Errorf("container env %q lacks DB_PASSWORD from the file, trailing newline dropped", cs[0].Env)
	}
	if !cs[0].Security.NoNewPrivileges {
		t.Errorf("container made without no-new-privileges: %+v", cs[0].Security)
	}
	u, _ := h.c.caches.unit("db")
	if cs[0].Labels[v1.LabelSpecHash] != v1.TemplateHash(&u.Spec.Container) {
		t.Errorf("spec-hash label %s is not the hash of the template", cs[0].Labels[v1.LabelSpecHash])
	}
	stored, err := s.Get(context.Background(), store.ObjectKey(v1.KindUnit, "db"))
	if err != nil {
		t.Fatal(err)
	}
	status, _ := json.Marshal(st)
	for what, b := range map[string][]byte{"the stored unit": stored.Value, "the status": status} {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the secret: %s", what, b)
		}
	}

	e.apply(pinned("other", withFile("missing")))
	st = h.waitRefused("other", v1.ReasonEnvFileUnavailable, `host h cannot read env[0].valueFrom.file "missing": no such file in `+secrets)
	if len(e.containers("other")) != 0 {
		t.Errorf("container created without its env file")
	}
	if err := os.WriteFile(filepath.Join(secrets, "missing"), []byte("now here"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.c.Enqueue("other") // what the resync does
	e.waitState("other", v1.StateRunning)
}
