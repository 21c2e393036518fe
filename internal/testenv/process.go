package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
)

// EtcdBinary returns the path of Debian's etcd on PATH, or "" when there is none.
func EtcdBinary() string {
	p, err := exec.LookPath("etcd")
	if err != nil {
		return ""
	}
	return p
}

// RequireEtcdBinary skips (fails under CI=true) the test when etcd is not on PATH.
func RequireEtcdBinary(t testing.TB) string {
	t.Helper()
	p := EtcdBinary()
	Require(t, p != "", "etcd binary not found on PATH (Debian: apt-get install etcd-server)")
	return p
}

// EtcdOption configures EtcdProcess.
type EtcdOption func(*etcdOptions)

type etcdOptions struct {
	certs *CertFiles
	flags []string
}

// WithTLS serves clients over TLS with certs' server certificate and requires client
// certificates signed by certs' CA (--client-cert-auth).
func WithTLS(certs CertFiles) EtcdOption {
	return func(o *etcdOptions) { o.certs = &certs }
}

// WithFlags adds command-line flags after the others, so they win, e.g.
// "--max-txn-ops=64" to lower the limit EtcdProcess raises.
func WithFlags(flags ...string) EtcdOption {
	return func(o *etcdOptions) { o.flags = append(o.flags, flags...) }
}

// EtcdProc is one etcd process started by EtcdProcess or EtcdCluster.
type EtcdProc struct {
	t       testing.TB
	Name    string
	DataDir string
	LogPath string // the process's stderr
	client  string
	args    []string
	opts    etcdOptions

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Pid returns the process id of the running etcd, or 0 when it is stopped.
func (p *EtcdProc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Endpoints returns the member's client URL.
func (p *EtcdProc) Endpoints() []string { return []string{p.client} }

// StoreConfig returns a store.Config for this member, with the client certificate when
// it serves TLS.
func (p *EtcdProc) StoreConfig() store.Config {
	cfg := store.Config{Endpoints: p.Endpoints(), DialTimeout: 2 * time.Second}
	if c := p.opts.certs; c != nil {
		cfg.CACert, cfg.Cert, cfg.Key = c.CACert, c.ClientCert, c.ClientKey
	}
	return cfg
}

// EtcdProcess starts Debian's etcd binary (skipping the test when it is absent, failing
// under CI=true) as a single-member cluster on free loopback ports with its data in
// t.TempDir(), and waits until it serves. Like every etcd berth starts, it takes
// store.EmbeddedMaxTxnOps operations in a transaction and store.EmbeddedMaxRequestBytes
// in a request. It is killed and waited for at cleanup.
func EtcdProcess(t testing.TB, opts ...EtcdOption) *EtcdProc {
	t.Helper()
	bin := RequireEtcdBinary(t)
	var o etcdOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := newProc(t, bin, "etcd0", o)
	p.args = append(p.args,
		"--initial-cluster", p.Name+"="+p.peerURL(),
		"--initial-cluster-state", "new")
	p.Start()
	return p
}

func newProc(t testing.TB, bin, name string, o etcdOptions) *EtcdProc {
	dir := t.TempDir()
	scheme := "http"
	if o.certs != nil {
		scheme = "https"
	}
	p := &EtcdProc{
		t:       t,
		Name:    name,
		DataDir: filepath.Join(dir, "data"),
		LogPath: filepath.Join(dir, "etcd.log"),
		client:  fmt.Sprintf("%s://127.0.0.1:%d", scheme, FreePort(t)),
		opts:    o,
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
	p.args = []string{bin,
		"--name", name,
		"--data-dir", p.DataDir,
		"--listen-client-urls", p.client,
		"--advertise-client-urls", p.client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--heartbeat-interval", "25",
		"--election-timeout", "250",
		"--logger", "zap",
		"--log-level", "warn",
		// The limits SECURITY.md starts etcd with, as the embedded etcd has
		// them (Debian's defaults, 128 and 1.5 MiB, refuse an apply of a
		// few hundred objects); WithFlags may lower them again.
		"--max-txn-ops", strconv.Itoa(store.EmbeddedMaxTxnOps),
		"--max-request-bytes", strconv.Itoa(store.EmbeddedMaxRequestBytes),
	}
	if c := o.certs; c != nil {
		p.args = append(p.args,
			"--cert-file", c.ServerCert,
			"--key-file", c.ServerKey,
			"--trusted-ca-file", c.CACert,
			"--client-cert-auth")
	}
	p.args = append(p.args, o.flags...)
	t.Cleanup(p.kill)
	return p
}

func (p *EtcdProc) peerURL() string {
	for i, a := range p.args {
		if a == "--initial-advertise-peer-urls" {
			return p.args[i+1]
		}
	}
	panic("testenv: no peer URL")
}

// Start starts the process (again, on the same data after Stop) and waits until it
// serves a linearizable read. Call it from the test goroutine.
func (p *EtcdProc) Start() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	if err := p.waitReady(30 * time.Second); err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
}

func (p *EtcdProc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("etcd %s already running", p.Name)
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = cleanEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start etcd %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// cleanEnv drops ETCD_* variables, which etcd would read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitReady polls until a linearizable read through this member succeeds.
func (p *EtcdProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("etcd %s exited during start\n%s", p.Name, p.Tail())
		}
		cfg := p.StoreConfig()
		cfg.DialTimeout = time.Second
		s, err := store.New(context.Background(), cfg)
		if err == nil {
			s.Close()
			return nil
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	return fmt.Errorf("etcd %s not ready after %s: %v\n%s", p.Name, timeout, lastErr, p.Tail())
}

func (p *EtcdProc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop stops the process with SIGTERM (SIGKILL after 10s) and waits for it; its data
// stays for Start.
func (p *EtcdProc) Stop() {
	p.stop(syscall.SIGTERM, 10*time.Second)
}

func (p *EtcdProc) kill() { p.stop(syscall.SIGKILL, 0) }

func (p *EtcdProc) stop(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	if grace > 0 {
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Tail returns the last lines of the process's stderr, for failure messages.
func (p *EtcdProc) Tail() string { return TailFile(p.LogPath) }

// TailFile returns the last 20 lines of a log file under a heading that
// names it, for failure messages.
func TailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "--- tail of " + path + " ---\n" + strings.Join(lines, "\n")
}

// Cluster is a static etcd cluster of Debian's etcd processes.
type Cluster struct {
	Members []*EtcdProc
}

// Endpoints returns the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.client)
	}
	return eps
}

// EtcdCluster starts n members of Debian's etcd as a static cluster on loopback ports
// (skipping the test when etcd is absent, failing under CI=true) and waits until every
// member serves linearizable reads; they have EtcdProcess's limits. They are killed at
// cleanup.
func EtcdCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := RequireEtcdBinary(t)
	c := &Cluster{}
	var initial []string
	for i := 0; i < n; i++ {
		m := newProc(t, bin, fmt.Sprintf("etcd%d", i), etcdOptions{})
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.peerURL())
	}
	for _, m := range c.Members {
		m.args = append(m.args,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "berth-test")
		if err := m.start(); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	var errs []error
	for _, m := range c.Members {
		if err := m.waitReady(30 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("testenv: etcd cluster: %v", errors.Join(errs...))
	}
	return c
}
