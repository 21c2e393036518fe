package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// exampleCopy returns the documents of the example manifest rel (say
// manifests/sqlite.yaml) made private to h, so that tests can run it in
// parallel with each other and with a user's copy: every object name gets
// h's prefix, and so do the names that refer to one (requires, wants,
// after, startCondition keys, an env value "<name>:<port>"), label values
// and selectors; every hostPort becomes a free port (ports maps the
// example's to the copy's); every hostPath becomes a folder under dir; and
// every Unit is pinned to h.
func (h *unitHost) exampleCopy(rel, dir string) (docs []string, ports map[int]int) {
	h.t.Helper()
	return h.privateCopy(readFile(h.t, repoFile(h.t, rel)), dir)
}

// privateCopy is exampleCopy of the documents of raw. Named volumes also
// get h's prefix, and are removed when the test ends.
func (h *unitHost) privateCopy(raw, dir string) (docs []string, ports map[int]int) {
	h.t.Helper()
	rel := "the manifests"
	var objs []map[string]any
	names := map[string]bool{}
	for _, d := range strings.Split(raw, "\n---\n") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(d), &o); err != nil {
			h.t.Fatalf("%s: %v", rel, err)
		}
		if o == nil {
			continue
		}
		objs = append(objs, o)
		names[str(o, "metadata", "name")] = true
	}
	rename := func(n string) string {
		if names[n] {
			return h.unit(n)
		}
		return n
	}
	ports = map[int]int{}
	for _, o := range objs {
		meta := o["metadata"].(map[string]any)
		meta["name"] = h.unit(meta["name"].(string))
		prefixValues(h, meta["labels"])
		spec, _ := o["spec"].(map[string]any)
		if spec == nil {
			continue
		}
		prefixValues(h, spec["selector"])
		if o["kind"] != v1.KindUnit {
			continue
		}
		spec["placement"] = map[string]any{"hosts": []any{h.name}}
		for _, f := range []string{"requires", "wants", "after"} {
			if l, ok := spec[f].([]any); ok {
				for i, n := range l {
					l[i] = rename(n.(string))
				}
			}
		}
		if sc, ok := spec["startCondition"].(map[string]any); ok {
			renamed := map[string]any{}
			for k, v := range sc {
				renamed[rename(k)] = v
			}
			spec["startCondition"] = renamed
		}
		c := spec["container"].(map[string]any)
		for _, p := range list(c["ports"]) {
			if hp, ok := p["hostPort"].(float64); ok {
				free := testenv.FreePort(h.t)
				ports[int(hp)] = free
				p["hostPort"] = free
			}
		}
		for _, v := range list(c["volumes"]) {
			if hp, ok := v["hostPath"].(string); ok {
				v["hostPath"] = filepath.Join(dir, filepath.Base(hp))
			}
			if n, ok := v["name"].(string); ok {
				v["name"] = h.unit(n)
				h.t.Cleanup(func() {
					// The volume outlives the containers: remove them first.
					if h.c != nil {
						h.c.kill()
					}
					removeHostContainers(h.t, h.name)
					if out, err := docker("volume", "rm", "-f", h.unit(n)); err != nil {
						h.t.Logf("cleanup: remove volume %s: %v: %s", h.unit(n), err, out)
					}
				})
			}
		}
		for _, e := range list(c["env"]) {
			if val, ok := e["value"].(string); ok {
				if host, port, ok := strings.Cut(val, ":"); ok && names[host] {
					e["value"] = rename(host) + ":" + port
				}
			}
		}
	}
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			h.t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return docs, ports
}

func str(o map[string]any, path ...string) string {
	var cur any = o
	for _, p := range path {
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func list(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// prefixValues gives every string value of a label map h's prefix.
func prefixValues(h *unitHost, v any) {
	m, _ := v.(map[string]any)
	for k, val := range m {
		if s, ok := val.(string); ok {
			m[k] = h.unit(s)
		}
	}
}

// applyWait applies docs with apply --wait and returns its output.
func (h *unitHost) applyWait(docs ...string) string {
	h.t.Helper()
	out, errOut, code := applyctl(h.t, h.etcd, strings.Join(docs, "---\n"), "apply", "-f", "-", "--wait", "--timeout", "50s")
	if code != 0 {
		h.t.Fatalf("apply --wait: exit %d: %s%s\n%s", code, out, errOut, strings.Join(docs, "---\n"))
	}
	return out
}

// ctl runs applyctl against h's etcd and fails the test on a non-zero exit.
func (h *unitHost) ctl(args ...string) string {
	h.t.Helper()
	out, errOut, code := applyctl(h.t, h.etcd, "", args...)
	if code != 0 {
		h.t.Fatalf("applyctl %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// sqlSession sends stmts to a sqliteserver (or a proxy in front of one)
// over one TCP connection, half-closes it and returns all it answered.
func sqlSession(addr, stmts string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, stmts); err != nil {
		return "", err
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	return string(b), err
}

// containerTime returns a time of docker inspect (State.StartedAt,
// State.FinishedAt) of a container.
func containerTime(t *testing.T, ref, field string) time.Time {
	t.Helper()
	out := mustDocker(t, "inspect", "-f", "{{."+field+"}}", ref)
	at, err := time.Parse(time.RFC3339Nano, out)
	if err != nil {
		t.Fatalf("docker inspect %s %s: %v", ref, field, err)
	}
	return at
}

// ready reports whether the instance's Ready condition is True.
func ready(in v1.InstanceStatus) bool {
	c := v1.FindCondition(in.Conditions, v1.ConditionReady)
	return c != nil && c.Status == v1.ConditionTrue
}

// follower is a running applyctl whose output lines are collected.
type follower struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
}

// follow starts applyctl with args against etcd and collects its standard
// output, line by line, until the test ends.
func follow(t *testing.T, etcd string, args ...string) *follower {
	t.Helper()
	f := &follower{cmd: exec.Command(filepath.Join(binDir, "applyctl"), append([]string{"--etcd-endpoints", etcd}, args...)...)}
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.cmd.Stderr = os.Stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f.mu.Lock()
			f.lines = append(f.lines, sc.Text())
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = f.cmd.Process.Kill()
		<-done
		_ = f.cmd.Wait()
	})
	return f
}

// find reports whether a line collected contains s, and that line.
func (f *follower) find(s string) (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.lines {
		if strings.Contains(l, s) {
			return true, l
		}
	}
	return false, fmt.Sprintf("%d lines, none with %q", len(f.lines), s)
}
