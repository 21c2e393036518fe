package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/internal/testenv"
)

// TestReadmeWalkThrough runs the README's shell blocks as a user would,
// one after the other in the folder of a checkout, against a controller
// started as on a machine that never ran berth: its --data-dir and
// --allowed-host-paths are folders of the test that do not exist yet (the
// machine's /var/lib/berth and /var/lib/berth-volumes are never touched).
// Every command's exit code and shown output must be what the README says
// (readme_compare_test.go says how they are compared).
//
// The commands run as written but for what points them at this
// controller rather than the machine's: applyctl finds its etcd in
// BERTH_ETCD_ENDPOINTS, /var/lib/berth-volumes (in the commands and the
// manifests of the checkout) is the test's folder, the API's port 8500
// and DNS's 8600 are the controller's, and the host the README calls vm
// is the controller's host name; its output is mapped back the same way.
// A read-only command (get, describe, status, dig, a curl GET, ...) is
// run again until it matches or a minute has passed, as a user looks
// again at something still starting; one that streams (get -w, logs -f)
// is interrupted, as with Ctrl-C, once it has shown what the README shows.
//
// It does not run in parallel with the other tests: the README's names
// and ports (todo, port 8000, ...) are fixed, and every controller on the
// engine registers a plain docker run container, so the walk-through sees
// the catalog of a machine where nothing else runs.
func TestReadmeWalkThrough(t *testing.T) {
	requireDocker(t)
	for _, img := range []string{"berth/todo:latest", "berth/sqliteserver:latest", "berth/sqliteproxy:latest", "berth/hello:latest", testImage} {
		if out, err := docker("image", "inspect", "--format", "{{.Id}}", img); err != nil {
			testenv.Require(t, false, "image %s missing: run hack/images.sh (%s)", img, out)
		}
	}
	for _, cmd := range []string{"bash", "curl", "dig", "nc"} {
		_, err := exec.LookPath(cmd)
		testenv.Require(t, err == nil, "%s not found on PATH: the README's commands run it (hack/deps.sh --test installs it)", cmd)
	}
	requireReadmeResources(t)
	blocks := readmeBlocks(t, repoFile(t, "README.md"))
	w := newReadmeWalk(t)
	for _, b := range blocks {
		if b.notRun != "" {
			t.Logf("README.md:%d: not run: %s", b.line, b.notRun)
			continue
		}
		for _, s := range b.steps {
			w.run(s)
		}
	}
}

// requireReadmeResources checks that what the README's examples name,
// and which is global to the machine, is free: their host ports and
// container names.
func requireReadmeResources(t *testing.T) {
	t.Helper()
	for _, port := range []int{8000, 12345, 12346, 4711} {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		testenv.Require(t, err == nil, "port %d, which the README's examples publish, is in use: %v", port, err)
		if err == nil {
			ln.Close()
		}
	}
	out := mustDocker(t, "ps", "-a", "--format", "{{.Names}}")
	for _, name := range strings.Fields(out) {
		switch {
		case name == "files", strings.HasPrefix(name, "berth-job-netcat"),
			name == "berth-unit-todo", name == "berth-unit-sqliteserver", name == "berth-unit-sqliteproxy":
			testenv.Require(t, false, "container %s, which the README's examples name, exists: remove it (docker rm -f %s)", name, name)
		}
	}
}

// readmeWalk is the user's world of TestReadmeWalkThrough.
type readmeWalk struct {
	t       *testing.T
	dir     string // the checkout the commands run in
	env     []string
	c       *controller
	host    string
	volumes string // the test's /var/lib/berth-volumes
	toTest  []rewrite
	toREAD  *strings.Replacer
}

type rewrite struct {
	re   *regexp.Regexp
	with string
}

func newReadmeWalk(t *testing.T) *readmeWalk {
	t.Helper()
	fresh := filepath.Join(t.TempDir(), "never-ran-berth")
	w := &readmeWalk{t: t, host: "e2e-readme-" + randomSuffix(6),
		volumes: filepath.Join(fresh, "var", "lib", "berth-volumes")}
	w.c = startController(t, controllerOpts{name: w.host, dataDir: filepath.Join(fresh, "var", "lib", "berth"),
		extra: []string{"--allowed-host-paths", w.volumes}})
	w.dir = readmeCheckout(t, w.volumes)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			w.env = append(w.env, kv)
		}
	}
	w.env = append(w.env, "BERTH_ETCD_ENDPOINTS="+w.c.etcd)
	dns := w.c.dnsAddr()
	_, dnsPort, _ := net.SplitHostPort(dns)
	w.toTest = []rewrite{
		{regexp.MustCompile(`/var/lib/berth-volumes\b`), w.volumes},
		{regexp.MustCompile(`\b(localhost|127\.0\.0\.1):8500\b`), w.c.listen},
		{regexp.MustCompile(`-p 8600\b`), "-p " + dnsPort},
		{regexp.MustCompile(`\bvm\b`), w.host},
	}
	w.toREAD = strings.NewReplacer(w.volumes, "/var/lib/berth-volumes", w.host, "vm", w.c.listen, "localhost:8500", dns, "127.0.0.1:8600")
	return w
}

