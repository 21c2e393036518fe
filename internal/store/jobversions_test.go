package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func testJob(name, version, image string) *v1.Job {
	j := &v1.Job{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob}, Metadata: v1.ObjectMeta{Name: name},
		Spec: v1.JobSpec{Version: version, Container: v1.ContainerTemplate{Image: image}, Deployments: []v1.Deployment{{Host: "h"}}}}
	v1.Default(j)
	return j
}

// versionsOf returns the versions of a Job that have a record, sorted,
// each with the image of its template.
func versionsOf(t *testing.T, s *store.Store, name string) string {
	t.Helper()
	all, err := store.ListJobVersions(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for ver, jv := range all[name] {
		out = append(out, ver+"="+jv.Container.Image)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func wantVersions(t *testing.T, s *store.Store, name, want string) {
	t.Helper()
	if got := versionsOf(t, s, name); got != want {
		t.Errorf("versions of %s: %q, want %q", name, got, want)
	}
}

// Every apply of a Job stores its version's template under
// objects/jobversion/<name>/<version>, in the transaction that stores the
// Job; a version's template never changes.
func TestJobVersionRecords(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	applyOne(t, s, testJob("nc", "1", "nc:1"))
	wantVersions(t, s, "nc", "1=nc:1")
	kv, err := s.Get(ctx, store.JobVersionKey("nc", "1"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Get(ctx, store.ObjectKey(v1.KindJob, "nc"))
	if err != nil || obj.ModRevision != kv.ModRevision {
		t.Errorf("the Job at revision %d (%v), its record at %d: want one transaction", obj.ModRevision, err, kv.ModRevision)
	}
	rev := revision(t, s)
	if r := applyOne(t, s, testJob("nc", "1", "nc:1")); r.Action != store.Unchanged || revision(t, s) != rev {
		t.Errorf("a re-apply: %s, revision %d -> %d; want unchanged and nothing written", r.Action, rev, revision(t, s))
	}
	applyOne(t, s, testJob("nc", "2", "nc:2"))
	wantVersions(t, s, "nc", "1=nc:1 2=nc:2")

	// Back to version 1, as it was: allowed. With another template, or
	// version 2 with another one: refused, nothing written.
	if r := applyOne(t, s, testJob("nc", "1", "nc:1")); r.Action != store.Configured {
		t.Errorf("back to version 1: %s", r.Action)
	}
	rev = revision(t, s)
	for _, j := range []*v1.Job{testJob("nc", "1", "nc:1-changed"), testJob("nc", "2", "nc:2-changed")} {
		_, err := store.Apply(ctx, s, []v1.Object{j}, store.ApplyOptions{})
		if !errors.Is(err, store.ErrVersionChanged) || !strings.Contains(err.Error(), fmt.Sprintf("job nc: version %s was stored before with another container template", j.Spec.Version)) {
			t.Errorf("version %s with another template: %v, want ErrVersionChanged", j.Spec.Version, err)
		}
	}
	if revision(t, s) != rev {
		t.Error("a refused apply wrote something")
	}
	wantVersions(t, s, "nc", "1=nc:1 2=nc:2")

	// Deleting the Job deletes its versions; a Job of that name made
	// again starts afresh.
	if err := store.DeleteObject(ctx, s, v1.KindJob, "nc"); err != nil {
		t.Fatal(err)
	}
	wantVersions(t, s, "nc", "")
	applyOne(t, s, testJob("nc", "2", "nc:2-new"))
	wantVersions(t, s, "nc", "2=nc:2-new")
}

func revision(t *testing.T, s *store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// A Job keeps the records of its last JobVersionsKept versions, and
// besides them every version its binding still names (hosts that a
// stopped rollout left on it).
func TestJobVersionsArePruned(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	applyOne(t, s, testJob("nc", "1", "nc:1"))
	putJSON(t, s, store.BindingKey(v1.KindJob, "nc"), v1.JobBinding{Hosts: map[string]string{"h": "1"}})
	for i := 2; i <= 13; i++ {
		v := fmt.Sprint(i)
		applyOne(t, s, testJob("nc", v, "nc:"+v))
	}
	want := []string{"1=nc:1"}
	for i := 5; i <= 13; i++ {
		want = append(want, fmt.Sprintf("%d=nc:%d", i, i))
	}
	slices.Sort(want)
	wantVersions(t, s, "nc", strings.Join(want, " "))

	// Back to version 6, once hosts left version 1: 6 counts as recent,
	// 1 goes, then 5 and 7 before it.
	bind := func(v string) {
		putJSON(t, s, store.BindingKey(v1.KindJob, "nc"), v1.JobBinding{Hosts: map[string]string{"h": v}})
	}
	bind("13")
	applyOne(t, s, testJob("nc", "6", "nc:6"))
	bind("6")
	for _, v := range []string{"14", "15", "16"} {
		applyOne(t, s, testJob("nc", v, "nc:"+v))
		bind(v)
	}
	want = []string{"6=nc:6"}
	for i := 8; i <= 16; i++ {
		want = append(want, fmt.Sprintf("%d=nc:%d", i, i))
	}
	slices.Sort(want)
	wantVersions(t, s, "nc", strings.Join(want, " "))

	// The binding's Stable version, what a failed rollout reverts to, is
	// kept however old.
	putJSON(t, s, store.BindingKey(v1.KindJob, "nc"), v1.JobBinding{Hosts: map[string]string{"h": "16"}, Stable: "8"})
	for i := 17; i <= 26; i++ {
		v := fmt.Sprint(i)
		applyOne(t, s, testJob("nc", v, "nc:"+v))
	}
	want = []string{"8=nc:8", "16=nc:16"}
	for i := 19; i <= 26; i++ {
		want = append(want, fmt.Sprintf("%d=nc:%d", i, i))
	}
	slices.Sort(want)
	wantVersions(t, s, "nc", strings.Join(want, " "))
}

// A Job stored before versions were recorded gets the records of its
// versions at its next apply or change: the current one, even when the
// Job is unchanged, and the one a new version replaces, from the stored
// Job, so that hosts still running it during the rollout find it.
func TestJobStoredWithoutRecords(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	strip := func() {
		t.Helper()
		if _, err := s.DeletePrefix(ctx, store.JobVersionsPrefix); err != nil {
			t.Fatal(err)
		}
	}
	applyOne(t, s, testJob("nc", "1", "nc:1"))
	strip()
	if r := applyOne(t, s, testJob("nc", "1", "nc:1")); r.Action != store.Unchanged {
		t.Errorf("re-apply: %s, want unchanged", r.Action)
	}
	wantVersions(t, s, "nc", "1=nc:1")
	strip()
	applyOne(t, s, testJob("nc", "2", "nc:2"))
	wantVersions(t, s, "nc", "1=nc:1 2=nc:2")
	strip()
	_, err := store.UpdateObjects(ctx, s, v1.KindJob, func(objs []v1.Object) ([]v1.Object, error) {
		j := objs[0].(*v1.Job)
		j.Spec.Deployments = append(j.Spec.Deployments, v1.Deployment{Host: "h2"})
		return objs, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantVersions(t, s, "nc", "2=nc:2")
}

// Records left by a Job deleted by other means than berth's (etcdctl) are
// not those of a new Job of that name: its apply removes or replaces them.
func TestLeftoverVersionRecords(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	for _, v := range []string{"1", "7"} {
		putJSON(t, s, store.JobVersionKey("nc", v), v1.JobVersion{Job: "nc", Version: v, Container: v1.ContainerTemplate{Image: "old:" + v}})
	}
	if r := applyOne(t, s, testJob("nc", "1", "nc:1")); r.Action != store.Created {
		t.Errorf("%s, want created", r.Action)
	}
	wantVersions(t, s, "nc", "1=nc:1")
}

// An apply of many Jobs (read by lists, not key by key) records each.
func TestManyJobsRecorded(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	var objs []v1.Object
	for i := range 40 {
		objs = append(objs, testJob(fmt.Sprintf("j%02d", i), "1", fmt.Sprintf("j:%d", i)))
	}
	if _, err := store.Apply(context.Background(), s, objs, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	all, err := store.ListJobVersions(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 40 || all["j39"]["1"].Container.Image != "j:39" {
		t.Errorf("%d jobs with records, j39's %+v", len(all), all["j39"])
	}
}

// DeleteObjectAt deletes only the object as it was read.
func TestDeleteObjectAt(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	r := applyOne(t, s, testJob("nc", "1", "nc:1"))
	applyOne(t, s, testJob("nc", "2", "nc:2"))
	var rev int64
	fmt.Sscan(r.Object.GetObjectMeta().ResourceVersion, &rev)
	if err := store.DeleteObjectAt(ctx, s, v1.KindJob, "nc", rev); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete at an old revision: %v, want ErrConflict", err)
	}
	wantVersions(t, s, "nc", "1=nc:1 2=nc:2")
	kv, err := s.Get(ctx, store.ObjectKey(v1.KindJob, "nc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteObjectAt(ctx, s, v1.KindJob, "nc", kv.ModRevision); err != nil {
		t.Fatal(err)
	}
	wantVersions(t, s, "nc", "")
	if err := store.DeleteObjectAt(ctx, s, v1.KindJob, "nc", kv.ModRevision); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a deleted Job: %v, want ErrNotFound", err)
	}
}

func TestParseJobVersionKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		key, name, version string
		ok                 bool
	}{
		{store.JobVersionKey("nc", "1.2-rc_3"), "nc", "1.2-rc_3", true},
		{store.ObjectKey(v1.KindJob, "nc"), "", "", false},
		{store.JobVersionPrefix("nc"), "", "", false},
		{store.JobVersionKey("nc", "1") + "/x", "", "", false},
	} {
		n, v, ok := store.ParseJobVersionKey(tt.key)
		if n != tt.name || v != tt.version || ok != tt.ok {
			t.Errorf("ParseJobVersionKey(%q) = %q %q %v", tt.key, n, v, ok)
		}
	}
	if !strings.HasPrefix(store.JobVersionKey("nc", "1"), store.Prefix+"objects/") || strings.HasPrefix(store.JobVersionKey("nc", "1"), store.ObjectPrefix(v1.KindJob)) {
		t.Error("version records belong under objects/ (operators' roles), apart from the Jobs")
	}
}
