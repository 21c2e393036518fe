package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "berth.dev/berth/cmd/controller", "berth.dev/berth/cmd/applyctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// controller is a controller process started by a test.
type controller struct {
	t       *testing.T
	args    []string
	listen  string
	etcd    string // client URL applyctl talks to
	logPath string
	cmd     *exec.Cmd
	done    chan error
}

type controllerOpts struct {
	name          string
	dataDir       string
	etcdEndpoints string // "" starts the embedded etcd
	etcdClient    string // the embedded etcd's client URL, when embedded
	ttl           string
	extra         []string
}

func startController(t *testing.T, o controllerOpts) *controller {
	t.Helper()
	c := newController(t, o)
	c.start()
	return c
}

// newController makes a controller of o that is not started yet: start
// (or launch) runs it, and it is killed at cleanup.
func newController(t *testing.T, o controllerOpts) *controller {
	t.Helper()
	requireDocker(t) // the controller is ready only with its engine
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.ttl == "" {
		o.ttl = "3s"
	}
	c := &controller{t: t, listen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	c.args = []string{"--host-name", o.name, "--data-dir", o.dataDir, "--listen", c.listen,
		"--dns-listen", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "--heartbeat-ttl", o.ttl}
	if o.etcdEndpoints != "" {
		c.args = append(c.args, "--etcd-endpoints", o.etcdEndpoints)
		c.etcd = o.etcdEndpoints
	} else {
		if o.etcdClient == "" {
			o.etcdClient = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
		}
		c.args = append(c.args, "--etcd-listen-client", o.etcdClient,
			"--etcd-listen-peer", fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)))
		c.etcd = o.etcdClient
	}
	if !slices.Contains(o.extra, "--allowed-host-paths") {
		// Never the machine's /var/lib/berth-volumes, which the
		// controller creates when it is missing.
		c.args = append(c.args, "--allowed-host-paths", filepath.Join(t.TempDir(), "berth-volumes"))
	}
	if !slices.Contains(o.extra, "--container-dns") {
		// Every controller of the tests shares the engine, and so the
		// berth network's gateway: only the tests of the container DNS
		// serve it, so that no other test's containers resolve through
		// a controller of another test.
		c.args = append(c.args, "--container-dns", "off")
	}
	c.args = append(c.args, o.extra...)
	c.logPath = filepath.Join(t.TempDir(), o.name+".log")
	// Cleanups run last-in first-out: the controller is killed, then the
	// containers it started for its host are removed.
	t.Cleanup(func() { removeHostContainers(t, o.name) })
	t.Cleanup(func() { c.kill() })
	return c
}

// start launches the controller and waits until /readyz is 200.
func (c *controller) start() {
	c.t.Helper()
	c.launch()
	eventually(c.t, 30*time.Second, "controller ready", func() (bool, string) {
		select {
		case err := <-c.done:
			c.done <- err
			return false, fmt.Sprintf("controller exited: %v\n%s", err, c.log())
		default:
		}
		code, body := httpGet("http://" + c.listen + "/readyz")
		return code == 200, fmt.Sprint(code, " ", body)
	})
}

// launch starts the controller process and returns at once.
func (c *controller) launch() {
	c.t.Helper()
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	c.cmd = exec.Command(filepath.Join(binDir, "controller"), c.args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait(); logf.Close() }()
}

func (c *controller) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// signal sends sig and waits for the process to exit, returning its error.
func (c *controller) signal(sig syscall.Signal) error {
	c.t.Helper()
	_ = c.cmd.Process.Signal(sig)
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(30 * time.Second):
		c.t.Fatalf("controller did not exit on %v:\n%s", sig, c.log())
	}
	return nil
}

func (c *controller) kill() {
	if c.cmd != nil && c.cmd.ProcessState == nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
		}
	}
}

// applyctl runs the applyctl binary against etcd and returns its stdout,
// stderr and exit code.
func applyctl(t *testing.T, etcd, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "applyctl"), append([]string{"--etcd-endpoints", etcd}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("applyctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually waits for conditions that say what they saw.
var eventually = testenv.Eventually[func() (bool, string)]

// repoFile returns the path of a file of the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