// readmeCheckout makes the folder the README's commands run in: a copy of
// the repository (without .git) whose /var/lib/berth-volumes, in the
// manifests and the converter's examples, is volumes, and whose bin/
// holds the binaries TestMain built.
func readmeCheckout(t *testing.T, volumes string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "berth")
	repo := repoFile(t, ".")
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, path)
		switch {
		case d.IsDir() && (rel == ".git" || rel == "bin"):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), bytes.ReplaceAll(b, []byte("/var/lib/berth-volumes"), []byte(volumes)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"applyctl", "controller"} {
		if err := os.Symlink(filepath.Join(binDir, b), filepath.Join(dir, "bin", b)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var (
	streamRe    = regexp.MustCompile(`^bin/applyctl (get .* (-w|--watch)|logs .* (-f|--follow))\b`)
	lookRe      = regexp.MustCompile(`^(bin/applyctl (get|describe|status|jobs|hosts|history|diff|logs)|dig|curl|nc)\s`)
	curlWriteRe = regexp.MustCompile(`\s(-X\s*[A-Z]|-d|--data\S*)\s`)
	dockerRunRe = regexp.MustCompile(`^docker run\b`)
)

// readOnly reports whether the command line plain (without its comment)
// only looks: one command, and no curl that sends anything.
func readOnly(plain string) bool {
	return lookRe.MatchString(plain) && !strings.ContainsAny(plain, "|&;><") && !curlWriteRe.MatchString(plain+" ")
}

// run runs one step of the README and fails the test when its exit code
// or output is not the README's.
func (w *readmeWalk) run(s readmeStep) {
	w.t.Helper()
	cmd := s.cmd
	for _, r := range w.toTest {
		cmd = r.re.ReplaceAllString(cmd, r.with)
	}
	w.t.Logf("README.md:%d: $ %s", s.line, s.cmd)
	where := fmt.Sprintf("README.md:%d: $ %s\n  (run as: %s;\n  make the README say what it does, or mark a block that cannot run here with <!-- not run: REASON -->)\n", s.line, s.cmd, cmd)
	plain := strings.TrimSpace(strings.TrimSuffix(s.cmd, shellComment(s.cmd)))
	plain = strings.TrimSpace(strings.TrimSuffix(plain, "#"))
	switch {
	case streamRe.MatchString(plain):
		w.stream(cmd, s, where)
	case readOnly(plain):
		eventually(w.t, time.Minute, where+"  shows what the README shows, run again", func() (bool, string) {
			out, code := w.exec(cmd, 2*time.Minute)
			diff := w.check(s, out, code)
			return diff == "", "\n" + diff
		})
	default:
		out, code := w.exec(cmd, 5*time.Minute)
		if dockerRunRe.MatchString(plain) {
			w.removeAtEnd(out)
		}
		if diff := w.check(s, out, code); diff != "" {
			w.t.Fatalf("%s%s", where, diff)
		}
	}
}

// check returns "" when out and code are what the README shows for s.
func (w *readmeWalk) check(s readmeStep, out string, code int) string {
	if code != s.exit {
		return fmt.Sprintf("  exit code %d, the README says %d; it printed:\n%s", code, s.exit, out)
	}
	if len(s.want) == 0 {
		return ""
	}
	return compareOutput(s.want, out, w.toREAD.Replace)
}

// exec runs cmd with bash in w.dir and returns what it printed on
// standard output and error, interleaved as on a terminal, and its exit
// code.
func (w *readmeWalk) exec(cmd string, timeout time.Duration) (string, int) {
	w.t.Helper()
	c, out, done := w.start(cmd)
	select {
	case err := <-done:
		return out.String(), exitCode(w.t, err)
	case <-time.After(timeout):
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
		w.t.Fatalf("$ %s: still running after %s; it printed:\n%s", cmd, timeout, out.String())
		return "", 0
	}
}

// stream runs a command that streams until it is interrupted: once it has
// shown what the README shows (or anything, when the README shows
// nothing), it gets SIGINT, as from Ctrl-C.
func (w *readmeWalk) stream(cmd string, s readmeStep, where string) {
	w.t.Helper()
	c, out, done := w.start(cmd)
	defer func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
			w.t.Errorf("%s  did not stop on SIGINT", where)
		}
	}()
	eventually(w.t, time.Minute, where+"  shows what the README shows", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Sprintf("it exited (%v) before being interrupted; it printed:\n%s", err, out.String())
		default:
		}
		got := out.String()
		if len(s.want) == 0 {
			return strings.Contains(got, "\n"), "nothing printed yet"
		}
		diff := compareOutput(s.want, got, w.toREAD.Replace)
		return diff == "", diff
	})
}

// start starts cmd with bash in w.dir, in a process group of its own,
// its standard output and error going to out in the order written, and
// its end reported on done.
func (w *readmeWalk) start(cmd string) (c *exec.Cmd, out *testenv.Buffer, done chan error) {
	w.t.Helper()
	c = exec.Command("bash", "-c", cmd)
	c.Dir, c.Env = w.dir, w.env
	out = &testenv.Buffer{}
	c.Stdout, c.Stderr = out, out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		w.t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- c.Wait() }()
	return c, out, done
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

// removeAtEnd removes, when the test ends, the container whose id the
// docker run that printed out printed.
func (w *readmeWalk) removeAtEnd(out string) {
	f := strings.Fields(out)
	if len(f) == 0 {
		return
	}
	id := f[len(f)-1]
	w.t.Cleanup(func() {
		if out, err := docker("rm", "-f", "-v", id); err != nil && !strings.Contains(out, "No such") {
			w.t.Logf("cleanup: docker rm -f %s: %v: %s", id, err, out)
		}
	})
}
