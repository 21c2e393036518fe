package applyset_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/applyset"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func unit(name string) *v1.Unit {
	u := &v1.Unit{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit},
		Metadata: v1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:     v1.UnitSpec{Container: v1.ContainerTemplate{Image: name + ":1"}},
	}
	v1.Default(u)
	return u
}

func service(name string) *v1.Service {
	s := &v1.Service{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindService},
		Metadata: v1.ObjectMeta{Name: name},
		Spec:     v1.ServiceSpec{Selector: map[string]string{"app": name}, Port: v1.IntOrString{IntVal: 80}},
	}
	v1.Default(s)
	return s
}

func objs(o ...v1.Object) []v1.Object { return o }

// lines is what applyctl would print: one "kind/name action" per applied
// object, then one "kind/name pruned" per pruned one.
func lines(res *applyset.Result) []string {
	var out []string
	for _, r := range res.Applied {
		out = append(out, strings.ToLower(r.Kind)+"/"+r.Name+" "+string(r.Action))
	}
	for _, p := range res.Pruned {
		out = append(out, strings.ToLower(p.Kind)+"/"+p.Name+" pruned")
	}
	return out
}

type env struct {
	t  *testing.T
	st *store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, st: testenv.EtcdStore(t)}
}

func (e *env) apply(set string, in []v1.Object, opts applyset.Options, want ...string) *applyset.Result {
	e.t.Helper()
	res, err := applyset.Apply(context.Background(), e.st, set, in, opts)
	if err != nil {
		e.t.Fatalf("Apply %s: %v", set, err)
	}
	if got := lines(res); !slices.Equal(got, want) {
		e.t.Fatalf("Apply %s:\n got %q\nwant %q", set, got, want)
	}
	return res
}

