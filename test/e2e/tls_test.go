package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/testenv"
)

// TestTLSAndAuth runs both binaries against a real etcd that the test
// starts with TLS and client certificates, then with authentication: the
// right credentials work, wrong ones give a clear error at once.
func TestTLSAndAuth(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	p := testenv.EtcdProcess(t, testenv.WithTLS(certs))
	ep := p.Endpoints()[0]
	if !strings.HasPrefix(ep, "https://") {
		t.Fatalf("etcd endpoint %q is not TLS", ep)
	}
	tlsFlags := []string{"--etcd-cacert", certs.CACert, "--etcd-cert", certs.ClientCert, "--etcd-key", certs.ClientKey}
	todo := writeFile(t, "unit.yaml", parkedUnit)

	out, errOut, code := applyctl(t, ep, "", append(tlsFlags, "apply", "-f", todo)...)
	if code != 0 || !strings.Contains(out, "unit/parked created") {
		t.Fatalf("apply over TLS: code %d out %q err %q", code, out, errOut)
	}

	c := startController(t, controllerOpts{name: "e2e-tls", etcdEndpoints: ep, extra: tlsFlags})
	out, _, code = applyctl(t, ep, "", append(tlsFlags, "get", "hosts")...)
	if code != 0 || !strings.Contains(out, "e2e-tls") || !strings.Contains(out, "UP") {
		t.Fatalf("get hosts over TLS: %q", out)
	}
	c.kill()

	bad := []struct {
		name  string
		flags []string
		want  string
	}{
		{"wrong CA", []string{"--etcd-cacert", certs.OtherCACert, "--etcd-cert", certs.ClientCert, "--etcd-key", certs.ClientKey}, "certificate"},
		{"no client certificate", []string{"--etcd-cacert", certs.CACert}, "certificate"},
		{"client certificate of another CA", []string{"--etcd-cacert", certs.CACert, "--etcd-cert", certs.OtherClientCert, "--etcd-key", certs.OtherClientKey}, "certificate"},
	}
	for _, b := range bad {
		start := time.Now()
		_, errOut, code := applyctl(t, ep, "", append(b.flags, "--request-timeout", "5s", "get", "units")...)
		if code != 1 || !strings.Contains(errOut, b.want) {
			t.Errorf("%s: applyctl exit %d, stderr %q; want 1 and a message about the %s", b.name, code, errOut, b.want)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: applyctl took %s to fail", b.name, d)
		}
		cmd := exec.Command(binDir+"/controller", append(b.flags, "--etcd-endpoints", ep, "--host-name", "e2e-bad", "--data-dir", t.TempDir(),
			"--listen", "127.0.0.1:0")...)
		outb, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(outb), b.want) {
			t.Errorf("%s: controller %v, output %q; want it to exit with a message about the %s", b.name, err, outb, b.want)
		}
	}
}

func TestAuthPassword(t *testing.T) {
	t.Parallel()
	etcdctl, err := exec.LookPath("etcdctl")
	testenv.Require(t, err == nil, "etcdctl not found on PATH (Debian: apt-get install etcd-client)")
	p := testenv.EtcdProcess(t)
	ep := p.Endpoints()[0]
	for _, args := range [][]string{{"user", "add", "root:rootpw"}, {"auth", "enable"}} {
		cmd := exec.Command(etcdctl, append([]string{"--endpoints", ep, "--dial-timeout", "5s"}, args...)...)
		cmd.Env = []string{"ETCDCTL_API=3"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
	}
	good := []string{"--etcd-user", "root", "--etcd-password", "rootpw"}
	out, errOut, code := applyctl(t, ep, "", append(good, "apply", "-f", writeFile(t, "unit.yaml", parkedUnit))...)
	if code != 0 || !strings.Contains(out, "unit/parked created") {
		t.Fatalf("apply with the password: code %d out %q err %q", code, out, errOut)
	}
	startController(t, controllerOpts{name: "e2e-auth", etcdEndpoints: ep, extra: good})

	_, errOut, code = applyctl(t, ep, "", "--etcd-user", "root", "--etcd-password", "nope", "get", "units")
	if code != 1 || !strings.Contains(errOut, "authentication failed") {
		t.Errorf("wrong password: exit %d, stderr %q", code, errOut)
	}
	cmd := exec.Command(binDir+"/controller", "--etcd-endpoints", ep, "--etcd-user", "root", "--etcd-password", "nope",
		"--host-name", "e2e-bad", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	outb, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(outb), "authentication failed") {
		t.Errorf("controller with a wrong password: %v, %q", err, outb)
	}
	if strings.Contains(string(outb), "nope") || strings.Contains(errOut, "nope") {
		t.Errorf("the password is echoed in an error")
	}
}

// parkedUnit is placed on a host that does not exist: it is stored and
// read back, and no container is started for it.
const parkedUnit = `apiVersion: berth.dev/v1
kind: Unit
metadata: {name: parked}
spec:
  container: {image: berth/testapp:latest}
  placement: {hosts: [no-such-host]}
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
