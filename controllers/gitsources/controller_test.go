package gitsources_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	testingclock "k8s.io/utils/clock/testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/gitsources"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func git(t *testing.T, dir string, args ...string) string {
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

func unitYAML(name, image string) string {
	return "apiVersion: berth.dev/v1\nkind: Unit\nmetadata:\n  name: " + name + "\nspec:\n  container:\n    image: " + image + "\n"
}

// eventually waits for a condition to hold.
var eventually = testenv.Eventually[func() bool]

// requireGit skips the test when git is not installed (fails under CI).
func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed")
		}
		t.Skip("git is not installed")
	}
}

// loop is the GitSource loop a test runs, timed by a fake clock.
type loop struct {
	ctx   context.Context
	clock *testingclock.FakeClock
	reg   *prometheus.Registry
}

// runLoop runs the GitSource loop on st until the test ends.
func runLoop(t *testing.T, st *store.Store) *loop {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{ctx: ctx, clock: testingclock.NewFakeClock(time.Now()), reg: prometheus.NewRegistry()}
	c := gitsources.New(st, gitsources.Options{CacheDir: t.TempDir(), Clock: l.clock, Metrics: reconcile.NewMetrics(l.reg)})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// eventuallyStepping waits for cond, moving the loop's clock on by step
// before each look: what the loop does on its intervals comes as fast as
// it can.
func (l *loop) eventuallyStepping(t *testing.T, step time.Duration, what string, cond func() bool) {
	t.Helper()
	eventually(t, 10*time.Second, what, func() bool {
		l.clock.Step(step)
		return cond()
	})
}

// reconciles returns how many reconciles the loop finished, and whether
// it is idle: nothing queued, nothing under way.
func (l *loop) reconciles(t *testing.T) (float64, bool) {
	t.Helper()
	mfs, err := l.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			sum[mf.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum["controller_runtime_reconcile_total"], sum["workqueue_depth"] == 0 && sum["controller_runtime_active_workers"] == 0
}

func TestLoopSyncsCorrectsDriftAndSuspends(t *testing.T) {
	requireGit(t)
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(repo, "web.yaml"), []byte(unitYAML("web", "web:1")), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-q", "-m", "web")
	head := git(t, repo, "rev-parse", "HEAD")

	st := testenv.EtcdStore(t)
	l := runLoop(t, st)
	ctx := l.ctx

	src := v1.New(v1.KindGitSource).(*v1.GitSource)
	src.Metadata.Name = "apps"
	src.Spec = v1.GitSourceSpec{URL: "file://" + repo, Prune: true, Interval: &v1.Duration{Duration: 5 * time.Second}}
	v1.Default(src)
	apply := func(o v1.Object) {
		t.Helper()
		if _, err := store.Apply(ctx, st, []v1.Object{o}, store.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	apply(src)

	status := func() v1.GitSourceStatus {
		var s v1.GitSourceStatus
		if kv, err := st.Get(ctx, gitsources.StatusKey("apps")); err == nil {
			_ = json.Unmarshal(kv.Value, &s)
		}
		return s
	}
	imageOf := func() string {
		o, err := store.GetObject(ctx, st, v1.KindUnit, "web")
		if err != nil {
			return ""
		}
		return o.(*v1.Unit).Spec.Container.Image
	}
	eventually(t, 10*time.Second, "the first sync", func() bool {
		r := v1.FindCondition(status().Conditions, v1.ConditionReady)
		return r != nil && r.Status == v1.ConditionTrue && r.Message == "Applied revision: main@sha1:"+head
	})
	if imageOf() != "web:1" {
		t.Fatalf("web image %q", imageOf())
	}

	// A change by hand is reverted within an interval.
	setImage := func(img string) {
		o, err := store.GetObject(ctx, st, v1.KindUnit, "web")
		if err != nil {
			t.Fatal(err)
		}
		o.(*v1.Unit).Spec.Container.Image = img
		apply(o)
	}
	setImage("hand:1")
	l.eventuallyStepping(t, time.Second, "drift to be reverted within an interval", func() bool { return imageOf() == "web:1" })

	// Suspended, a change by hand stays past an interval.
	src.Spec.Suspend = true
	apply(src)
	suspended, err := store.GetObject(ctx, st, v1.KindGitSource, "apps")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the suspension to be seen", func() bool {
		kv, err := st.Get(ctx, gitsources.StatusKey("apps"))
		if err != nil {
			return false
		}
		var s v1.GitSourceStatus
		return json.Unmarshal(kv.Value, &s) == nil && s.ObservedGeneration == suspended.GetObjectMeta().Generation
	})
	setImage("hand:2")
	var done float64
	eventually(t, 10*time.Second, "the loop idle", func() bool {
		var idle bool
		done, idle = l.reconciles(t)
		return idle
	})
	l.clock.Step(time.Minute) // the interval's requeue, pending since the last sync, comes
	eventually(t, 10*time.Second, "the suspended source reconciled after its interval", func() bool {
		n, idle := l.reconciles(t)
		return n > done && idle
	})
	if imageOf() != "hand:2" {
		t.Fatalf("a suspended source was synced: image %q", imageOf())
	}

	// Deleting the source removes its status.
	if err := store.DeleteObject(ctx, st, v1.KindGitSource, "apps"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the status to be removed", func() bool {
		_, err := st.Get(ctx, gitsources.StatusKey("apps"))
		return err != nil
	})
}
