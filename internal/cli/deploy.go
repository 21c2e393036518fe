package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/goals"
	"berth.dev/berth/internal/store"
)

// hostResult is what a deploy, undeploy, start or stop did on one host.
type hostResult = goals.HostResult

// jobChangeDoc is what deploy, undeploy, start and stop print with -o json.
type jobChangeDoc struct {
	Job        string       `json:"job"`
	ID         string       `json:"id"`
	Generation int64        `json:"generation"`
	Hosts      []hostResult `json:"hosts"`
}

func (a *app) deployCommand() *cobra.Command {
	var noStart bool
	var output string
	cmd := &cobra.Command{
		Use:   "deploy JOB HOST [HOST...] [--no-start]",
		Short: "Deploy a Job to hosts (adds them to spec.deployments)",
		Long: `deploy adds {host, goal: start} (goal stop with --no-start) to the Job's
spec.deployments for each host named, as Helios' deploy does; the leading
controller then binds the Job's current version to those hosts. JOB is a
job name or a NAME:VERSION[:HASH] id, which must name the stored version.
A host the Job is already deployed to is reported and left as it is.
The change is one compare-and-swap write that raises the generation.`,
		Example: `  applyctl deploy netcat host-a host-b
  applyctl deploy netcat:1 host-c --no-start`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ref, hosts, err := jobAndHosts(args)
			if err != nil {
				return err
			}
			goal := v1.GoalStart
			if noStart {
				goal = v1.GoalStop
			}
			return a.deploy(cmd.Context(), ref, hosts, goal, output)
		},
	}
	cmd.Flags().BoolVar(&noStart, "no-start", false, "deploy with goal stop: the job is bound to the hosts but not started")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func (a *app) undeployCommand() *cobra.Command {
	var all bool
	var output string
	cmd := &cobra.Command{
		Use:   "undeploy JOB (HOST [HOST...] | --all)",
		Short: "Undeploy a Job from hosts (removes them from spec.deployments)",
		Long: `undeploy removes the hosts named (every host with --all) from the Job's
spec.deployments; their controllers then stop and remove its container.
A host the Job is not deployed to is reported and skipped. A host the Job
reaches through spec.hostSelector cannot be undeployed by name: change the
selector instead (undeploy then exits 1 after doing the rest).`,
		Example: `  applyctl undeploy netcat host-a
  applyctl undeploy netcat --all`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ref, hosts, err := jobAndHosts(args)
			if err != nil {
				return err
			}
			switch {
			case all && len(hosts) > 0:
				return usagef("use either HOST... or --all, not both")
			case !all && len(hosts) == 0:
				return usagef("undeploy needs the hosts to undeploy from, or --all")
			}
			return a.undeploy(cmd.Context(), ref, hosts, all, output)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "undeploy from every host")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func (a *app) removeCommand() *cobra.Command {
	var force bool
	var output string
	cmd := &cobra.Command{
		Use:   "remove JOB [--force]",
		Short: "Delete a Job, refused while it is deployed unless --force",
		Long: `remove deletes the Job, as Helios' remove does. It is refused while the
Job has deployments, or runs on hosts through its hostSelector, unless
--force: then their controllers stop and remove its containers.`,
		Example: `  applyctl remove netcat
  applyctl remove netcat:2 --force`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ref, err := parseJobRef(args[0])
			if err != nil {
				return err
			}
			return a.remove(cmd.Context(), ref, force, output)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the job even while it is deployed")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

// jobAndHosts reads "JOB HOST..." and checks the host names.
func jobAndHosts(args []string) (jobRef, []string, error) {
	ref, err := parseJobRef(args[0])
	if err != nil {
		return jobRef{}, nil, err
	}
	var hosts []string
	for _, h := range args[1:] {
		if msg := v1.ValidHostName(h); msg != "" {
			return jobRef{}, nil, usagef("host %s", msg)
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return ref, hosts, nil
}

// updateJob is a read-modify-CAS write of one Job: change edits the fresh
// copy it is given (it may be called again after a conflict) and returns
// an error to write nothing. The changed Job is validated before it is
// written.
func (a *app) updateJob(ctx context.Context, st *store.Store, ref jobRef, change func(j *v1.Job) error) (store.ApplyResult, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	r, err := goals.UpdateJob(ctx, st, ref.name, ref.check, change)
	return r, jobStoreErr(err)
}

// jobStoreErr is the error of a Job's read-modify-write as applyctl says it.
func jobStoreErr(err error) error {
	var nf *goals.NotFoundError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return notFound(nf.Kind, nf.Name)
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable):
		return storeErr(err)
	}
	return err
}

// reportJobChange prints what a deploy, undeploy, start or stop did:
// "job/nc deployed to host-a" per host, or the -o document.
func (a *app) reportJobChange(r store.ApplyResult, results []hostResult, output string) error {
	j := r.Object.(*v1.Job)
	if output != "" {
		return a.encodeDoc(output, jobChangeDoc{Job: j.Metadata.Name, ID: jobID(j, true),
			Generation: j.Metadata.Generation, Hosts: results})
	}
	lines, errs := goals.JobLines(j, results)
	for _, l := range lines {
		fmt.Fprintln(a.out, l)
	}
	for _, l := range errs {
		fmt.Fprintln(a.err, l)
	}
	return nil
}

func (a *app) deploy(ctx context.Context, ref jobRef, hosts []string, goal v1.Goal, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	uctx, cancel := a.withTimeout(ctx)
	r, results, err := goals.Deploy(uctx, st, ref.name, ref.check, hosts, goal)
	cancel()
	if err = jobStoreErr(err); err != nil {
		return err
	}
	a.warnUnknownHosts(ctx, st, hosts)
	return a.reportJobChange(r, results, output)
}

// warnUnknownHosts notes on standard error the hosts that never joined:
// the job waits for them, which is rarely what a typo meant.
func (a *app) warnUnknownHosts(ctx context.Context, st *store.Store, hosts []string) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	for _, h := range hosts {
		if _, err := store.GetHost(ctx, st, h); errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(a.err, "Warning: host %s has never joined: the job runs there when it does\n", h)
		}
	}
}

func (a *app) undeploy(ctx context.Context, ref jobRef, hosts []string, all bool, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	// Hosts the job runs on that no deployment names: placed by the
	// selector, as the binding or the hosts' statuses show.
	placed, err := a.jobHosts(ctx, st, ref.name)
	if err != nil {
		return err
	}
	uctx, cancel := a.withTimeout(ctx)
	r, results, err := goals.Undeploy(uctx, st, ref.name, ref.check, hosts, all, placed)
	cancel()
	if err = jobStoreErr(err); err != nil {
		return err
	}
	selector := r.Object.(*v1.Job).Spec.HostSelector
	if err := a.reportJobChange(r, results, output); err != nil {
		return err
	}
	if all && len(selector) > 0 && output == "" {
		fmt.Fprintf(a.err, "%s still runs on the hosts its hostSelector (%s) matches: change spec.hostSelector to take it off them\n",
			ref.name, labels(selector))
	}
	for _, hr := range results {
		if hr.Result == goals.ResultBySelector {
			return &exitError{code: ExitFailure}
		}
	}
	return nil
}

// jobHosts returns the hosts a Job runs on or reports an instance on: its
// binding's and its status keys' hosts.
func (a *app) jobHosts(ctx context.Context, st *store.Store, name string) (map[string]bool, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	hosts, err := goals.JobHosts(ctx, st, name)
	return hosts, storeErr(err)
}

// jobGoal is start|stop job JOB HOST...: the goal of those deployments.
// A host the job is not deployed to refuses the whole change.
func (a *app) jobGoal(ctx context.Context, verb goalVerb, args []string, output string) error {
	if len(args) < 2 {
		return usagef("%s job needs the job and its hosts: %s job JOB HOST [HOST...]", verb, verb)
	}
	ref, hosts, err := jobAndHosts(args)
	if err != nil {
		return err
	}
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	uctx, cancel := a.withTimeout(ctx)
	r, results, err := goals.SetJobGoal(uctx, st, ref.name, ref.check, verb, hosts)
	cancel()
	if err = jobStoreErr(err); err != nil {
		return err
	}
	return a.reportJobChange(r, results, output)
}

// removeDoc is what remove prints with -o json.
type removeDoc struct {
	Job    string   `json:"job"`
	ID     string   `json:"id"`
	Result string   `json:"result"`
	Hosts  []string `json:"hosts,omitempty"`
}

func (a *app) remove(ctx context.Context, jr jobRef, force bool, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	for attempt := 0; attempt < 5; attempt++ {
		rctx, cancel := a.withTimeout(ctx)
		o, err := store.GetObject(rctx, st, v1.KindJob, jr.name)
		cancel()
		if errors.Is(err, store.ErrNotFound) {
			return notFound(v1.KindJob, jr.name)
		}
		if err != nil {
			return storeErr(err)
		}
		j := o.(*v1.Job)
		if err := jr.check(j); err != nil {
			return err
		}
		deployed, bySelector, err := a.placedHosts(ctx, st, j)
		if err != nil {
			return err
		}
		if !force && len(deployed)+len(bySelector) > 0 {
			return removeRefusal(j.Metadata.Name, deployed, bySelector)
		}
		var rev int64
		fmt.Sscan(j.Metadata.ResourceVersion, &rev)
		rctx, cancel = a.withTimeout(ctx)
		err = store.DeleteObjectAt(rctx, st, v1.KindJob, j.Metadata.Name, rev) // and its version records
		cancel()
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue // changed since read: decide again
		}
		if err != nil {
			return storeErr(err)
		}
		hosts := slices.Sorted(slices.Values(append(append([]string(nil), deployed...), bySelector...)))
		if output != "" {
			return a.encodeDoc(output, removeDoc{Job: j.Metadata.Name, ID: jobID(j, true), Result: "removed", Hosts: hosts})
		}
		line := ref(v1.KindJob, j.Metadata.Name) + " removed"
		if len(hosts) > 0 {
			line += " (it was deployed to " + strings.Join(hosts, ", ") + ": their controllers stop it)"
		}
		fmt.Fprintln(a.out, line)
		return nil
	}
	return storeErr(fmt.Errorf("remove job %s: still conflicting after 5 attempts: %w", jr.name, store.ErrConflict))
}

