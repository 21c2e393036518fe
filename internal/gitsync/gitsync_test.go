package gitsync_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/gitsync"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// repo is a Git repository the test writes with the git CLI.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed")
		}
		t.Skip("git is not installed")
	}
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *repo) url() string { return "file://" + r.dir }

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (content "" removes the file) and commits them,
// returning the commit hash.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			r.git("rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.git("add", name)
	}
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func unitYAML(name, image string) string {
	return "apiVersion: berth.dev/v1\nkind: Unit\nmetadata:\n  name: " + name + "\nspec:\n  container:\n    image: " + image + "\n"
}

func source(url string, prune bool) *v1.GitSource {
	g := v1.New(v1.KindGitSource).(*v1.GitSource)
	g.Metadata.Name = "apps"
	g.Spec = v1.GitSourceSpec{URL: url, Path: "deploy", Prune: prune}
	v1.Default(g)
	if fes := v1.Validate(g); len(fes) > 0 {
		panic(fes)
	}
	return g
}

type syncer struct {
	t    *testing.T
	st   *store.Store
	src  *v1.GitSource
	work string
	prev *v1.GitSourceStatus
}

func (s *syncer) sync() (v1.GitSourceStatus, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := gitsync.Sync(ctx, s.st, s.src, s.prev, s.work, time.Now())
	s.prev = &st
	return st, err
}

func (s *syncer) mustSync() v1.GitSourceStatus {
	s.t.Helper()
	st, err := s.sync()
	if err != nil {
		s.t.Fatalf("sync: %v", err)
	}
	return st
}

func image(t *testing.T, st *store.Store, name string) string {
	t.Helper()
	o, err := store.GetObject(context.Background(), st, v1.KindUnit, name)
	if err != nil {
		t.Fatalf("get unit/%s: %v", name, err)
	}
	return o.(*v1.Unit).Spec.Container.Image
}

var revRe = regexp.MustCompile(`^main@sha1:[0-9a-f]{40}$`)

