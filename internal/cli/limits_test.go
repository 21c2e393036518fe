package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// listBomb is a List of Lists, each holding ten aliases of the one before:
// a few hundred bytes that name 10+100+...+10^levels Units.
func listBomb(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: berth.dev/v1\nkind: List\nitems:\n")
	b.WriteString("- &l1 {kind: List, items: [&u {apiVersion: berth.dev/v1, kind: Unit, metadata: {name: bomb}, spec: {container: {image: x}}}" + strings.Repeat(", *u", 9) + "]}\n")
	for i := 2; i <= levels; i++ {
		fmt.Fprintf(&b, "- &l%d {kind: List, items: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// TestManifestLimits: apply -f and delete -f refuse a manifest over the
// limits of a source (an alias bomb through nested Lists, a List that
// holds itself) at once, naming the file and the limit, and write nothing.
func TestManifestLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bomb := write("bomb.yaml", listBomb(6))
	self := write("self.yaml", "&l {apiVersion: berth.dev/v1, kind: List, items: [*l]}\n")
	huge := filepath.Join(dir, "huge.yaml") // 1 GiB of zeros, on no disk
	if f, err := os.Create(huge); err != nil || f.Truncate(1<<30) != nil || f.Close() != nil {
		t.Fatalf("sparse file: %v", err)
	}
	deep := write("deep.yaml", strings.Repeat("{kind: List, items: [", 9)+"{apiVersion: berth.dev/v1, kind: Unit, metadata: {name: deep}, spec: {container: {image: x}}}"+strings.Repeat("]}", 9)+"\n")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"delete -f of a bomb", "", []string{"delete", "-f", bomb, "--ignore-not-found"}, []string{bomb + ":1: document 1: more than the limit of 200000 values"}},
		{"apply -f of a bomb", "", []string{"apply", "-f", bomb}, []string{bomb + ":1: document 1: more than the limit of 200000 values"}},
		{"apply of a bomb from standard input", listBomb(6), []string{"apply", "-f", "-"}, []string{"-:1: document 1: more than the limit of 200000 values"}},
		{"apply -f of a List holding itself", "", []string{"apply", "-f", self}, []string{self + ":1: document 1: alias *l names a value that contains itself"}},
		{"delete -f of a List holding itself", "", []string{"delete", "-f", self}, []string{self + ":1: document 1: alias *l names a value that contains itself"}},
		{"apply -f of a file of 1 GiB", "", []string{"apply", "-f", huge}, []string{huge + ": more than the limit of 16777216 bytes"}},
		{"apply of 32 MiB from standard input", strings.Repeat("#", 1<<25), []string{"apply", "-f", "-"}, []string{"-: read standard input: more than the limit of 16777216 bytes"}},
		{"delete -f of Lists nested too deep", "", []string{"delete", "-f", deep}, []string{deep + ":1: document 1: Lists nested more than 8 deep"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			r := e.run(tc.stdin, tc.args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%.500s\nstderr:\n%.500s", r.code, r.out, r.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr %.500q does not contain %q", r.err, w)
				}
			}
			if after := e.revision(); after != before {
				t.Errorf("etcd's revision went from %d to %d: something was written", before, after)
			}
		})
	}
}

// unitsManifest is n Units named prefix-i.
func unitsManifest(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s-%d}\nspec: {container: {image: x}}\n", prefix, i)
	}
	return b.String()
}

// TestApplyAboveTheTxnLimit: against an etcd that takes 16 operations in a
// transaction, an apply of 16 objects is one transaction, and one of 20
// (or of 16 with its apply set's record) writes nothing, exits 1 and says
// which etcd flag to raise.
func TestApplyAboveTheTxnLimit(t *testing.T) {
	t.Parallel()
	p := testenv.EtcdProcess(t, testenv.WithFlags("--max-txn-ops=16"))
	e := &env{t: t, eps: strings.Join(p.Endpoints(), ","), st: testenv.NewStore(t, p.StoreConfig())}

	for _, tc := range []struct {
		name string
		args []string
		n    int
	}{
		{"twenty objects", []string{"apply", "-f", "-"}, 20},
		{"sixteen objects and the record of their set", []string{"apply", "-f", "-", "--prune", "--applyset", "web"}, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			r := e.run(unitsManifest("big", tc.n), tc.args...)
			if r.code != 1 || r.out != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing printed\nstderr:\n%s", r.code, r.out, r.err)
			}
			for _, w := range []string{"this etcd accepts at most 16 in one (its --max-txn-ops", "nothing was written", "start every etcd member with --max-txn-ops=10000"} {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr %q does not contain %q", r.err, w)
				}
			}
			if after := e.revision(); after != before {
				t.Errorf("etcd's revision went from %d to %d: something was written", before, after)
			}
		})
	}

	r := e.run(unitsManifest("web", 16), "apply", "-f", "-")
	if r.code != 0 || strings.Count(r.out, " created\n") != 16 {
		t.Fatalf("apply of 16 Units: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	kvs, _, err := e.st.List(context.Background(), store.ObjectPrefix(v1.KindUnit))
	if err != nil || len(kvs) != 16 {
		t.Fatalf("stored Units: %d, %v; want 16", len(kvs), err)
	}
	for _, kv := range kvs {
		if kv.ModRevision != kvs[0].ModRevision {
			t.Fatalf("%s written at revision %d, %s at %d: not one transaction", kv.Key, kv.ModRevision, kvs[0].Key, kvs[0].ModRevision)
		}
	}
}
