package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/gitsync"
)

// gitRepo creates a Git repository with the git CLI and returns its
// directory and a function committing files ("" removes one).
func gitRepo(t *testing.T) (string, func(files map[string]string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed")
		}
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	return dir, func(files map[string]string) string {
		t.Helper()
		for name, content := range files {
			if content == "" {
				git("rm", "-q", name)
				continue
			}
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			git("add", name)
		}
		git("commit", "-q", "-m", "c")
		return git("rev-parse", "HEAD")
	}
}

func TestSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir, commit := gitRepo(t)
	c1 := commit(map[string]string{"apps/a.yaml": unitDoc("a"), "apps/b.yml": unitDoc("b")})
	cache := t.TempDir()
	sync := func(extra ...string) result {
		return e.run("", append([]string{"sync", "--repo", "file://" + dir, "--path", "apps", "--prune", "--cache-dir", cache}, extra...)...)
	}
	r := sync()
	wantEqual(t, "first sync", r.out, "revision main@sha1:"+c1+"\nunit/a created\nunit/b created\n")
	if out := e.ok("get", "applysets", filepath.Base(dir), "-o", "json"); !strings.Contains(out, `"berth-gitsync"`) {
		t.Errorf("apply set not named after the repository or not recorded:\n%s", out)
	}
	c2 := commit(map[string]string{"apps/b.yml": ""})
	wantEqual(t, "prune", sync().out, "revision main@sha1:"+c2+"\nunit/a unchanged\nunit/b pruned\n")

	commit(map[string]string{"apps/bad.yaml": "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: bad}\nspec: {container: {image: x, nope: 1}}\n"})
	r = sync()
	if r.code != 1 || !strings.Contains(r.err, "apps/bad.yaml") || !strings.Contains(r.err, "spec.container.nope") {
		t.Errorf("invalid manifest: %+v", r)
	}
	if r := e.run("", "get", "unit", "bad"); r.code != 1 {
		t.Error("an invalid revision applied something")
	}
	if r := e.run("", "sync", "--repo", "http://example.com/x"); r.code != 2 {
		t.Errorf("http:// accepted: %+v", r)
	}
}

func TestGetGitSources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run("", "get", "gitsources") // empty: "No resources found."
	doc := "apiVersion: berth.dev/v1\nkind: GitSource\nmetadata: {name: apps}\nspec: {url: 'https://git.example.com/apps.git', prune: true}\n"
	r := e.run(doc, "apply", "-f", "-")
	wantEqual(t, "apply gitsource", r.out, "gitsource/apps created\n")
	rev := "main@sha1:0123456789abcdef0123456789abcdef01234567"
	st := v1.GitSourceStatus{LastAppliedRevision: rev, Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue,
		Reason: v1.ReasonReconciliationSucceeded, Message: "Applied revision: " + rev, LastTransitionTime: time.Now()}}}
	e.putJSON(gitsync.StatusKey("apps"), st)
	out := e.ok("get", "gitsources")
	if !regexp.MustCompile(`(?m)^NAME +URL +REF +REVISION +READY +MESSAGE +AGE\napps +https://git.example.com/apps.git +main +main@sha1:0123456789ab +True +Applied revision: main@sha1:0123456789abcdef0123456789abcdef01234567 +\d+s\n$`).MatchString(out) {
		t.Errorf("get gitsources:\n%s", out)
	}
	var got v1.GitSource
	if err := json.Unmarshal([]byte(e.ok("get", "gs", "apps", "-o", "json")), &got); err != nil || got.Status == nil || got.Status.LastAppliedRevision != rev {
		t.Errorf("get -o json: %v %+v", err, got.Status)
	}
	if out := e.ok("describe", "gitsource", "apps"); !strings.Contains(out, "url: https://git.example.com/apps.git") {
		t.Errorf("describe gitsource:\n%s", out)
	}
	e.ok("delete", "gitsource", "apps")
}
