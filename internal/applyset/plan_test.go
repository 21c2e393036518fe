package applyset

import (
	"errors"
	"slices"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

func obj(kind, name, set string) v1.Object {
	o := v1.New(kind)
	o.GetTypeMeta().Kind = kind
	o.GetObjectMeta().Name = name
	if set != "" {
		o.GetObjectMeta().Labels = map[string]string{LabelPartOf: set}
	}
	return o
}

func TestPlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		in, live  []v1.Object
		noPrune   bool
		wantPrune []string
		wantErr   error
	}{
		{name: "nothing live", in: []v1.Object{obj("Unit", "a", "")}},
		{name: "prunes only the set's label", in: []v1.Object{obj("Unit", "a", "")},
			live: []v1.Object{obj("Unit", "a", "web"), obj("Unit", "b", "web"), obj("Unit", "c", "db"), obj("Unit", "d", ""),
				obj("Service", "s", "web"), obj("Job", "j", "web")},
			wantPrune: []string{"unit/b", "job/j", "service/s"}},
		{name: "without prune", in: []v1.Object{obj("Unit", "a", "")}, live: []v1.Object{obj("Unit", "b", "web")}, noPrune: true},
		{name: "adopts a hand-applied object", in: []v1.Object{obj("Unit", "a", "")}, live: []v1.Object{obj("Unit", "a", "")}},
		{name: "same name, other kind", in: []v1.Object{obj("Unit", "a", "")}, live: []v1.Object{obj("Service", "a", "web")},
			wantPrune: []string{"service/a"}},
		{name: "live in another set", in: []v1.Object{obj("Unit", "a", "")}, live: []v1.Object{obj("Unit", "a", "db")}, wantErr: ErrOtherSet},
		{name: "manifest names another set", in: []v1.Object{obj("Unit", "a", "db")}, wantErr: ErrOtherSet},
		{name: "manifest names this set", in: []v1.Object{obj("Unit", "a", "web")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apply, pruned, err := plan("web", tc.in, tc.live, !tc.noPrune)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			for i, o := range apply {
				if o.GetObjectMeta().Labels[LabelPartOf] != "web" {
					t.Errorf("%s not labelled", o.GetObjectMeta().Name)
				}
				if o == tc.in[i] {
					t.Errorf("%s: the input was not copied", o.GetObjectMeta().Name)
				}
			}
			for _, o := range tc.in {
				if l := o.GetObjectMeta().Labels[LabelPartOf]; l != "" && l != "web" {
					t.Errorf("input changed")
				}
			}
			if got := refsList(pruned); !slices.Equal(got, tc.wantPrune) {
				t.Errorf("pruned %q, want %q", got, tc.wantPrune)
			}
		})
	}
}

func refsList(objs []v1.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, ref(v1.KindOf(o), o.GetObjectMeta().Name))
	}
	return out
}
