package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"berth.dev/berth/internal/testenv"
)

// apiController is a controller whose HTTP API is not plain HTTP on
// loopback, and the client that reaches it.
type apiController struct {
	*controller
	base   string       // scheme://host:port of the API
	client *http.Client // trusts the test CA
}

// startAPIController starts a controller as startController does, with
// --listen listen and the extra flags of o, and waits until /readyz
// answers 200 at base through client.
func startAPIController(t *testing.T, o controllerOpts, listen, base string, client *http.Client) *apiController {
	t.Helper()
	requireDocker(t)
	c := &controller{t: t, listen: listen, etcd: fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))}
	c.args = append([]string{"--host-name", o.name, "--data-dir", t.TempDir(), "--listen", listen,
		"--dns-listen", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "--heartbeat-ttl", "3s",
		"--etcd-listen-client", c.etcd, "--etcd-listen-peer", fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
		"--advertise-address", "127.0.0.1", "--log-level", "debug",
		"--allowed-host-paths", filepath.Join(t.TempDir(), "berth-volumes")}, o.extra...)
	c.logPath = filepath.Join(t.TempDir(), o.name+".log")
	t.Cleanup(func() { removeHostContainers(t, o.name) })
	t.Cleanup(func() { c.kill() })

	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(filepath.Join(binDir, "controller"), c.args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait(); logf.Close() }()
	a := &apiController{controller: c, base: base, client: client}
	eventually(t, 30*time.Second, "controller ready at "+base, func() (bool, string) {
		select {
		case err := <-c.done:
			c.done <- err
			return false, fmt.Sprintf("controller exited: %v\n%s", err, c.log())
		default:
		}
		code, body := a.do("GET", "/readyz", "", nil)
		return code == 200, fmt.Sprint(code, " ", body)
	})
	return a
}

