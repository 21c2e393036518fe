package gitsources_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/gitsources"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// TestLoopRefusesAnAliasBomb: a commit of a 600-byte List of Lists of
// aliases, naming a million Units, leaves the loop running: the GitSource
// is not Ready, its status names the file and the limit, nothing is
// applied, and the next good commit is applied.
func TestLoopRefusesAnAliasBomb(t *testing.T) {
	requireGit(t)
	var bomb strings.Builder
	bomb.WriteString("apiVersion: berth.dev/v1\nkind: List\nitems:\n")
	bomb.WriteString("- &l1 {kind: List, items: [&u {apiVersion: berth.dev/v1, kind: Unit, metadata: {name: bomb}, spec: {container: {image: x}}}" + strings.Repeat(", *u", 9) + "]}\n")
	for i := 2; i <= 6; i++ {
		fmt.Fprintf(&bomb, "- &l%d {kind: List, items: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, repo, "add", name)
		git(t, repo, "commit", "-q", "-m", name)
	}
	write("bomb.yaml", bomb.String())

	st := testenv.EtcdStore(t)
	l := runLoop(t, st)
	ctx := l.ctx

	src := v1.New(v1.KindGitSource).(*v1.GitSource)
	src.Metadata.Name = "apps"
	src.Spec = v1.GitSourceSpec{URL: "file://" + repo, Prune: true, Interval: &v1.Duration{Duration: time.Second}}
	v1.Default(src)
	if _, err := store.Apply(ctx, st, []v1.Object{src}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func() *v1.Condition {
		var s v1.GitSourceStatus
		if kv, err := st.Get(ctx, gitsources.StatusKey("apps")); err == nil {
			_ = json.Unmarshal(kv.Value, &s)
		}
		return v1.FindCondition(s.Conditions, v1.ConditionReady)
	}
	eventually(t, 10*time.Second, "the bomb to be refused", func() bool {
		r := ready()
		return r != nil && r.Status == v1.ConditionFalse && r.Reason == v1.ReasonBuildFailed &&
			strings.Contains(r.Message, "bomb.yaml:1: document 1: more than the limit of 200000 values")
	})
	if objs, _, err := store.ListObjects(ctx, st, v1.KindUnit); err != nil || len(objs) != 0 {
		t.Fatalf("Units stored: %d, %v; want none", len(objs), err)
	}

	git(t, repo, "rm", "-q", "bomb.yaml")
	write("web.yaml", unitYAML("web", "web:1"))
	l.eventuallyStepping(t, time.Second, "the next good commit to be applied", func() bool {
		r := ready()
		return r != nil && r.Status == v1.ConditionTrue
	})
}
