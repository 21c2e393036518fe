package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// The test of this file proves issue 8's GitSource against a bare
// repository served by git daemon on loopback: the leading controller
// follows its branch, corrects drift, stops when suspended, refuses bad
// manifests, follows force pushes and prunes.

// gitRepo is a bare repository served by git daemon and a working clone
// the test commits to and pushes from.
type gitRepo struct {
	t    *testing.T
	work string
	url  string // git://127.0.0.1:<port>/apps.git
}

// newGitRepo creates apps.git, its working clone, and a git daemon
// serving it, killed at cleanup.
func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	base := t.TempDir()
	bare := filepath.Join(base, "apps.git")
	r := &gitRepo{t: t, work: filepath.Join(t.TempDir(), "work")}
	r.git(base, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	r.git(base, "clone", "--quiet", bare, r.work)
	r.git(r.work, "checkout", "--quiet", "-B", "main")
	r.git(r.work, "config", "user.name", "e2e")
	r.git(r.work, "config", "user.email", "e2e@berth.dev")

	port := testenv.FreePort(t)
	d := exec.Command("git", "daemon", "--export-all", "--base-path="+base,
		fmt.Sprintf("--port=%d", port), "--listen=127.0.0.1", "--reuseaddr", base)
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(t.TempDir(), "git-daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	d.Stdout, d.Stderr = logf, logf
	if err := d.Start(); err != nil {
		t.Fatalf("git daemon: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = d.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-d.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, 10*time.Second, "git daemon listening on "+addr, func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			b, _ := os.ReadFile(logPath)
			return false, err.Error() + "\n" + string(b)
		}
		c.Close()
		return true, ""
	})
	r.url = "git://" + addr + "/apps.git"
	return r
}

// git runs git in dir and returns its trimmed output.
func (r *gitRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content; "" removes the file), commits them
// and returns the commit's hash. It does not push.
func (r *gitRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if content == "" {
			r.git(r.work, "rm", "--quiet", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.git(r.work, "add", p)
	}
	r.git(r.work, "commit", "--quiet", "-m", msg)
	return r.git(r.work, "rev-parse", "HEAD")
}

// push pushes main, forcing it when force.
func (r *gitRepo) push(force bool) {
	r.t.Helper()
	args := []string{"push", "--quiet", "origin", "main"}
	if force {
		args = append(args, "--force")
	}
	r.git(r.work, args...)
}

// gitSource returns the status of the GitSource name from get gitsources
// -o json.
func (h *unitHost) gitSource(name string) (v1.GitSource, string) {
	out, errOut, code := applyctl(h.t, h.etcd, "", "get", "gitsources", name, "-o", "json")
	if code != 0 {
		return v1.GitSource{}, fmt.Sprintf("get gitsources: exit %d: %s", code, errOut)
	}
	var g v1.GitSource
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		return v1.GitSource{}, fmt.Sprintf("get gitsources -o json: %v: %q", err, out)
	}
	return g, out
}

// waitGitSource waits until the GitSource's status satisfies cond.
func (h *unitHost) waitGitSource(name, what string, timeout time.Duration, cond func(*v1.GitSourceStatus) bool) v1.GitSourceStatus {
	h.t.Helper()
	var got v1.GitSourceStatus
	eventually(h.t, timeout, "gitsource "+name+": "+what, func() (bool, string) {
		g, problem := h.gitSource(name)
		if g.Status == nil {
			return false, "no status: " + problem
		}
		got = *g.Status
		return cond(g.Status), problem
	})
	return got
}

func readyIs(s *v1.GitSourceStatus, want v1.ConditionStatus) bool {
	c := v1.FindCondition(s.Conditions, v1.ConditionReady)
	return c != nil && c.Status == want
}

// message returns the MESSAGE env of the Unit's spec, or why not.
func (h *unitHost) message(short string) (string, string) {
	us, err := h.units()
	if err != nil {
		return "", err.Error()
	}
	u, ok := us[h.unit(short)]
	if !ok {
		return "", "unit not listed"
	}
	for _, e := range u.Spec.Container.Env {
		if e.Name == "MESSAGE" {
			return e.Value, ""
		}
	}
	return "", "no MESSAGE in the spec"
}