// do sends one request to the API, with token as X-Consul-Token unless
// it is "", and returns the status code and body.
func (a *apiController) do(method, path, token string, body []byte) (int, string) {
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// consul returns the real Consul client speaking HTTPS to the controller,
// trusting the test CA, with token ("" for none).
func (a *apiController) consul(caFile, token string) *consul.Client {
	a.t.Helper()
	cfg := consul.DefaultNonPooledConfig()
	cfg.Address, cfg.Scheme, cfg.Token, cfg.Datacenter = a.listen, "https", token, ""
	cfg.TLSConfig = consul.TLSConfig{CAFile: caFile}
	cl, err := consul.NewClient(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	return cl
}

// tlsSetup makes the test certificates, a token file holding token, and a
// client that trusts the test CA.
func tlsSetup(t *testing.T, token string) (testenv.CertFiles, string, *http.Client) {
	t.Helper()
	certs := testenv.Certs(t)
	tokenFile := writeFile(t, "api-token", token+"\n")
	ca, err := os.ReadFile(certs.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("the test CA is not PEM")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	return certs, tokenFile, client
}

// TestAPIOverTLSWithToken: a controller serving its API over TLS with a
// token takes registrations and check updates from the Consul client that
// sends the token, refuses them without it or with a wrong one, keeps
// reads open, refuses an oversized body and keeps serving, and serves
// applyctl logs only with --api-token-file.
func TestAPIOverTLSWithToken(t *testing.T) {
	t.Parallel()
	const token = "e2e-api-T0ken"
	certs, tokenFile, client := tlsSetup(t, token)
	h := newUnitHost(t, controllerOpts{}, true)
	port := testenv.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	a := startAPIController(t, controllerOpts{name: h.name, extra: []string{
		"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--api-token-file", tokenFile,
	}}, listen, "https://"+listen, client)
	h.c, h.etcd = a.controller, a.etcd

	if code, body := httpGet("http://" + listen + "/v1/catalog/services"); code != 400 {
		t.Errorf("plain HTTP to the API: %d %q, want 400 (it serves HTTPS only)", code, body)
	}

	withToken := a.consul(certs.CACert, token)
	noToken := a.consul(certs.CACert, "")
	wrongToken := a.consul(certs.CACert, "not-the-token")
	svc := func(name string) *consul.AgentServiceRegistration {
		return &consul.AgentServiceRegistration{ID: h.sfx + "-" + name, Name: h.sfx + "-" + name, Port: 8080, Address: "127.0.0.1",
			Check: &consul.AgentServiceCheck{TTL: "1m", Status: "critical"}}
	}

	// Refused first: if a refused registration were written, it would be
	// in the catalog by the time the accepted one that follows is.
	for _, tc := range []struct {
		who string
		cl  *consul.Client
	}{{"without a token", noToken}, {"with a wrong token", wrongToken}} {
		err := tc.cl.Agent().ServiceRegister(svc("refused"))
		if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Permission denied") {
			t.Errorf("register %s: %v, want 403 Permission denied", tc.who, err)
		}
		if err != nil && strings.Contains(err.Error(), "not-the-token") {
			t.Errorf("register %s: the error repeats the token sent: %v", tc.who, err)
		}
	}
	if err := withToken.Agent().ServiceRegister(svc("web")); err != nil {
		t.Fatalf("register with the token: %v", err)
	}
	var services map[string][]string
	eventually(t, 10*time.Second, "the registered service in the catalog, read without a token", func() (bool, string) {
		var err error
		services, _, err = noToken.Catalog().Services(nil)
		_, ok := services[h.sfx+"-web"]
		return ok, fmt.Sprint(services, err)
	})
	if _, ok := services[h.sfx+"-refused"]; ok {
		t.Errorf("a refused registration is in the catalog: %v", services)
	}

	// Check updates need the token too.
	checkID := "service:" + h.sfx + "-web"
	if err := noToken.Agent().UpdateTTL(checkID, "from nobody", consul.HealthPassing); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("check update without a token: %v, want 403", err)
	}
	if err := withToken.Agent().UpdateTTL(checkID, "all good", consul.HealthPassing); err != nil {
		t.Errorf("check update with the token: %v", err)
	}
	eventually(t, 10*time.Second, "the check passing after the update with the token", func() (bool, string) {
		entries, _, err := noToken.Health().Service(h.sfx+"-web", "", true, nil)
		return err == nil && len(entries) == 1, fmt.Sprint(len(entries), err)
	})

	// An oversized body is refused, and the controller keeps serving.
	huge := append([]byte(`{"Name":"huge","Meta":{"k":"`), bytes.Repeat([]byte("x"), 2<<20)...)
	huge = append(huge, `"}}`...)
	if code, body := a.do("PUT", "/v1/agent/service/register", token, huge); code != 413 || !strings.Contains(body, "request body larger than 1048576 bytes") {
		t.Errorf("a 2 MiB registration: %d %q, want 413 naming the limit", code, body)
	}
	if code, body := a.do("GET", "/readyz", "", nil); code != 200 {
		t.Errorf("/readyz after the oversized body: %d %q", code, body)
	}
	if _, _, err := noToken.Catalog().Service(h.sfx+"-web", "", nil); err != nil {
		t.Errorf("a catalog read after the oversized body: %v", err)
	}

	// The host record tells applyctl to speak HTTPS.
	out, _, code := applyctl(t, h.etcd, "", "get", "host", h.name, "-o", "json")
	if code != 0 || !strings.Contains(out, `"httpScheme": "https"`) {
		t.Errorf("get host %s -o json: exit %d, want httpScheme https:\n%s", h.name, code, out)
	}

	// applyctl logs: refused without the token, and with a wrong one;
	// served with the token and the CA.
	h.apply(h.doc("app", testapp("    args: [\"--listen\", \":8080\"]\n", "")))
	h.waitRunning("app", 60*time.Second)
	wrongFile := writeFile(t, "wrong-token", "not-the-token\n")
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"without --api-token-file", []string{"--api-cacert", certs.CACert},
			"Error: host " + h.name + " refused: a token is required (--api-token-file)\n"},
		{"with a wrong token", []string{"--api-cacert", certs.CACert, "--api-token-file", wrongFile},
			"Error: host " + h.name + " refused the token of --api-token-file " + wrongFile + "\n"},
		{"without the CA", []string{"--api-token-file", tokenFile}, "(give the CA of its certificate with --api-cacert)"},
	} {
		out, errOut, code := applyctl(t, h.etcd, "", append(tc.flags, "logs", "unit", h.unit("app"))...)
		if code != 1 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("applyctl logs %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.name, code, out, errOut, tc.want)
		}
		if strings.Contains(errOut, token) || strings.Contains(errOut, "not-the-token") {
			t.Errorf("applyctl logs %s: stderr repeats a token: %q", tc.name, errOut)
		}
	}
	eventually(t, 20*time.Second, "applyctl logs with --api-token-file and --api-cacert", func() (bool, string) {
		out, errOut, code := applyctl(t, h.etcd, "", "--api-token-file", tokenFile, "--api-cacert", certs.CACert, "logs", "unit", h.unit("app"))
		return code == 0 && strings.Contains(out, "listening on tcp"), fmt.Sprintf("exit %d, stdout %q, stderr %q", code, out, errOut)
	})
	out, errOut, code := applyctl(t, h.etcd, "", "--api-token-file", tokenFile, "--api-cacert", certs.CACert, "status", "unit", h.unit("app"))
	if code != 0 || !strings.Contains(out, "listening on tcp") {
		t.Errorf("applyctl status with the token: exit %d, want the logs' lines:\n%s%s", code, out, errOut)
	}
}