func (e *env) exists(kind, name string) bool {
	e.t.Helper()
	_, err := store.GetObject(context.Background(), e.st, kind, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *env) revision() int64 {
	e.t.Helper()
	rev, err := e.st.Revision(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return rev
}

var prune = applyset.Options{Prune: true}

func TestApplyLabelsRecordsAndPrunes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.apply("web", objs(unit("a"), unit("b"), service("web")), prune,
		"unit/a created", "unit/b created", "service/web created")

	o, err := store.GetObject(ctx, e.st, "unit", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := o.GetObjectMeta().Labels; got[applyset.LabelPartOf] != "web" || got["app"] != "a" {
		t.Errorf("labels of unit/a: %v", got)
	}
	rec, err := applyset.Get(ctx, e.st, "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"service/web", "unit/a", "unit/b"}; !slices.Equal(rec.Objects, want) || rec.Tooling != "applyctl" || rec.Name != "web" || rec.Updated.IsZero() {
		t.Errorf("record: %+v", rec)
	}

	// The same input again: unchanged, nothing pruned, nothing written.
	rev := e.revision()
	e.apply("web", objs(unit("a"), unit("b"), service("web")), prune,
		"unit/a unchanged", "unit/b unchanged", "service/web unchanged")
	if got := e.revision(); got != rev {
		t.Errorf("an unchanged re-apply wrote: revision %d -> %d", rev, got)
	}

	// unit/b leaves the input: pruned, in the same transaction as the rest.
	e.apply("web", objs(unit("a"), service("web")), prune, "unit/a unchanged", "service/web unchanged", "unit/b pruned")
	if e.exists("unit", "b") {
		t.Error("unit/b was not pruned")
	}
	if rec, _ := applyset.Get(ctx, e.st, "web"); !slices.Equal(rec.Objects, []string{"service/web", "unit/a"}) {
		t.Errorf("record after prune: %v", rec.Objects)
	}

	// Without Prune, the set is labelled and recorded, nothing deleted.
	e.apply("web", objs(unit("a")), applyset.Options{}, "unit/a unchanged")
	if !e.exists("service", "web") {
		t.Error("service/web deleted without Prune")
	}
}

func TestPruneNeverTouchesOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.apply("web", objs(unit("a"), unit("b")), prune, "unit/a created", "unit/b created")
	e.apply("db", objs(unit("db")), prune, "unit/db created")
	// Applied by hand, without a set.
	if _, err := store.Apply(ctx, e.st, objs(unit("manual")), store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// unit/b applied by hand drops the label: it leaves the set.
	if _, err := store.Apply(ctx, e.st, objs(unit("b")), store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// A stale record that lists objects the set does not own by label.
	stale := `{"name":"web","objects":["unit/a","unit/b","unit/db","unit/manual"],"tooling":"applyctl"}`
	if _, err := e.st.Put(ctx, store.ApplySetKey("web"), []byte(stale), 0); err != nil {
		t.Fatal(err)
	}

	e.apply("web", objs(unit("c")), prune, "unit/c created", "unit/a pruned")
	for _, n := range []string{"b", "db", "manual", "c"} {
		if !e.exists("unit", n) {
			t.Errorf("unit/%s was deleted; only unit/a is labelled with set web", n)
		}
	}
}

func TestPruneEverythingNeedsAllowEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply("web", objs(unit("a"), unit("b")), prune, "unit/a created", "unit/b created")
	rev := e.revision()
	_, err := applyset.Apply(context.Background(), e.st, "web", nil, prune)
	if !errors.Is(err, applyset.ErrPruneAll) {
		t.Fatalf("empty input: %v, want ErrPruneAll", err)
	}
	for _, want := range []string{`apply set "web": the input is empty and would prune all 2 objects of the set (unit/a, unit/b); nothing was written`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if got := e.revision(); got != rev {
		t.Errorf("the refused prune wrote: revision %d -> %d", rev, got)
	}
	// Dry run with AllowEmpty reports, writes nothing.
	e.apply("web", nil, applyset.Options{Prune: true, AllowEmpty: true, DryRun: true}, "unit/a pruned", "unit/b pruned")
	if got := e.revision(); got != rev {
		t.Errorf("dry run wrote: revision %d -> %d", rev, got)
	}
	res := e.apply("web", nil, applyset.Options{Prune: true, AllowEmpty: true}, "unit/a pruned", "unit/b pruned")
	if e.exists("unit", "a") || e.exists("unit", "b") || len(res.Record.Objects) != 0 {
		t.Errorf("after an allowed empty prune: a %v b %v record %+v", e.exists("unit", "a"), e.exists("unit", "b"), res.Record)
	}
	// An empty input for a set that owns nothing is not refused.
	e.apply("empty", nil, prune)
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply("web", objs(unit("a"), unit("b")), prune, "unit/a created", "unit/b created")
	rev := e.revision()
	e.apply("web", objs(unit("a"), unit("c")), applyset.Options{Prune: true, DryRun: true},
		"unit/a unchanged", "unit/c created", "unit/b pruned")
	if got := e.revision(); got != rev {
		t.Errorf("dry run wrote: revision %d -> %d", rev, got)
	}
	if !e.exists("unit", "b") || e.exists("unit", "c") {
		t.Error("dry run changed the objects")
	}
}

func TestObjectOfAnotherSetIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply("db", objs(unit("db")), prune, "unit/db created")
	e.apply("web", objs(unit("web")), prune, "unit/web created")
	rev := e.revision()
	_, err := applyset.Apply(context.Background(), e.st, "web", objs(unit("web"), unit("db")), prune)
	if !errors.Is(err, applyset.ErrOtherSet) {
		t.Fatalf("moving unit/db: %v, want ErrOtherSet", err)
	}
	for _, want := range []string{`apply set "web": unit/db belongs to apply set "db"; nothing was written`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The manifest itself naming another set is refused too.
	u := unit("x")
	u.Metadata.Labels[applyset.LabelPartOf] = "other"
	if _, err := applyset.Apply(context.Background(), e.st, "web", objs(u), prune); !errors.Is(err, applyset.ErrOtherSet) {
		t.Errorf("manifest labelled with another set: %v, want ErrOtherSet", err)
	}
	if got := e.revision(); got != rev {
		t.Errorf("a refused apply wrote: revision %d -> %d", rev, got)
	}
	// Released by an apply without a set, the other set may adopt it.
	if _, err := store.Apply(context.Background(), e.st, objs(unit("db")), store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	e.apply("web", objs(unit("web"), unit("db")), prune, "unit/web unchanged", "unit/db configured")
}

func TestOtherToolingIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply("repo", objs(unit("a")), applyset.Options{Prune: true, Tooling: "gitsync"}, "unit/a created")
	_, err := applyset.Apply(context.Background(), e.st, "repo", objs(unit("a")), prune)
	if !errors.Is(err, applyset.ErrOtherTooling) || !strings.Contains(err.Error(), `managed by "gitsync"`) {
		t.Errorf("applyctl applying a gitsync set: %v, want ErrOtherTooling", err)
	}
}

func TestInvalidName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := applyset.Apply(context.Background(), e.st, "Web_1", objs(unit("a")), prune); err == nil || !strings.Contains(err.Error(), "not a DNS label") {
		t.Errorf("invalid name: %v", err)
	}
}

func TestListAndClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	e.apply("b", objs(unit("x")), applyset.Options{Prune: true, Now: clock}, "unit/x created")
	e.apply("a", objs(unit("y"), unit("z")), applyset.Options{Prune: true, Now: clock}, "unit/y created", "unit/z created")
	recs, err := applyset.List(context.Background(), e.st)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Name != "a" || len(recs[0].Objects) != 2 || recs[1].Name != "b" || !recs[1].Updated.Equal(at) {
		t.Errorf("List: %+v", recs)
	}
}

func job(name, version string) *v1.Job {
	j := &v1.Job{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob},
		Metadata: v1.ObjectMeta{Name: name},
		Spec:     v1.JobSpec{Version: version, Container: v1.ContainerTemplate{Image: name + ":" + version}},
	}
	v1.Default(j)
	return j
}

// A Job's version records (objects/jobversion/) go with the Job: written
// when it is applied, deleted when it is pruned, and never pruned, nor
// listed, as objects of the set themselves.
func TestJobVersionsGoWithTheirJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.apply("jobs", objs(job("nc", "1"), job("keep", "1")), prune, "job/nc created", "job/keep created")
	e.apply("jobs", objs(job("nc", "2"), job("keep", "1")), prune, "job/nc configured", "job/keep unchanged")
	versions := func() []string {
		keys, err := e.st.ListKeys(ctx, store.JobVersionsPrefix)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			keys[i] = strings.TrimPrefix(k, store.JobVersionsPrefix)
		}
		return keys
	}
	if got := versions(); !slices.Equal(got, []string{"keep/1", "nc/1", "nc/2"}) {
		t.Fatalf("version records %v", got)
	}
	if rec, _ := applyset.Get(ctx, e.st, "jobs"); !slices.Equal(rec.Objects, []string{"job/keep", "job/nc"}) {
		t.Errorf("record: %v", rec.Objects)
	}
	rev := e.revision()
	e.apply("jobs", objs(job("nc", "2"), job("keep", "1")), prune, "job/nc unchanged", "job/keep unchanged")
	if got := e.revision(); got != rev {
		t.Errorf("an unchanged re-apply wrote: revision %d -> %d", rev, got)
	}
	e.apply("jobs", objs(job("keep", "1")), prune, "job/keep unchanged", "job/nc pruned")
	if got := versions(); !slices.Equal(got, []string{"keep/1"}) {
		t.Errorf("version records after job/nc was pruned: %v, want keep/1 only", got)
	}
}
