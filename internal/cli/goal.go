package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/goals"
	"berth.dev/berth/internal/store"
)

// defaultGoalWaitTimeout bounds start, stop and restart --wait.
const defaultGoalWaitTimeout = 5 * time.Minute

// goalVerb is one of the commands that change a Unit's goal.
type goalVerb = goals.Verb

const (
	verbStart   = goals.Start
	verbStop    = goals.Stop
	verbRestart = goals.Restart
)

func (a *app) goalCommands() []*cobra.Command {
	return []*cobra.Command{
		a.goalCommand(verbStart, "Set goal start on Units and on every Unit they require, transitively",
			`start sets spec.goal: start on each Unit named and, as systemctl start pulls
in Requires=, on every Unit they require, transitively. Wants are not pulled
in. A required Unit that does not exist is reported on standard error: the
Unit waits for it. The change is stored, so it survives restarts of the
controllers; it raises the Units' generation.

It prints "unit/todo started" (or "already started") per Unit, and
"unit/db started (required by todo)" for the Units pulled in.
With --wait it waits until they are Ready, as wait --for=condition=Ready does.

start job JOB HOST... sets goal start on the Job's deployments to those
hosts, as Helios' start does ("job/nc started on host-a"); a host the Job
is not deployed to is an error and nothing is written.`,
			`  applyctl start unit sqliteproxy
  applyctl start unit todo --wait
  applyctl start job netcat host-a`),
		a.goalCommand(verbStop, "Set goal stop on Units and on every Unit that requires them, transitively",
			`stop sets spec.goal: stop on each Unit named and, as an explicit stop of a
dependency does in systemd, on every Unit that requires one of them,
transitively. The change is stored, so it survives restarts of the
controllers; it raises the Units' generation.

It prints "unit/db stopped" (or "already stopped") per Unit, and
"unit/todo stopped (requires db)" for the dependents.
With --wait it waits until their instances are STOPPED (or gone).

stop job JOB HOST... sets goal stop on the Job's deployments to those
hosts, as Helios' stop does ("job/nc stopped on host-a"): the Job stays
deployed there. A host the Job is not deployed to is an error and nothing
is written.`,
			`  applyctl stop unit sqliteserver
  applyctl stop unit db --wait
  applyctl stop job netcat host-a host-b`),
		a.goalCommand(verbRestart, "Restart Units: set the restarted-at annotation and goal start",
			`restart sets the annotation `+v1.AnnotationRestartedAt+` to the current time on each
Unit named, and goal start on it (and, as start does, on what it requires);
the host controller restarts a container that started before that time, as
kubectl rollout restart does. The annotation does not raise the generation.

It prints "unit/todo restarted".
With --wait it waits until every instance runs again since the restart and
is Ready.`,
			`  applyctl restart unit todo
  applyctl restart unit todo --wait`),
	}
}

func (a *app) goalCommand(verb goalVerb, short, long, example string) *cobra.Command {
	var wait bool
	var timeout time.Duration
	var output string
	use := string(verb) + " unit NAME [NAME...]"
	if verb != verbRestart {
		use += " | " + string(verb) + " job JOB HOST [HOST...]"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rest, ok := strings.CutPrefix(args[0], "job/"); ok && len(args) > 1 {
				args = append([]string{"job", rest}, args[1:]...) // job/NAME HOST...
			}
			kind, names, err := kindAndNames(args)
			if err != nil {
				return err
			}
			if kind == v1.KindJob && verb != verbRestart {
				if wait {
					return usagef("--wait is for units: applyctl status --job JOB shows a job's instances")
				}
				if err := checkOutput(output); err != nil {
					return err
				}
				return a.jobGoal(cmd.Context(), verb, names, output)
			}
			if kind != v1.KindUnit {
				return usagef("%s is for units, not %ss", verb, strings.ToLower(kind))
			}
			if output != "" {
				return usagef("-o is for jobs: %s job JOB HOST... -o json", verb)
			}
			if len(names) == 0 {
				return usagef("%s needs the name of a unit: %s unit NAME", verb, verb)
			}
			return a.changeGoal(cmd.Context(), verb, names, wait, timeout)
		},
	}
	what := "Ready"
	if verb == verbStop {
		what = "STOPPED"
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the units are "+what)
	cmd.Flags().DurationVar(&timeout, "timeout", defaultGoalWaitTimeout, "how long --wait waits (negative: no limit)")
	if verb != verbRestart {
		cmd.Flags().StringVarP(&output, "output", "o", "", "output format of "+string(verb)+" job: json or yaml")
	}
	return cmd
}