// TestGitSourceFollowsRepository: a GitSource on a git:// repository
// applies a commit adding a Unit (its container runs), one changing it (a
// new container), reverts a change made by hand at the next interval
// unless suspended, applies nothing of a commit with a bad manifest and
// names the file, follows a force push, and prunes the Unit a commit
// removes (its container goes).
func TestGitSourceFollowsRepository(t *testing.T) {
	t.Parallel()
	h := newUnitHost(t, controllerOpts{}, false)
	repo := newGitRepo(t)
	src := "apps-" + h.sfx
	unit := func(msg string) string {
		return h.doc("app", testapp("    env:\n      - {name: MESSAGE, value: "+msg+"}\n", ""))
	}
	// The Service keeps the set non-empty once the Unit is removed: the
	// apply set refuses to prune every object at once.
	anchor := fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: %s}\n  port: http\n", h.unit("svc"), h.unit("nothing"))
	gitSource := func(suspend bool) string {
		return fmt.Sprintf("apiVersion: berth.dev/v1\nkind: GitSource\nmetadata: {name: %s}\nspec:\n  url: %s\n  path: deploy\n  interval: 5s\n  prune: true\n  suspend: %t\n", src, repo.url, suspend)
	}
	appliedAt := func(sha string) func(*v1.GitSourceStatus) bool {
		return func(s *v1.GitSourceStatus) bool {
			return s.LastAppliedRevision == "main@sha1:"+sha && readyIs(s, v1.ConditionTrue)
		}
	}
	waitMessage := func(want, what string, timeout time.Duration) {
		t.Helper()
		eventually(t, timeout, what, func() (bool, string) {
			got, problem := h.message("app")
			return got == want, got + problem
		})
	}

	// A commit adding the Unit makes its container run.
	sha := repo.commit("add app", map[string]string{"deploy/app.yaml": unit("v1"), "deploy/svc.yaml": anchor})
	repo.push(false)
	h.apply(gitSource(false))
	h.waitGitSource(src, "applied "+sha, 60*time.Second, appliedAt(sha))
	first := h.waitRunning("app", 60*time.Second)

	// A commit changing it reconfigures it: a new container.
	sha = repo.commit("app v2", map[string]string{"deploy/app.yaml": unit("v2")})
	repo.push(false)
	h.waitGitSource(src, "applied "+sha, 30*time.Second, appliedAt(sha))
	second := h.waitInstance("app", "a new container", 60*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.ContainerID != "" && in.ContainerID != first.ContainerID
	})
	if env, err := inspect(second.ContainerID, "{{json .Config.Env}}"); err != nil || !strings.Contains(env, "MESSAGE=v2") {
		t.Errorf("container %.12s env %s (%v), want MESSAGE=v2", second.ContainerID, env, err)
	}

	// A change made by hand is reverted at the next interval.
	h.apply(unit("by-hand"))
	waitMessage("by-hand", "the hand-made change is stored", 10*time.Second)
	waitMessage("v2", "the hand-made change is reverted", 20*time.Second)

	// Suspended, it is not.
	h.apply(gitSource(true))
	eventually(t, 20*time.Second, "the suspension is observed", func() (bool, string) {
		g, problem := h.gitSource(src)
		return g.Status != nil && g.Status.ObservedGeneration == g.Metadata.Generation, problem
	})
	h.apply(unit("while-suspended"))
	consistently(t, 12*time.Second, "the change made while suspended stays", func() (bool, string) {
		got, problem := h.message("app")
		return got == "while-suspended", got + problem
	})
	h.apply(gitSource(false))
	waitMessage("v2", "resumed, the change is reverted", 20*time.Second)

	// A commit with a bad manifest applies nothing, and the status names
	// the file.
	good := sha
	bad := repo.commit("bad manifest", map[string]string{
		"deploy/app.yaml": unit("v3"),
		"deploy/bad.yaml": "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: " + h.unit("bad") + "}\nspec:\n  nosuchfield: 1\n",
	})
	repo.push(false)
	st := h.waitGitSource(src, "failed on "+bad, 30*time.Second, func(s *v1.GitSourceStatus) bool {
		return s.LastAttemptedRevision == "main@sha1:"+bad && readyIs(s, v1.ConditionFalse)
	})
	if c := v1.FindCondition(st.Conditions, v1.ConditionReady); !strings.Contains(c.Message, "deploy/bad.yaml") || c.Reason != v1.ReasonBuildFailed {
		t.Errorf("Ready %s %q, want %s naming deploy/bad.yaml", c.Reason, c.Message, v1.ReasonBuildFailed)
	}
	if st.LastAppliedRevision != "main@sha1:"+good || !strings.Contains(st.LastError, "deploy/bad.yaml") {
		t.Errorf("lastAppliedRevision %s lastError %q, want main@sha1:%s and the file named", st.LastAppliedRevision, st.LastError, good)
	}
	if got, problem := h.message("app"); got != "v2" {
		t.Errorf("after the bad commit the Unit has MESSAGE %q%s, want v2 (nothing applied)", got, problem)
	}

	// History rewritten and force-pushed: the new head is followed.
	repo.git(repo.work, "reset", "--quiet", "--hard", good)
	sha = repo.commit("app v4, rewritten", map[string]string{"deploy/app.yaml": unit("v4")})
	repo.push(true)
	h.waitGitSource(src, "applied the force-pushed "+sha, 30*time.Second, appliedAt(sha))
	waitMessage("v4", "the force-pushed change is applied", 10*time.Second)
	fourth := h.waitInstance("app", "the v4 container", 60*time.Second, func(in v1.InstanceStatus) bool {
		return in.State == v1.StateRunning && in.ContainerID != "" && in.ContainerID != second.ContainerID
	})

	// A commit removing the Unit prunes it.
	sha = repo.commit("remove app", map[string]string{"deploy/app.yaml": ""})
	repo.push(false)
	st = h.waitGitSource(src, "applied "+sha, 30*time.Second, appliedAt(sha))
	if !strings.Contains(strings.Join(st.Pruned, ","), "unit/"+h.unit("app")) {
		t.Errorf("pruned %v, want unit/%s", st.Pruned, h.unit("app"))
	}
	eventually(t, 30*time.Second, "the Unit is gone", func() (bool, string) {
		us, err := h.units()
		if err != nil {
			return false, err.Error()
		}
		_, ok := us[h.unit("app")]
		return !ok, "still listed"
	})
	eventually(t, 60*time.Second, "the container is removed", func() (bool, string) {
		return containerGone(fourth.ContainerID)
	})
}
