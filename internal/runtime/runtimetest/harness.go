package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/testenv"
)

// TestLabel marks every container and network the suite creates; its value
// is unique per test, and cleanup removes exactly what carries it.
const TestLabel = "berth.dev/test"

// CI reports whether the tests run in CI (CI=true), where a missing engine or
// image is a failure, never a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test on a developer's machine and fails it under CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf(format+" (CI=true: failing instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// Harness says how to run the suite against one implementation.
type Harness struct {
	// New returns the runtime under test; it is called once per test.
	New func(t *testing.T) runtime.Runtime
	// Image runs images/testapp (berth/testapp:latest for Docker). A fake
	// only needs it to exist.
	Image string
	// Real is true when containers run real processes: published ports
	// answer, Exec runs inside the container, Logs carry what the process
	// printed and processes exit on their own. The checks that need that are
	// run only when Real is true; when it is false the hooks below stand in
	// for the process.
	Real bool

	// Exit makes the process of a running container exit with code.
	Exit func(t *testing.T, rt runtime.Runtime, id string, code int)
	// Print makes the process of a running container print text.
	Print func(t *testing.T, rt runtime.Runtime, id, text string)
	// IgnoreStopSignal makes the process ignore its stop signal.
	IgnoreStopSignal func(t *testing.T, rt runtime.Runtime, id string)

	// Registry starts a registry for one test, with basic authentication
	// when auth is true, to pull from. Without it the pull tests are
	// skipped.
	Registry func(t *testing.T, rt runtime.Runtime, auth bool) Registry

	// RemoveNetwork removes a network the suite ensured (cleanup).
	RemoveNetwork func(ctx context.Context, rt runtime.Runtime, name string) error
	// RemoveVolume removes a volume the suite made (cleanup).
	RemoveVolume func(ctx context.Context, rt runtime.Runtime, name string) error
}

// Registry is a registry the pull tests use.
type Registry struct {
	// Host is its address, the first part of its image references.
	Host string
	// Username and Password are what it accepts, with authentication.
	Username, Password string
	// Push puts a new image at Host/repoTag whose added layer has size
	// bytes, absent from the runtime's engine, and returns the digest of
	// its manifest.
	Push func(t *testing.T, repoTag string, size int) (digest string)
}

// env is one test's view: its runtime, a unique name prefix and label.
type env struct {
	t      *testing.T
	h      Harness
	rt     runtime.Runtime
	prefix string
	label  string
	nets   []string
	vols   []string
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	short := unsafeName.ReplaceAllString(strings.ToLower(t.Name()[strings.LastIndex(t.Name(), "/")+1:]), "-")
	e := &env{t: t, h: h, rt: h.New(t), prefix: "berthtest-" + id + "-" + short + "-", label: id}
	t.Cleanup(e.cleanup)
	return e
}

func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := e.rt.List(ctx, runtime.ListOptions{All: true, Labels: map[string]string{TestLabel: e.label}})
	if err != nil {
		e.t.Errorf("cleanup: list: %v", err)
	}
	for _, c := range cs {
		if err := e.rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			e.t.Errorf("cleanup: remove %s: %v", c.Name, err)
		}
	}
	if e.h.RemoveVolume != nil {
		for _, v := range e.vols {
			if err := e.h.RemoveVolume(ctx, e.rt, v); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				e.t.Errorf("cleanup: remove volume %s: %v", v, err)
			}
		}
	}
	if e.h.RemoveNetwork == nil {
		return
	}
	for _, n := range e.nets {
		if err := e.h.RemoveNetwork(ctx, e.rt, n); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			e.t.Errorf("cleanup: remove network %s: %v", n, err)
		}
	}
}

func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// spec returns a spec for the test image named prefix+name with the test label.
func (e *env) spec(name string, cmd ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:   e.prefix + name,
		Image:  e.h.Image,
		Cmd:    cmd,
		Labels: map[string]string{TestLabel: e.label},
	}
}

func (e *env) create(spec runtime.ContainerSpec) string {
	e.t.Helper()
	id, err := e.rt.Create(e.ctx(time.Minute), spec)
	if err != nil {
		e.t.Fatalf("Create(%s): %v", spec.Name, err)
	}
	return id
}

// run creates and starts a container and, for a real runtime, waits until
// testapp has installed its signal handlers (it prints "listening on").
func (e *env) run(spec runtime.ContainerSpec) string {
	e.t.Helper()
	id := e.create(spec)
	if err := e.rt.Start(e.ctx(time.Minute), id); err != nil {
		e.t.Fatalf("Start(%s): %v", spec.Name, err)
	}
	if e.h.Real {
		e.waitLogs(id, "listening on")
	}
	return id
}

func (e *env) inspect(id string) runtime.Container {
	e.t.Helper()
	c, err := e.rt.Inspect(e.ctx(time.Minute), id)
	if err != nil {
		e.t.Fatalf("Inspect(%s): %v", id, err)
	}
	return c
}

func (e *env) exec(id string, cmd ...string) runtime.ExecResult {
	e.t.Helper()
	res, err := e.rt.Exec(e.ctx(time.Minute), id, cmd)
	if err != nil {
		e.t.Fatalf("Exec(%s, %q): %v", id, cmd, err)
	}
	return res
}

func (e *env) ensureNetwork(name string) string {
	e.t.Helper()
	name = e.prefix + name
	e.nets = append(e.nets, name)
	if err := e.rt.EnsureNetwork(e.ctx(time.Minute), name, map[string]string{TestLabel: e.label}); err != nil {
		e.t.Fatalf("EnsureNetwork(%s): %v", name, err)
	}
	return name
}

// print makes the container print text: a hook for fakes, nothing for real
// processes (which print by their flags).
func (e *env) print(id, text string) {
	if !e.h.Real {
		e.h.Print(e.t, e.rt, id, text)
	}
}

func (e *env) logs(id string, opts runtime.LogOptions) string {
	e.t.Helper()
	rc, err := e.rt.Logs(e.ctx(time.Minute), id, opts)
	if err != nil {
		e.t.Fatalf("Logs(%s): %v", id, err)
	}
	defer rc.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

func (e *env) waitLogs(id, want string) string {
	e.t.Helper()
	var out string
	testenv.Eventually(e.t, 30*time.Second, "logs of "+id, func() error {
		out = e.logs(id, runtime.LogOptions{Tail: -1})
		if !strings.Contains(out, want) {
			return fmt.Errorf("logs of %s do not contain %q yet:\n%s", id, want, out)
		}
		return nil
	})
	return out
}

func port(c runtime.Container, containerPort int, proto string) (runtime.PortBinding, bool) {
	for _, p := range c.Ports {
		if p.ContainerPort == containerPort && p.Protocol == proto {
			return p, true
		}
	}
	return runtime.PortBinding{}, false
}