// changeGoal runs start, stop or restart on the named Units.
func (a *app) changeGoal(ctx context.Context, verb goalVerb, names []string, wait bool, timeout time.Duration) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	wctx, cancel := a.withTimeout(ctx)
	res, err := goals.SetUnits(wctx, st, verb, names, a.now())
	cancel()
	if err != nil {
		var nf *goals.NotFoundError
		if errors.As(err, &nf) {
			return notFound(nf.Kind, nf.Name)
		}
		return storeErr(err)
	}
	for _, l := range res.MissingLines() {
		fmt.Fprintln(a.err, l)
	}
	for _, l := range res.Lines() {
		fmt.Fprintln(a.out, l)
	}
	changes, restartedAt := res.Changes, res.RestartedAt
	if !wait {
		return nil
	}
	all := make([]string, len(changes))
	for i, c := range changes {
		all[i] = c.Name
	}
	switch verb {
	case verbStop:
		return a.waitStopped(ctx, st, all, timeout)
	case verbRestart:
		after := map[string]time.Time{}
		for _, n := range names {
			after[n] = restartedAt
		}
		return a.waitGoalReady(ctx, st, all, timeout, after)
	}
	return a.waitGoalReady(ctx, st, all, timeout, nil)
}

// waitGoalReady is start and restart --wait: every Unit Ready at its
// current generation and, for those in restartedAfter, every instance
// running since that time.
func (a *app) waitGoalReady(ctx context.Context, st *store.Store, names []string, timeout time.Duration, restartedAfter map[string]time.Time) error {
	res, err := a.waitUnits(ctx, st, names, timeout, waitOptions{readyVerb: "ready", restartedAfter: restartedAfter, why: a.err})
	var fe *failedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		for _, l := range res.last[fe.name].report(fe.name) {
			fmt.Fprintln(a.err, l)
		}
		return err
	case timedOut(ctx, err):
		for _, n := range res.pending {
			for _, l := range res.last[n].report(n) {
				fmt.Fprintln(a.err, l)
			}
		}
		return fmt.Errorf("timed out after %s waiting for %s to be ready", timeout, plural(len(res.pending), "unit"))
	}
	return err
}

// notRestarted returns insts where every instance that has not been
// running since t reports Ready=False: restart --wait waits for the
// container started after the request, not the one that was Ready before.
func notRestarted(insts []v1.InstanceStatus, t time.Time) []v1.InstanceStatus {
	out := make([]v1.InstanceStatus, len(insts))
	for i, in := range insts {
		if in.State == v1.StateRunning && !in.Since.Before(t) {
			out[i] = in
			continue
		}
		in.Conditions = v1.SetCondition(slices.Clone(in.Conditions), v1.Condition{
			Type: v1.ConditionReady, Status: v1.ConditionFalse,
			Message: "not restarted since the request at " + t.Format(time.RFC3339),
		}, t)
		out[i] = in
	}
	return out
}

// inactive reports whether an instance's container does not run: what
// stop --wait waits for.
func inactive(s v1.InstanceState) bool {
	switch s {
	case v1.StateStopped, v1.StateExited, v1.StateFailed:
		return true
	}
	return false
}

// waitStopped is stop --wait: every instance of the named Units is
// inactive, or gone.
func (a *app) waitStopped(ctx context.Context, st *store.Store, names []string, timeout time.Duration) error {
	m, err := a.startMirror(ctx, st, store.StatusesPrefix, store.HostsPrefix)
	if err != nil {
		return err
	}
	defer m.stop()
	wctx, cancel := waitContext(ctx, timeout)
	defer cancel()
	pending := map[string][]v1.InstanceStatus{}
	err = m.until(wctx, func() (bool, error) {
		clear(pending)
		for _, n := range names {
			for _, in := range m.statuses(n) {
				if !inactive(in.State) {
					pending[n] = append(pending[n], in)
				}
			}
		}
		return len(pending) == 0, nil
	})
	if timedOut(ctx, err) {
		for _, n := range names {
			for _, in := range pending[n] {
				fmt.Fprintf(a.err, "%s: %s\n", ref(v1.KindUnit, n), instanceLine(in, in.ObservedGeneration))
			}
		}
		return fmt.Errorf("timed out after %s waiting for %s to stop", timeout, plural(len(pending), "unit"))
	}
	return err
}
