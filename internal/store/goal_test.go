package store_test

import (
	"context"
	"errors"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func TestUpdateObjects(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	applyOne(t, s, testUnit("a", "a:1"))
	applyOne(t, s, testUnit("b", "b:1"))

	// A concurrent write between the read and the write: the change is
	// computed again from what that writer stored, nothing is lost.
	calls := 0
	res, err := store.UpdateObjects(ctx, s, v1.KindUnit, func(objs []v1.Object) ([]v1.Object, error) {
		calls++
		if calls == 1 {
			applyOne(t, s, testUnit("a", "a:2"))
		}
		var out []v1.Object
		for _, o := range objs {
			u := o.(*v1.Unit)
			u.Spec.Goal = v1.GoalStop
			if u.Metadata.Name == "b" {
				u.Metadata.Annotations = map[string]string{"note": "x"}
				u.Spec.Goal = v1.GoalStart // unchanged spec
			}
			out = append(out, u)
		}
		return out, nil
	})
	if err != nil || calls != 2 || len(res) != 2 {
		t.Fatalf("UpdateObjects: %v after %d calls: %+v", err, calls, res)
	}
	if res[0].Action != store.Configured || res[1].Action != store.Configured {
		t.Errorf("actions %s, %s", res[0].Action, res[1].Action)
	}
	a, b := getUnit(t, s, "a"), getUnit(t, s, "b")
	if a.Spec.Container.Image != "a:2" || a.Spec.Goal != v1.GoalStop || a.Metadata.Generation != 3 {
		t.Errorf("a: image %s goal %s generation %d, want a:2 stop 3", a.Spec.Container.Image, a.Spec.Goal, a.Metadata.Generation)
	}
	if b.Metadata.Generation != 1 || b.Metadata.Annotations["note"] != "x" {
		t.Errorf("b: generation %d annotations %v: an annotation is not spec", b.Metadata.Generation, b.Metadata.Annotations)
	}

	// Nothing changed: nothing written.
	rev, _ := s.Revision(ctx)
	res, err = store.UpdateObjects(ctx, s, v1.KindUnit, func(objs []v1.Object) ([]v1.Object, error) { return objs, nil })
	if now, _ := s.Revision(ctx); err != nil || now != rev || res[0].Action != store.Unchanged {
		t.Errorf("no change: %v, revision %d -> %d, %+v", err, rev, now, res)
	}

	// An object that is not stored is refused, never created.
	_, err = store.UpdateObjects(ctx, s, v1.KindUnit, func([]v1.Object) ([]v1.Object, error) {
		return []v1.Object{testUnit("c", "c:1")}, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an object not listed: %v, want ErrNotFound", err)
	}
	if _, err := store.UpdateObjects(ctx, s, v1.KindHost, nil); err == nil {
		t.Error("hosts updated by a user")
	}
}
