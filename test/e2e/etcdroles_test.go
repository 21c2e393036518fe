package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// hackCerts runs hack/certs.sh -d dir with args, as SECURITY.md tells an
// operator to.
func hackCerts(t *testing.T, dir string, args ...string) {
	t.Helper()
	out, err := exec.Command(repoFile(t, "hack/certs.sh"), append([]string{"-d", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/certs.sh %v: %v\n%s", args, err, out)
	}
}

// hackEtcdAuth runs hack/etcd-auth.sh against the etcd at endpoint.
func hackEtcdAuth(t *testing.T, dir, endpoint string, args ...string) {
	t.Helper()
	_, err := exec.LookPath("etcdctl")
	testenv.Require(t, err == nil, "etcdctl not found on PATH (Debian: apt-get install etcd-client)")
	out, err := exec.Command(repoFile(t, "hack/etcd-auth.sh"), append([]string{"-d", dir, "-e", endpoint}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/etcd-auth.sh %v: %v\n%s", args, err, out)
	}
}

// etcdFlags are the TLS flags of the client certificate named name
// ("host-h1", "user-alice") in dir.
func etcdFlags(dir, name string) []string {
	return []string{"--etcd-cacert", filepath.Join(dir, "ca.pem"),
		"--etcd-cert", filepath.Join(dir, name+".pem"), "--etcd-key", filepath.Join(dir, name+"-key.pem")}
}

// tlsEtcd makes in dir, with hack/certs.sh, the certificates of an etcd
// member, of the controllers of hosts and of etcd's root user and the
// operators named; it starts that etcd, which asks every client for a
// certificate, and returns its endpoint. Authentication is not on yet.
func tlsEtcd(t *testing.T, dir string, hosts, operators []string) string {
	t.Helper()
	hackCerts(t, dir, "etcd", "etcd0", "127.0.0.1")
	for _, h := range hosts {
		hackCerts(t, dir, "controller", h)
	}
	for _, u := range append([]string{"root"}, operators...) {
		hackCerts(t, dir, "operator", u)
	}
	p := testenv.EtcdProcess(t, testenv.WithTLS(testenv.CertFiles{
		CACert:     filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "etcd-etcd0.pem"), ServerKey: filepath.Join(dir, "etcd-etcd0-key.pem"),
		ClientCert: filepath.Join(dir, "user-root.pem"), ClientKey: filepath.Join(dir, "user-root-key.pem"),
	}))
	return p.Endpoints()[0]
}

func storeAs(t *testing.T, dir, endpoint, name string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.New(ctx, store.Config{Endpoints: []string{endpoint}, CACert: filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")})
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestEtcdRoles sets up a TLS etcd with the certificates of hack/certs.sh
// and the roles of hack/etcd-auth.sh, then shows that each role writes
// what it must and nothing else: a controller cannot change objects or
// another host's keys, an operator cannot forge a host's status, a
// read-only user reads only; and that two real controllers (one may lead,
// one may not) run a replicated Unit with only their roles.
func TestEtcdRoles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	ep := tlsEtcd(t, dir, []string{"ra1", "ra2"}, []string{"alice", "dash"})
	hackEtcdAuth(t, dir, ep, "enable")
	hackEtcdAuth(t, dir, ep, "host", "ra1")
	hackEtcdAuth(t, dir, ep, "host", "ra2", "--no-leader")
	hackEtcdAuth(t, dir, ep, "operator", "alice")
	hackEtcdAuth(t, dir, ep, "readonly", "dash")
	pwFile := writeFile(t, "bob-password", "b0b-pass\n")
	hackEtcdAuth(t, dir, ep, "readonly", "bob", "--password-file", pwFile)
	hackEtcdAuth(t, dir, ep, "enable") // a second run changes nothing and does not fail

	ctx := context.Background()
	h1, h2 := storeAs(t, dir, ep, "host-ra1"), storeAs(t, dir, ep, "host-ra2")
	alice, dash := storeAs(t, dir, ep, "user-alice"), storeAs(t, dir, ep, "user-dash")
	status := []byte(`{"host":"ra1","state":"RUNNING"}`)
	for _, c := range []struct {
		who   string
		st    *store.Store
		key   string
		allow bool
	}{
		{"controller ra1, its own status", h1, store.StatusKey(v1.KindUnit, "web", "ra1"), true},
		{"controller ra1, its own host record", h1, store.HostKey("ra1"), true},
		{"controller ra1, its own endpoint", h1, store.CatalogKey("ra1", "web", "ra1:web:80"), true},
		{"controller ra1, an object", h1, store.ObjectKey(v1.KindUnit, "web"), false},
		{"controller ra1, ra2's status", h1, store.StatusKey(v1.KindUnit, "web", "ra2"), false},
		{"controller ra1, ra2's host record", h1, store.HostKey("ra2"), false},
		{"controller ra1, ra2's endpoint", h1, store.CatalogKey("ra2", "web", "ra2:web:80"), false},
		{"controller ra1 (leader role), a binding", h1, store.BindingKey(v1.KindUnit, "web"), true},
		{"controller ra2 (no leader role), a binding", h2, store.BindingKey(v1.KindUnit, "web"), false},
		{"controller ra2, an apply set", h2, store.ApplySetKey("app"), false},
		{"operator alice, an object", alice, store.ObjectKey(v1.KindUnit, "web"), true},
		{"operator alice, ra1's status", alice, store.StatusKey(v1.KindUnit, "web", "ra1"), false},
		{"operator alice, ra1's heartbeat", alice, store.AliveKey("ra1"), false},
		{"operator alice, a binding", alice, store.BindingKey(v1.KindUnit, "other"), false},
		{"read-only dash, an object", dash, store.ObjectKey(v1.KindUnit, "dash"), false},
	} {
		_, err := c.st.Put(ctx, c.key, status, 0)
		switch {
		case c.allow && err != nil:
			t.Errorf("%s: refused: %v", c.who, err)
		case !c.allow && err == nil:
			t.Errorf("%s: written, want refused", c.who)
		case !c.allow && !errors.Is(err, store.ErrPermissionDenied):
			t.Errorf("%s: %v, want a permission denied error", c.who, err)
		}
	}
	if kvs, _, err := dash.List(ctx, store.Prefix); err != nil || len(kvs) == 0 {
		t.Errorf("read-only dash lists %d keys, %v; want what was written", len(kvs), err)
	}
	// bob signs in with the password of his file, over TLS without a
	// client certificate of his own, and may only read.
	bob := []string{"--etcd-cacert", filepath.Join(dir, "ca.pem"), "--etcd-cert", filepath.Join(dir, "user-dash.pem"),
		"--etcd-key", filepath.Join(dir, "user-dash-key.pem"), "--etcd-user", "bob", "--etcd-password", "b0b-pass"}
	if out, errOut, code := applyctl(t, ep, "", append(bob, "get", "units")...); code != 0 {
		t.Errorf("get units as bob with his password: exit %d: %s%s", code, out, errOut)
	}
	_, errOut, code := applyctl(t, ep, "", append(bob, "apply", "-f", writeFile(t, "bob.yaml", parkedUnit))...)
	if code != 1 || !strings.Contains(errOut, "etcd refused") {
		t.Errorf("apply as read-only bob: exit %d, stderr %q; want etcd's refusal", code, errOut)
	}
	for _, st := range []*store.Store{h1, alice} {
		if _, err := st.DeletePrefix(ctx, store.Prefix); err != nil && !errors.Is(err, store.ErrPermissionDenied) {
			t.Fatal(err)
		}
	}
	rootSt := storeAs(t, dir, ep, "user-root")
	if _, err := rootSt.DeletePrefix(ctx, store.Prefix); err != nil {
		t.Fatal(err)
	}

	// The real binaries, each with its own credentials only.
	unit := writeFile(t, "web.yaml", `apiVersion: berth.dev/v1
kind: Unit
metadata: {name: roles-web, labels: {app: roles-web}}
spec:
  container:
    image: berth/testapp:latest
    ports: [{name: http, containerPort: 8080}]
  placement: {hosts: [ra1, ra2], replicas: 2}
---
apiVersion: berth.dev/v1
kind: Service
metadata: {name: roles-web}
spec:
  selector: {app: roles-web}
  port: http
`)
	startController(t, controllerOpts{name: "ra1", etcdEndpoints: ep, extra: etcdFlags(dir, "host-ra1")})
	startController(t, controllerOpts{name: "ra2", etcdEndpoints: ep, extra: etcdFlags(dir, "host-ra2")})
	asAlice := etcdFlags(dir, "user-alice")
	if out, errOut, code := applyctl(t, ep, "", append(asAlice, "apply", "-f", unit)...); code != 0 {
		t.Fatalf("apply as operator alice: exit %d: %s%s", code, out, errOut)
	}
	eventually(t, 90*time.Second, "roles-web RUNNING on ra1 and ra2, with its endpoints", func() (bool, string) {
		out, _, _ := applyctl(t, ep, "", append(asAlice, "get", "units", "roles-web")...)
		eps, _, _ := applyctl(t, ep, "", append(asAlice, "get", "endpoints", "roles-web")...)
		ok := strings.Count(out, "RUNNING") == 2 && strings.Contains(eps, "ra1") && strings.Contains(eps, "ra2")
		return ok, out + eps
	})
	_, errOut, code = applyctl(t, ep, "", append(etcdFlags(dir, "host-ra1"), "delete", "unit", "roles-web")...)
	if code != 1 || !strings.Contains(errOut, "etcd refused") || !strings.Contains(errOut, "permission denied") {
		t.Errorf("delete as controller ra1: exit %d, stderr %q; want 1 and etcd's refusal", code, errOut)
	}
	if out, errOut, code := applyctl(t, ep, "", append(asAlice, "delete", "unit", "roles-web")...); code != 0 {
		t.Fatalf("delete as operator alice: exit %d: %s%s", code, out, errOut)
	}
	eventually(t, 60*time.Second, "roles-web's containers and statuses gone", func() (bool, string) {
		out, _, _ := applyctl(t, ep, "", append(asAlice, "get", "units")...)
		ps, _ := docker("ps", "-aq", "--filter", "label=berth.dev/name=roles-web")
		return !strings.Contains(out, "roles-web") && strings.TrimSpace(ps) == "", out + ps
	})
}
