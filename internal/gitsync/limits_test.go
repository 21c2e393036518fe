package gitsync_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/gitsync"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// envUnit is a Unit whose env holds n/3 aliases of one variable: about n
// values once expanded, in about 5n/3 bytes.
func envUnit(name string, n int) string {
	return fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  container:\n    image: x\n    env: [&e {name: A, value: x}%s]\n",
		name, strings.Repeat(", *e", n/3-1))
}

// TestBuildLimits: the manifests a GitSource syncs are one source, held to
// one budget of bytes and values whatever the number of files; a file is
// read only as far as the budget allows, so a huge file costs no memory;
// the error names the file and the limit.
func TestBuildLimits(t *testing.T) {
	st := testenv.EtcdStore(t)
	tests := []struct {
		name  string
		files map[string]string // under deploy/; a value "sparse:N" is a file of N zero bytes
		want  []string
		mib   uint64 // bound on the memory Build allocates
	}{
		{"values of several files add up",
			map[string]string{"a.yaml": envUnit("a", 120000), "b.yaml": envUnit("b", 120000)},
			[]string{"deploy/b.yaml", "more than the limit of 200000 values", "all its files together"}, 160},
		{"a file larger than a source may be is not read",
			map[string]string{"a.yaml": envUnit("a", 30), "huge.yaml": "sparse:268435456"},
			[]string{"deploy/huge.yaml", "268435456 bytes", "more than the limit of 16777216 bytes"}, 8},
		{"bytes of several files add up",
			map[string]string{"a.yaml": "# " + strings.Repeat("x", 6<<20) + "\n", "b.yaml": "# " + strings.Repeat("x", 6<<20) + "\n", "c.yaml": "sparse:6291456"},
			[]string{"deploy/c.yaml", "more than the limit of 16777216 bytes", "all its files together"}, 160},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, "deploy", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				var n int64
				if _, err := fmt.Sscanf(content, "sparse:%d", &n); err == nil {
					f, err := os.Create(p)
					if err == nil {
						err = f.Truncate(n)
						f.Close()
					}
					if err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			objs, err := gitsync.Build(context.Background(), st, dir, "deploy")
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Build returned %d objects and no error", len(objs))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > tt.mib<<20 {
				t.Errorf("Build allocated %d MiB, want at most %d MiB", got>>20, tt.mib)
			}
		})
	}
}

// TestNewStatusBoundsTheError: a revision with thousands of problems
// gives a status that names the first and counts the rest, small enough
// for etcd to store.
func TestNewStatusBoundsTheError(t *testing.T) {
	t.Parallel()
	var errs v1.ErrorList
	for i := range 5000 {
		errs = append(errs, &v1.Error{Source: "deploy/a.yaml", Doc: i + 1, Field: "spec.bogus", Msg: `unknown field "bogus"`})
	}
	src := source("file:///r", false)
	s := gitsync.NewStatus(src, nil, gitsync.Result{Revision: "main@sha1:new"}, &gitsync.Error{Reason: v1.ReasonBuildFailed, Err: errs}, time.Now())
	ready := v1.FindCondition(s.Conditions, v1.ConditionReady)
	for _, got := range []string{s.LastError, ready.Message} {
		if len(got) > 16<<10 || !strings.Contains(got, "deploy/a.yaml: document 1: spec.bogus") || !strings.HasSuffix(got, "... and 4980 more problems") {
			t.Errorf("%d bytes, ending %q; want the first problems and a count of the 4980 others in under 16 KiB", len(got), got[max(0, len(got)-80):])
		}
	}
	one := gitsync.NewStatus(src, nil, gitsync.Result{}, &gitsync.Error{Reason: v1.ReasonBuildFailed, Err: errs[:1]}, time.Now())
	if one.LastError != errs[0].Error() {
		t.Errorf("one problem: %q, want %q", one.LastError, errs[0].Error())
	}
}

// TestSyncAboveTheTxnLimit: a GitSource whose apply is more than etcd
// takes in one transaction applies nothing, and its status says which
// etcd flag to raise.
func TestSyncAboveTheTxnLimit(t *testing.T) {
	r := newRepo(t)
	p := testenv.EtcdProcess(t, testenv.WithFlags("--max-txn-ops=16"))
	st := testenv.NewStore(t, p.StoreConfig())
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("deploy/u%02d.yaml", i)] = unitYAML(fmt.Sprintf("u%02d", i), "x")
	}
	r.commit("twenty units", files)
	s := &syncer{t: t, st: st, src: source(r.url(), true), work: filepath.Join(t.TempDir(), "cache")}
	got, err := s.sync()
	if !errors.Is(err, store.ErrTxnTooLarge) {
		t.Fatalf("sync = %v, want ErrTxnTooLarge", err)
	}
	ready := v1.FindCondition(got.Conditions, v1.ConditionReady)
	if ready == nil || ready.Status != v1.ConditionFalse || ready.Reason != v1.ReasonReconciliationFailed ||
		!strings.Contains(got.LastError, "this etcd accepts at most 16 in one (its --max-txn-ops") ||
		!strings.Contains(got.LastError, "start every etcd member with --max-txn-ops=10000") {
		t.Fatalf("status = %+v", got)
	}
	objs, _, err := store.ListObjects(context.Background(), st, v1.KindUnit)
	if err != nil || len(objs) != 0 {
		t.Fatalf("stored Units: %d, %v; want none", len(objs), err)
	}
}