// TestAPIReadsNeedToken: under --api-reads token, reads need the token
// too, except /healthz and /readyz.
func TestAPIReadsNeedToken(t *testing.T) {
	t.Parallel()
	const token = "e2e-reads-T0ken"
	certs, tokenFile, client := tlsSetup(t, token)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	a := startAPIController(t, controllerOpts{name: "e2e-reads-" + randomSuffix(6), extra: []string{
		"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--api-token-file", tokenFile, "--api-reads", "token",
	}}, listen, "https://"+listen, client)

	if _, _, err := a.consul(certs.CACert, "").Catalog().Services(nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a catalog read without the token: %v, want 403", err)
	}
	if _, _, err := a.consul(certs.CACert, token).Catalog().Services(nil); err != nil {
		t.Errorf("a catalog read with the token: %v", err)
	}
	for _, path := range []string{"/metrics", "/v1/prometheus/targets", "/v1/health/state/any"} {
		if code, body := a.do("GET", path, "", nil); code != 403 || !strings.HasPrefix(body, "Permission denied") {
			t.Errorf("GET %s without the token: %d %q, want 403 Permission denied", path, code, body)
		}
	}
	code, body := a.do("GET", "/metrics", token, nil)
	if code != 200 || !strings.Contains(body, `berth_api_requests_denied_total{reason="no_token"} 4`) {
		t.Errorf("GET /metrics with the token: %d; want the 4 refusals counted in berth_api_requests_denied_total:\n%.2000s", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := a.do("GET", path, "", nil); code != 200 {
			t.Errorf("GET %s without the token: %d %q, want 200", path, code, body)
		}
	}
}

// TestAPINotLoopbackNeedsTLSOrInsecureHTTP: a controller told to listen on
// every address refuses to start without TLS or --insecure-http, and
// starts with --insecure-http; without a token file it then refuses writes
// from addresses other than loopback.
func TestAPINotLoopbackNeedsTLSOrInsecureHTTP(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	everywhere := fmt.Sprintf("0.0.0.0:%d", port)
	cmd := exec.Command(filepath.Join(binDir, "controller"), "--host-name", "e2e-open", "--data-dir", t.TempDir(),
		"--listen", everywhere, "--dns-listen", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	out, err := cmd.CombinedOutput()
	want := "--listen " + everywhere + " is not a loopback address: give --tls-cert and --tls-key to serve HTTPS there, or --insecure-http to serve plain HTTP"
	if err == nil || cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), want) {
		t.Fatalf("controller --listen %s: %v, output %q; want a non-zero exit saying %q", everywhere, err, out, want)
	}

	a := startAPIController(t, controllerOpts{name: "e2e-insecure-" + randomSuffix(6), extra: []string{"--insecure-http"}},
		everywhere, fmt.Sprintf("http://127.0.0.1:%d", port), http.DefaultClient)
	reg := []byte(`{"Name":"from-loopback","Port":1}`)
	if code, body := a.do("PUT", "/v1/agent/service/register", "", reg); code != 200 {
		t.Errorf("a registration from loopback without a token file: %d %q, want 200", code, body)
	}
	ip := nonLoopbackIPv4()
	if ip == "" {
		t.Log("no non-loopback IPv4 address on this machine: the refusal of other addresses is not exercised")
		return
	}
	other := &apiController{controller: a.controller, base: fmt.Sprintf("http://%s:%d", ip, port), client: http.DefaultClient}
	code, body := other.do("PUT", "/v1/agent/service/register", "", reg)
	if code != 403 || !strings.Contains(body, "no --api-token-file") {
		t.Errorf("a registration from %s without a token file: %d %q, want 403 saying there is no --api-token-file", ip, code, body)
	}
	if code, body := other.do("GET", "/v1/catalog/services", "", nil); code != 200 {
		t.Errorf("a read from %s: %d %q, want 200", ip, code, body)
	}
}

// nonLoopbackIPv4 returns an IPv4 address of this machine that is not
// loopback, or "".
func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}
