package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/goals"
	"berth.dev/berth/internal/store"
)

// rolloutJobArgs returns the Job that rollout promote and undo name: job
// NAME, job/NAME, or NAME:VERSION[:HASH] as Helios names jobs.
func rolloutJobArgs(verb string, args []string) (jobRef, error) {
	kind, names, err := kindAndNames(args)
	if err != nil {
		return jobRef{}, err
	}
	if kind != v1.KindJob {
		return jobRef{}, usagef("rollout %s is for jobs, not %ss", verb, strings.ToLower(kind))
	}
	if len(names) != 1 {
		return jobRef{}, usagef("rollout %s needs one NAME: rollout %s job NAME", verb, verb)
	}
	return parseJobRef(names[0])
}

func (a *app) rolloutPromoteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "promote job NAME",
		Short: "Let a Job's rollout go on past its canaries",
		Long: `promote lets the rollout of a Job's current version go on past its
canaries (spec.rollout.canary), as nomad deployment promote does: it
annotates the Job ` + v1.AnnotationPromote + `=<version>, and the leading
controller moves the other hosts, rollout.parallelism at a time, once the
canaries are healthy (at once when they are already). It prints
"job/NAME promoted" and fails when the Job has no rollout of its version
with canaries, or one that failed or was reverted.`,
		Example: `  applyctl rollout promote job netcat`,
		Args:    usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := rolloutJobArgs("promote", args)
			if err != nil {
				return err
			}
			return a.rolloutPromote(cmd.Context(), ref)
		},
	}
}

func (a *app) rolloutPromote(ctx context.Context, ref jobRef) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rctx, cancel := a.withTimeout(ctx)
	b, err := goals.JobBinding(rctx, st, ref.name)
	cancel()
	if err != nil {
		return storeErr(err)
	}
	r, err := a.updateJob(ctx, st, ref, func(j *v1.Job) error {
		ver := j.Spec.Version
		var ro *v1.RolloutStatus
		if b != nil {
			ro = b.Rollout
		}
		switch {
		case ro == nil || ro.Version != ver || len(ro.Canaries) == 0:
			return fmt.Errorf("job %q has no rollout of version %s with canaries to promote", j.Metadata.Name, ver)
		case ro.State == v1.RolloutFailed || ro.State == v1.RolloutReverted:
			return fmt.Errorf("job %q: the rollout of version %s ended %s, nothing to promote: %s", j.Metadata.Name, ver, ro.State, ro.Message)
		}
		if j.Metadata.Annotations == nil {
			j.Metadata.Annotations = map[string]string{}
		}
		j.Metadata.Annotations[v1.AnnotationPromote] = ver
		return nil
	})
	if err != nil {
		return err
	}
	j := r.Object.(*v1.Job)
	if r.Action == store.Unchanged || b.Rollout.Promoted {
		fmt.Fprintf(a.out, "job/%s version %s promoted already\n", j.Metadata.Name, j.Spec.Version)
		return nil
	}
	fmt.Fprintf(a.out, "job/%s promoted: version %s goes on past its canaries %s\n", j.Metadata.Name, j.Spec.Version,
		strings.Join(b.Rollout.Canaries, ", "))
	return nil
}

func (a *app) rolloutUndoCommand() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "undo job NAME [--to-version V]",
		Short: "Roll a Job back to its last stable version, or another stored one",
		Long: `undo rolls a Job back, as kubectl rollout undo does a Deployment: it stores
the Job with an earlier version and that version's template, as it was
stored (objects/jobversion/NAME/VERSION), and the leading controller rolls
the hosts to it with the Job's rollout settings. Without --to-version the
version is the Job's stable one: the last that ran healthy on every host
(after a rollout reverted by autoRevert, the one the hosts run). It prints
"job/NAME rolled back to version V".`,
		Example: `  applyctl rollout undo job netcat
  applyctl rollout undo job netcat --to-version 1`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := rolloutJobArgs("undo", args)
			if err != nil {
				return err
			}
			return a.rolloutUndo(cmd.Context(), ref, to)
		},
	}
	cmd.Flags().StringVar(&to, "to-version", "", "the stored version to roll back to (default: the last that ran healthy on every host)")
	return cmd
}

func (a *app) rolloutUndo(ctx context.Context, ref jobRef, to string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rctx, cancel := a.withTimeout(ctx)
	b, err := goals.JobBinding(rctx, st, ref.name)
	var recs map[string]*v1.JobVersion
	if err == nil {
		var all map[string]map[string]*v1.JobVersion
		all, err = store.ListJobVersions(rctx, st)
		recs = all[ref.name]
	}
	cancel()
	if err != nil {
		return storeErr(err)
	}
	stored := strings.Join(slices.Sorted(maps.Keys(recs)), ", ")
	var from string
	r, err := a.updateJob(ctx, st, ref, func(j *v1.Job) error {
		target := to
		if target == "" {
			if b == nil || b.Stable == "" || b.Stable == j.Spec.Version {
				return fmt.Errorf("job %q has no earlier version that ran healthy on every host: name one with --to-version (stored: %s)",
					j.Metadata.Name, dash(stored))
			}
			target = b.Stable
		}
		if target == j.Spec.Version {
			return fmt.Errorf("job %q is at version %s already", j.Metadata.Name, target)
		}
		rec, ok := recs[target]
		if !ok {
			return fmt.Errorf("version %s of job %q is not stored (stored: %s)", target, j.Metadata.Name, dash(stored))
		}
		from = j.Spec.Version
		j.Spec.Version, j.Spec.Container = target, rec.Container
		return nil
	})
	if err != nil {
		return err
	}
	j := r.Object.(*v1.Job)
	fmt.Fprintf(a.out, "job/%s rolled back to version %s (from %s)\n", j.Metadata.Name, j.Spec.Version, from)
	return nil
}
