package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// manifestDir writes one file per Unit name into a new directory.
func manifestDir(t *testing.T, units ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, u := range units {
		if err := os.WriteFile(filepath.Join(dir, u+".yaml"), []byte(unitDoc(u)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestApplySetPrune(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantEqual(t, "first apply", e.ok("apply", "-f", manifestDir(t, "a", "b"), "--prune", "--applyset", "web"),
		"unit/a created\nunit/b created\n")
	if out := e.ok("get", "unit", "a", "-o", "yaml"); !strings.Contains(out, "applyset.berth.dev/part-of: web") {
		t.Errorf("unit/a is not labelled with its set:\n%s", out)
	}
	rev := e.revision()
	wantEqual(t, "same apply", e.ok("apply", "-f", manifestDir(t, "a", "b"), "--prune", "--applyset", "web"),
		"unit/a unchanged\nunit/b unchanged\n")
	if got := e.revision(); got != rev {
		t.Errorf("an unchanged re-apply wrote: revision %d -> %d", rev, got)
	}

	// Others: a set of its own and an object applied by hand.
	e.ok("apply", "-f", manifestDir(t, "db"), "--prune", "--applyset", "db")
	e.ok("apply", "-f", "testdata/todo.yaml")

	only := manifestDir(t, "a")
	wantEqual(t, "dry run", e.ok("apply", "-f", only, "--prune", "--applyset", "web", "--dry-run"),
		"unit/a unchanged (dry run)\nunit/b pruned (dry run)\n")
	if got := e.revision(); got != rev+2 {
		t.Errorf("dry run wrote: revision %d, want %d", got, rev+2)
	}
	e.ok("get", "unit", "b")

	wantEqual(t, "prune", e.ok("apply", "-f", only, "--prune", "--applyset", "web"), "unit/a unchanged\nunit/b pruned\n")
	if r := e.run("", "get", "unit", "b"); r.code != 1 {
		t.Errorf("unit/b still exists: %+v", r)
	}
	e.ok("get", "unit", "db")
	e.ok("get", "unit", "todo")
}

func TestApplySetEmptyGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", manifestDir(t, "a", "b"), "--prune", "--applyset", "web")
	rev := e.revision()
	empty := t.TempDir()
	r := e.run("", "apply", "-f", empty, "--prune", "--applyset", "web")
	if r.code != 1 || r.out != "" || !strings.Contains(r.err, `Error: apply set "web": the input is empty and would prune all 2 objects of the set (unit/a, unit/b); nothing was written: pass --prune-allow-empty to prune them`) {
		t.Errorf("empty input: %+v", r)
	}
	if got := e.revision(); got != rev {
		t.Errorf("the refused prune wrote: revision %d -> %d", rev, got)
	}
	wantEqual(t, "allowed", e.ok("apply", "-f", empty, "--prune", "--applyset", "web", "--prune-allow-empty"),
		"unit/a pruned\nunit/b pruned\n")
}

func TestApplySetMoveIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", manifestDir(t, "db"), "--prune", "--applyset", "db")
	rev := e.revision()
	r := e.run("", "apply", "-f", manifestDir(t, "web", "db"), "--prune", "--applyset", "web")
	if r.code != 1 || r.out != "" || !strings.Contains(r.err, `Error: apply set "web": unit/db belongs to apply set "db"; nothing was written: apply it once without --applyset to release it from its set`) {
		t.Errorf("moving unit/db into set web: %+v", r)
	}
	if got := e.revision(); got != rev {
		t.Errorf("the refused apply wrote: revision %d -> %d", rev, got)
	}
}

func TestApplySetUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := manifestDir(t, "a")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apply", "-f", dir, "--prune"}, "--prune needs --applyset NAME"},
		{[]string{"apply", "-f", dir, "--prune", "-l", "app=a"}, "unknown shorthand flag: 'l'"},
		{[]string{"apply", "-f", dir, "--applyset", "web"}, "--applyset needs --prune"},
		{[]string{"apply", "-f", dir, "--prune-allow-empty"}, "--prune-allow-empty needs --prune"},
		{[]string{"apply", "-f", dir, "--prune", "--applyset", "Web_1"}, `--applyset: "Web_1" is not a DNS label`},
		{[]string{"diff", "-f", dir, "--prune"}, "kubectl's --prune with a label selector (-l) is not supported"},
	} {
		r := e.run("", tc.args...)
		if r.code != 2 || !strings.Contains(r.err, tc.want) {
			t.Errorf("applyctl %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.err, tc.want)
		}
	}
}

func TestDiffApplySet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", manifestDir(t, "a", "b"), "--prune", "--applyset", "web")
	e.ok("apply", "-f", "testdata/todo.yaml") // by hand: never pruned

	same := manifestDir(t, "a", "b")
	if r := e.run("", "diff", "-f", same, "--prune", "--applyset", "web"); r.code != 0 || r.out != "" {
		t.Errorf("diff of the applied set: %+v", r)
	}

	r := e.run("", "diff", "-f", manifestDir(t, "a"), "--prune", "--applyset", "web")
	if r.code != 1 {
		t.Fatalf("diff with a prunable object: exit %d\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"--- live/unit/b\n+++ applied/unit/b\n", "-  name: b\n", "-    applyset.berth.dev/part-of: web\n"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("diff does not show %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "unit/a") || strings.Contains(r.out, "todo") {
		t.Errorf("diff shows more than unit/b:\n%s", r.out)
	}

	// get applysets lists the sets.
	e.ok("apply", "-f", manifestDir(t, "x"), "--prune", "--applyset", "other")
	out := e.ok("get", "applysets")
	if !regexp.MustCompile(`^NAME +OBJECTS +UPDATED\nother +1 +\d+s\nweb +2 +\d+s\n$`).MatchString(out) {
		t.Errorf("get applysets:\n%s", out)
	}
	if out := e.ok("get", "applyset", "web", "-o", "json"); !strings.Contains(out, `"objects": [
        "unit/a",
        "unit/b"
    ],
    "tooling": "applyctl"`) {
		t.Errorf("get applyset web -o json:\n%s", out)
	}

	// Without --prune, a plain diff does not show what a set would prune.
	if r := e.run("", "diff", "-f", manifestDir(t, "a")); r.code != 1 || strings.Contains(r.out, "unit/b") {
		t.Errorf("plain diff: %+v", r)
	}

	// An object of another set is an error.
	e.ok("apply", "-f", manifestDir(t, "db"), "--prune", "--applyset", "db")
	if r := e.run("", "diff", "-f", manifestDir(t, "a", "b", "db"), "--prune", "--applyset", "web"); r.code != 2 || !strings.Contains(r.err, `unit/db belongs to apply set "db"`) {
		t.Errorf("diff moving unit/db: %+v", r)
	}
}