// placedHosts returns the hosts j's deployments name and the others it
// runs on through its hostSelector (from its binding and status keys).
func (a *app) placedHosts(ctx context.Context, st *store.Store, j *v1.Job) (deployed, bySelector []string, err error) {
	for _, d := range j.Spec.Deployments {
		deployed = append(deployed, d.Host)
	}
	slices.Sort(deployed)
	if len(j.Spec.HostSelector) == 0 {
		return deployed, nil, nil
	}
	hosts, err := a.jobHosts(ctx, st, j.Metadata.Name)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		if !slices.Contains(deployed, h) {
			bySelector = append(bySelector, h)
		}
	}
	return deployed, bySelector, nil
}

// removeRefusal is the error of a remove without --force of a job that
// still runs somewhere.
func removeRefusal(name string, deployed, bySelector []string) error {
	switch {
	case len(bySelector) == 0:
		return fmt.Errorf("job %s is deployed to %s: undeploy it first or use --force", name, strings.Join(deployed, ", "))
	case len(deployed) == 0:
		return fmt.Errorf("job %s runs on %s through its hostSelector: clear spec.hostSelector first or use --force", name, strings.Join(bySelector, ", "))
	}
	return fmt.Errorf("job %s is deployed to %s and runs on %s through its hostSelector: undeploy it and clear spec.hostSelector first, or use --force",
		name, strings.Join(deployed, ", "), strings.Join(bySelector, ", "))
}
