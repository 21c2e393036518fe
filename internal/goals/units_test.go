package goals_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/goals"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func unit(name string, requires ...string) *v1.Unit {
	u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}}
	u.Metadata.Name = name
	u.Spec.Container.Image = name + ":1"
	u.Spec.Requires = requires
	return u
}

func byName(us ...*v1.Unit) map[string]*v1.Unit {
	m := map[string]*v1.Unit{}
	for _, u := range us {
		m[u.Metadata.Name] = u
	}
	return m
}

func TestStopAndStartSets(t *testing.T) {
	t.Parallel()
	// web requires api requires db; worker requires db; api wants cache.
	api := unit("api", "db")
	api.Spec.Wants = []string{"cache"}
	units := byName(unit("db"), api, unit("web", "api"), unit("worker", "db", "queue"), unit("cache"))
	for _, tc := range []struct {
		name        string
		stop        bool
		names       []string
		want        []goals.Change
		wantMissing []goals.MissingDep
	}{
		{name: "stop pulls in every dependent, breadth first", stop: true, names: []string{"db"},
			want: []goals.Change{{Name: "db"}, {Name: "api", Via: "db"}, {Name: "worker", Via: "db"}, {Name: "web", Via: "api"}}},
		{name: "stop of a leaf", stop: true, names: []string{"web"}, want: []goals.Change{{Name: "web"}}},
		{name: "stop names each unit once", stop: true, names: []string{"api", "web", "api"},
			want: []goals.Change{{Name: "api"}, {Name: "web"}}},
		{name: "start pulls in requirements, not wants", names: []string{"web"},
			want: []goals.Change{{Name: "web"}, {Name: "api", Via: "web"}, {Name: "db", Via: "api"}}},
		{name: "start reports a missing requirement", names: []string{"worker"},
			want: []goals.Change{{Name: "worker"}, {Name: "db", Via: "worker"}}, wantMissing: []goals.MissingDep{{Unit: "worker", Missing: "queue"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []goals.Change
			var missing []goals.MissingDep
			if tc.stop {
				got = goals.StopSet(units, tc.names)
			} else {
				got, missing = goals.StartSet(units, tc.names)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(missing, tc.wantMissing) {
				t.Errorf("got %v missing %v, want %v missing %v", got, missing, tc.want, tc.wantMissing)
			}
		})
	}
}

func ExampleStopSet() {
	units := byName(unit("db"), unit("api", "db"), unit("web", "api"))
	for _, c := range goals.StopSet(units, []string{"db"}) {
		fmt.Println(goals.Line(goals.Stop, c, false))
	}
	// Output:
	// unit/db stopped
	// unit/api stopped (requires db)
	// unit/web stopped (requires api)
}

func apply(t *testing.T, st *store.Store, objs ...v1.Object) {
	t.Helper()
	for _, o := range objs {
		v1.Default(o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := store.Apply(ctx, st, objs, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestSetUnits(t *testing.T) {
	t.Parallel()
	st := testenv.EtcdStore(t)
	apply(t, st, unit("db"), unit("api", "db"), unit("other"))
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	res, err := goals.SetUnits(ctx, st, goals.Stop, []string{"db"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Lines(), []string{"unit/db stopped", "unit/api stopped (requires db)"}; !slices.Equal(got, want) {
		t.Errorf("stop: %q, want %q", got, want)
	}
	res, err = goals.SetUnits(ctx, st, goals.Restart, []string{"api"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Lines(), []string{"unit/api restarted", "unit/db started (required by api)"}; !slices.Equal(got, want) {
		t.Errorf("restart: %q, want %q", got, want)
	}
	o, err := store.GetObject(ctx, st, v1.KindUnit, "api")
	if err != nil {
		t.Fatal(err)
	}
	u := o.(*v1.Unit)
	if u.Spec.Goal != v1.GoalStart || u.Metadata.Annotations[v1.AnnotationRestartedAt] != now.Format(time.RFC3339Nano) {
		t.Errorf("api after restart: goal %s, annotations %v", u.Spec.Goal, u.Metadata.Annotations)
	}

	rev, _ := st.Revision(ctx)
	_, err = goals.SetUnits(ctx, st, goals.Stop, []string{"db", "nope"}, now)
	var nf *goals.NotFoundError
	if !errors.As(err, &nf) || err.Error() != `unit "nope" not found` {
		t.Fatalf("stop of a missing unit: %v", err)
	}
	if after, _ := st.Revision(ctx); after != rev {
		t.Errorf("a refused stop wrote something: revision %d -> %d", rev, after)
	}
}