func TestSyncCreateConfigurePruneDriftInvalidForcePush(t *testing.T) {
	r := newRepo(t)
	st := testenv.EtcdStore(t)
	s := &syncer{t: t, st: st, src: source(r.url(), true), work: filepath.Join(t.TempDir(), "cache")}

	// A commit adding a Unit: created, Ready with the revision.
	c1 := r.commit("add web", map[string]string{"deploy/web.yaml": unitYAML("web", "web:1"), "README.md": "not a manifest"})
	got := s.mustSync()
	if want := "main@sha1:" + c1; got.LastAppliedRevision != want {
		t.Fatalf("lastAppliedRevision = %q, want %q", got.LastAppliedRevision, want)
	}
	ready := v1.FindCondition(got.Conditions, v1.ConditionReady)
	if ready == nil || ready.Status != v1.ConditionTrue || ready.Reason != v1.ReasonReconciliationSucceeded || ready.Message != "Applied revision: main@sha1:"+c1 {
		t.Fatalf("Ready = %+v", ready)
	}
	if !slices.Equal(got.Applied, []string{"unit/web created"}) {
		t.Fatalf("applied = %v", got.Applied)
	}
	if image(t, st, "web") != "web:1" {
		t.Fatal("web not stored")
	}

	// A commit changing it: configured.
	r.commit("web 2", map[string]string{"deploy/web.yaml": unitYAML("web", "web:2"), "deploy/sub/db.yml": unitYAML("db", "db:1")})
	got = s.mustSync()
	if !slices.Equal(got.Applied, []string{"unit/db created", "unit/web configured"}) {
		t.Fatalf("applied = %v", got.Applied)
	}
	if image(t, st, "web") != "web:2" {
		t.Fatal("web not configured")
	}

	// A change by hand is reverted at the next sync of the same revision.
	u, _ := store.GetObject(context.Background(), st, v1.KindUnit, "web")
	u.(*v1.Unit).Spec.Container.Image = "hand:9"
	if _, err := store.Apply(context.Background(), st, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	got = s.mustSync()
	if image(t, st, "web") != "web:2" || !slices.Contains(got.Applied, "unit/web configured") {
		t.Fatalf("drift not reverted: image %s, applied %v", image(t, st, "web"), got.Applied)
	}

	// A commit removing it: pruned.
	c3 := r.commit("drop db", map[string]string{"deploy/sub/db.yml": ""})
	got = s.mustSync()
	if !slices.Equal(got.Pruned, []string{"unit/db"}) {
		t.Fatalf("pruned = %v", got.Pruned)
	}
	if _, err := store.GetObject(context.Background(), st, v1.KindUnit, "db"); err == nil {
		t.Fatal("db still stored")
	}

	// An invalid manifest applies nothing; the status names file and field.
	r.commit("bad", map[string]string{
		"deploy/web.yaml": unitYAML("web", "web:3"),
		"deploy/zz.yaml":  "apiVersion: berth.dev/v1\nkind: Unit\nmetadata:\n  name: bad\nspec:\n  container:\n    image: x\n    bogus: 1\n",
	})
	got, err := s.sync()
	if err == nil {
		t.Fatal("sync of an invalid manifest succeeded")
	}
	ready = v1.FindCondition(got.Conditions, v1.ConditionReady)
	if ready.Status != v1.ConditionFalse || ready.Reason != v1.ReasonBuildFailed ||
		!strings.Contains(got.LastError, "deploy/zz.yaml") || !strings.Contains(got.LastError, "spec.container.bogus") {
		t.Fatalf("status = %+v", got)
	}
	if got.LastAppliedRevision != "main@sha1:"+c3 || got.LastAttemptedRevision == got.LastAppliedRevision || !revRe.MatchString(got.LastAttemptedRevision) {
		t.Fatalf("revisions: applied %s attempted %s", got.LastAppliedRevision, got.LastAttemptedRevision)
	}
	if image(t, st, "web") != "web:2" {
		t.Fatal("an invalid revision applied something")
	}

	// A force-pushed main (history rewritten) is followed.
	r.git("reset", "-q", "--hard", c1)
	c5 := r.commit("rewritten", map[string]string{"deploy/web.yaml": unitYAML("web", "web:5")})
	got = s.mustSync()
	if got.LastAppliedRevision != "main@sha1:"+c5 || image(t, st, "web") != "web:5" {
		t.Fatalf("force push not followed: %s, image %s", got.LastAppliedRevision, image(t, st, "web"))
	}
	if ready := v1.FindCondition(got.Conditions, v1.ConditionReady); ready.Status != v1.ConditionTrue {
		t.Fatalf("Ready = %+v", ready)
	}
	b, _ := json.Marshal(got)
	t.Logf("status: %s", b)
}

func TestFetchRefs(t *testing.T) {
	r := newRepo(t)
	c1 := r.commit("one", map[string]string{"a.yaml": unitYAML("a", "a:1")})
	r.git("tag", "-a", "v1", "-m", "v1")
	r.git("checkout", "-q", "-b", "dev")
	c2 := r.commit("two", map[string]string{"a.yaml": unitYAML("a", "a:2")})
	work := filepath.Join(t.TempDir(), "c")
	ctx := context.Background()
	for _, tc := range []struct {
		ref  v1.GitRef
		want string
		file string
	}{
		{v1.GitRef{}, "main@sha1:" + c1, "a:1"},
		{v1.GitRef{Branch: "dev"}, "dev@sha1:" + c2, "a:2"},
		{v1.GitRef{Tag: "v1"}, "v1@sha1:" + c1, "a:1"},
		{v1.GitRef{Commit: c2}, "sha1:" + c2, "a:2"},
	} {
		rev, err := gitsync.Fetch(ctx, r.url(), tc.ref, work)
		if err != nil || rev != tc.want {
			t.Fatalf("Fetch %+v = %q, %v; want %q", tc.ref, rev, err, tc.want)
		}
		b, _ := os.ReadFile(filepath.Join(work, "a.yaml"))
		if !strings.Contains(string(b), tc.file) {
			t.Fatalf("Fetch %+v checked out %q", tc.ref, b)
		}
	}
	if _, err := gitsync.Fetch(ctx, r.url(), v1.GitRef{Branch: "nope"}, work); err == nil {
		t.Fatal("a missing branch was fetched")
	}
}

func TestBuildRefusesPathOutsideRepo(t *testing.T) {
	dir := t.TempDir()
	if _, err := gitsync.Build(context.Background(), nil, dir, "../x"); err == nil {
		t.Fatal("path outside the repository accepted")
	}
}

// TestFetchCacheThatCannotBeMade: a clone cache that cannot be made (its
// folder is a file) says which folder and what to do.
func TestFetchCacheThatCannotBeMade(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(file, "gitsync", "apps")
	_, err := gitsync.Fetch(context.Background(), "file:///nowhere", v1.GitRef{}, cache)
	for _, want := range []string{cache, "not a directory", "writable folder", "--data-dir", "--cache-dir"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Fetch = %v, want an error saying %q", err, want)
		}
	}
}
