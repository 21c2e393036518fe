package gc

import (
	"context"
	"errors"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// The version records of a Job deleted by other means than berth's (which
// deletes them with the Job) are collected; those of a Job that exists
// stay, and so does every host's status of it.
func TestCollectJobVersions(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	for _, name := range []string{"kept", "gone"} {
		j := v1.New(v1.KindJob).(*v1.Job)
		j.Metadata.Name = name
		j.Spec.Version = "1"
		j.Spec.Container.Image = "x"
		v1.Default(j)
		if _, err := store.Apply(ctx, s, []v1.Object{j}, store.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, store.ObjectKey(v1.KindJob, "gone")); err != nil { // as etcdctl del would
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, store.StatusKey(v1.KindJob, "kept", "h"), []byte(`{"state":"RUNNING"}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := New(s, Options{}).Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := CollectHost(ctx, s, "h"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		store.JobVersionKey("kept", "1"):         true,
		store.JobVersionKey("gone", "1"):         false,
		store.StatusKey(v1.KindJob, "kept", "h"): true,
		store.ObjectKey(v1.KindJob, "kept"):      true,
	} {
		_, err := s.Get(ctx, key)
		if got := !errors.Is(err, store.ErrNotFound); got != want {
			t.Errorf("%s present = %v, want %v", key, got, want)
		}
	}
}
