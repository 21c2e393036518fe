package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/testenv"
)

// TestEmbeddedEtcdTLS runs a controller whose embedded etcd serves TLS and
// asks for client certificates: applyctl with --etcd-cacert, --etcd-cert
// and --etcd-key applies a Unit the controller runs; without a
// certificate, or over plain HTTP, it gets nothing. A listen address off
// loopback without TLS and client certificates is refused at start.
func TestEmbeddedEtcdTLS(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	client := []string{"--etcd-cacert", certs.CACert, "--etcd-cert", certs.ClientCert, "--etcd-key", certs.ClientKey}
	server := []string{"--etcd-server-cert", certs.ServerCert, "--etcd-server-key", certs.ServerKey, "--etcd-client-ca", certs.CACert}
	h := newUnitHost(t, controllerOpts{}, true)
	ep := fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t))
	h.c = startController(t, controllerOpts{name: h.name, etcdClient: ep, extra: append(append([]string{}, server...), client...)})
	h.etcd = ep

	doc := h.doc("secure", testapp("", ""))
	out, errOut, code := applyctl(t, ep, doc, append(client, "apply", "-f", "-")...)
	if code != 0 || !strings.Contains(out, "unit/"+h.unit("secure")+" created") {
		t.Fatalf("apply over TLS with a client certificate: exit %d: %s%s", code, out, errOut)
	}
	eventually(t, 30*time.Second, h.unit("secure")+" RUNNING on "+h.name, func() (bool, string) {
		out, errOut, code := applyctl(t, ep, "", append(client, "get", "units", h.unit("secure"))...)
		return code == 0 && strings.Contains(out, "RUNNING"), out + errOut
	})
	if out, errOut, code := applyctl(t, ep, "", append(client, "get", "hosts")...); code != 0 || !strings.Contains(out, h.name) || !strings.Contains(out, "UP") {
		t.Errorf("get hosts over TLS: exit %d: %s%s", code, out, errOut)
	}

	for _, bad := range []struct {
		name, endpoint string
		flags          []string
	}{
		{"no client certificate", ep, []string{"--etcd-cacert", certs.CACert}},
		{"a client certificate of another CA", ep, []string{"--etcd-cacert", certs.CACert, "--etcd-cert", certs.OtherClientCert, "--etcd-key", certs.OtherClientKey}},
		{"plain HTTP", strings.Replace(ep, "https://", "http://", 1), nil},
	} {
		start := time.Now()
		out, errOut, code := applyctl(t, bad.endpoint, doc, append(bad.flags, "--request-timeout", "5s", "get", "units")...)
		if code != 1 || strings.Contains(out, h.unit("secure")) {
			t.Errorf("%s: applyctl get units: exit %d, stdout %q, stderr %q; want exit 1 and nothing read", bad.name, code, out, errOut)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%s: applyctl took %s to fail", bad.name, d)
		}
	}

	// Off loopback: TLS with client certificates, or --insecure-etcd.
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"plain HTTP on every address", []string{"--etcd-listen-client", "http://0.0.0.0:2379"},
			"--etcd-listen-client http://0.0.0.0:2379 is not a loopback address"},
		{"TLS on every address without client certificates", append([]string{"--etcd-listen-client", "https://0.0.0.0:2379",
			"--etcd-server-cert", certs.ServerCert, "--etcd-server-key", certs.ServerKey}, client...),
			"give --etcd-client-ca too"},
		{"the peer on every address", []string{"--etcd-listen-peer", "http://0.0.0.0:2380"},
			"--etcd-listen-peer http://0.0.0.0:2380 is not a loopback address"},
	} {
		cmd := exec.Command(binDir+"/controller", append([]string{"--host-name", "e2e-etcd-refused", "--data-dir", t.TempDir(),
			"--listen", "127.0.0.1:0"}, tc.flags...)...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "--insecure-etcd") {
			t.Errorf("%s: controller %v, output %q; want exit 1 saying %q and naming --insecure-etcd", tc.name, err, out, tc.want)
		}
	}
}
