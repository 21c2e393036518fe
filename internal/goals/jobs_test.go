package goals_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/goals"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func job(name string, deployments ...v1.Deployment) *v1.Job {
	j := &v1.Job{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob}}
	j.Metadata.Name = name
	j.Spec.Version = "1"
	j.Spec.Container.Image = "nc:1"
	j.Spec.Deployments = deployments
	return j
}

func TestJobVerbs(t *testing.T) {
	t.Parallel()
	st := testenv.EtcdStore(t)
	apply(t, st, job("nc", v1.Deployment{Host: "a"}))
	ctx := context.Background()

	steps := []struct {
		name string
		do   func() (store.ApplyResult, []goals.HostResult, error)
		want []string
	}{
		{"deploy", func() (store.ApplyResult, []goals.HostResult, error) {
			return goals.Deploy(ctx, st, "nc", nil, []string{"a", "b"}, v1.GoalStop)
		}, []string{"job/nc already deployed to a", "job/nc deployed to b (goal stop)"}},
		{"start", func() (store.ApplyResult, []goals.HostResult, error) {
			return goals.SetJobGoal(ctx, st, "nc", nil, goals.Start, []string{"a", "b"})
		}, []string{"job/nc already started on a", "job/nc started on b"}},
		{"undeploy", func() (store.ApplyResult, []goals.HostResult, error) {
			return goals.Undeploy(ctx, st, "nc", nil, []string{"a", "c"}, false, nil)
		}, []string{"job/nc undeployed from a", "job/nc is not deployed to c"}},
	}
	for _, s := range steps {
		r, results, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		lines, errs := goals.JobLines(r.Object.(*v1.Job), results)
		if !slices.Equal(lines, s.want) || len(errs) > 0 {
			t.Errorf("%s: %q %q, want %q", s.name, lines, errs, s.want)
		}
	}
	o, err := store.GetObject(ctx, st, v1.KindJob, "nc")
	if err != nil {
		t.Fatal(err)
	}
	if got := o.(*v1.Job).Spec.Deployments; !slices.Equal(got, []v1.Deployment{{Host: "b", Goal: v1.GoalStart}}) {
		t.Errorf("deployments %v, want b with goal start", got)
	}

	rev, _ := st.Revision(ctx)
	if _, _, err := goals.SetJobGoal(ctx, st, "nc", nil, goals.Stop, []string{"b", "z"}); err == nil ||
		err.Error() != "job nc is not deployed to z: deploy it first (applyctl deploy nc HOST)" {
		t.Errorf("stop on a host not deployed to: %v", err)
	}
	wrongVersion := func(j *v1.Job) error { return errors.New("not that version") }
	if _, _, err := goals.Deploy(ctx, st, "nc", wrongVersion, []string{"c"}, v1.GoalStart); err == nil || err.Error() != "not that version" {
		t.Errorf("deploy refused by check: %v", err)
	}
	var nf *goals.NotFoundError
	if _, _, err := goals.Deploy(ctx, st, "none", nil, []string{"c"}, v1.GoalStart); !errors.As(err, &nf) {
		t.Errorf("deploy of a missing job: %v", err)
	}
	if after, _ := st.Revision(ctx); after != rev {
		t.Errorf("refused changes wrote something: revision %d -> %d", rev, after)
	}
}

func TestUndeployBySelector(t *testing.T) {
	t.Parallel()
	j := job("sel")
	j.Spec.HostSelector = map[string]string{"role": "edge"}
	results := []goals.HostResult{{Host: "e1", Result: goals.ResultBySelector}}
	lines, errs := goals.JobLines(j, results)
	want := "Error: job/sel runs on e1 through its hostSelector (role=edge), not a deployment: change spec.hostSelector to take it off e1"
	if len(lines) != 0 || !slices.Equal(errs, []string{want}) {
		t.Errorf("lines %q errs %q, want the error %q", lines, errs, want)
	}
}
