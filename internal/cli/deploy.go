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
	"berth.dev/berth/internal/store"
)

// Results of Helios' verbs on one host, as -o json reports them.
const (
	resultDeployed        = "deployed"
	resultAlreadyDeployed = "already deployed"
	resultUndeployed      = "undeployed"
	resultNotDeployed     = "not deployed"
	resultBySelector      = "placed by hostSelector"
	resultStarted         = "started"
	resultAlreadyStarted  = "already started"
	resultStopped         = "stopped"
	resultAlreadyStopped  = "already stopped"
)

// hostResult is what a deploy, undeploy, start or stop did on one host.
type hostResult struct {
	Host   string  `json:"host"`
	Result string  `json:"result"`
	Goal   v1.Goal `json:"goal,omitempty"`
}

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
	results, err := store.UpdateObjects(ctx, st, v1.KindJob, func(objs []v1.Object) ([]v1.Object, error) {
		for _, o := range objs {
			j := o.(*v1.Job)
			if j.Metadata.Name != ref.name {
				continue
			}
			if err := ref.check(j); err != nil {
				return nil, err
			}
			if err := change(j); err != nil {
				return nil, err
			}
			if errs := v1.Validate(j); len(errs) > 0 {
				return nil, fmt.Errorf("job %s: %s", ref.name, errs[0].Error())
			}
			return []v1.Object{j}, nil
		}
		return nil, notFound(v1.KindJob, ref.name)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
			return store.ApplyResult{}, storeErr(err)
		}
		return store.ApplyResult{}, err
	}
	return results[0], nil
}

// reportJobChange prints what a deploy, undeploy, start or stop did:
// "job/nc deployed to host-a" per host, or the -o document.
func (a *app) reportJobChange(r store.ApplyResult, results []hostResult, output string) error {
	j := r.Object.(*v1.Job)
	if output != "" {
		return a.encodeDoc(output, jobChangeDoc{Job: j.Metadata.Name, ID: jobID(j, true),
			Generation: j.Metadata.Generation, Hosts: results})
	}
	for _, hr := range results {
		w := a.out
		var line string
		switch hr.Result {
		case resultDeployed, resultAlreadyDeployed:
			line = fmt.Sprintf("%s %s to %s", ref(v1.KindJob, j.Metadata.Name), hr.Result, hr.Host)
			if hr.Goal == v1.GoalStop && hr.Result == resultDeployed {
				line += " (goal stop)"
			}
		case resultUndeployed:
			line = fmt.Sprintf("%s undeployed from %s", ref(v1.KindJob, j.Metadata.Name), hr.Host)
		case resultNotDeployed:
			line = fmt.Sprintf("%s is not deployed to %s", ref(v1.KindJob, j.Metadata.Name), hr.Host)
		case resultBySelector:
			w = a.err
			line = fmt.Sprintf("Error: %s runs on %s through its hostSelector (%s), not a deployment: change spec.hostSelector to take it off %s",
				ref(v1.KindJob, j.Metadata.Name), hr.Host, labels(j.Spec.HostSelector), hr.Host)
		default:
			line = fmt.Sprintf("%s %s on %s", ref(v1.KindJob, j.Metadata.Name), hr.Result, hr.Host)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func (a *app) deploy(ctx context.Context, ref jobRef, hosts []string, goal v1.Goal, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var results []hostResult
	r, err := a.updateJob(ctx, st, ref, func(j *v1.Job) error {
		results = results[:0]
		for _, h := range hosts {
			if i := deploymentIndex(j, h); i >= 0 {
				results = append(results, hostResult{Host: h, Result: resultAlreadyDeployed, Goal: goalOf(j.Spec.Deployments[i])})
				continue
			}
			j.Spec.Deployments = append(j.Spec.Deployments, v1.Deployment{Host: h, Goal: goal})
			results = append(results, hostResult{Host: h, Result: resultDeployed, Goal: goal})
		}
		return nil
	})
	if err != nil {
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
	var results []hostResult
	var selector map[string]string
	r, err := a.updateJob(ctx, st, ref, func(j *v1.Job) error {
		results = results[:0]
		selector = j.Spec.HostSelector
		if all {
			for _, d := range j.Spec.Deployments {
				results = append(results, hostResult{Host: d.Host, Result: resultUndeployed})
			}
			j.Spec.Deployments = nil
			return nil
		}
		for _, h := range hosts {
			i := deploymentIndex(j, h)
			switch {
			case i >= 0:
				j.Spec.Deployments = slices.Delete(j.Spec.Deployments, i, i+1)
				results = append(results, hostResult{Host: h, Result: resultUndeployed})
			case len(j.Spec.HostSelector) > 0 && placed[h]:
				results = append(results, hostResult{Host: h, Result: resultBySelector})
			default:
				results = append(results, hostResult{Host: h, Result: resultNotDeployed})
			}
		}
		if len(j.Spec.Deployments) == 0 {
			j.Spec.Deployments = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := a.reportJobChange(r, results, output); err != nil {
		return err
	}
	if all && len(selector) > 0 && output == "" {
		fmt.Fprintf(a.err, "%s still runs on the hosts its hostSelector (%s) matches: change spec.hostSelector to take it off them\n",
			ref.name, labels(selector))
	}
	for _, hr := range results {
		if hr.Result == resultBySelector {
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
	out := map[string]bool{}
	b, err := getJobBinding(ctx, st, name)
	if err != nil {
		return nil, storeErr(err)
	}
	if b != nil {
		for h := range b.Hosts {
			out[h] = true
		}
	}
	insts, err := store.ObjectStatuses(ctx, st, v1.KindJob, name)
	if err != nil {
		return nil, storeErr(err)
	}
	for _, in := range insts {
		out[in.Host] = true
	}
	return out, nil
}

func deploymentIndex(j *v1.Job, host string) int {
	return slices.IndexFunc(j.Spec.Deployments, func(d v1.Deployment) bool { return d.Host == host })
}

func goalOf(d v1.Deployment) v1.Goal {
	if d.Goal == "" {
		return v1.GoalStart
	}
	return d.Goal
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
	goal, done, already := v1.GoalStart, resultStarted, resultAlreadyStarted
	if verb == verbStop {
		goal, done, already = v1.GoalStop, resultStopped, resultAlreadyStopped
	}
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var results []hostResult
	r, err := a.updateJob(ctx, st, ref, func(j *v1.Job) error {
		results = results[:0]
		var missing []string
		for _, h := range hosts {
			i := deploymentIndex(j, h)
			if i < 0 {
				missing = append(missing, h)
				continue
			}
			res := done
			if goalOf(j.Spec.Deployments[i]) == goal {
				res = already
			}
			j.Spec.Deployments[i].Goal = goal
			results = append(results, hostResult{Host: h, Result: res, Goal: goal})
		}
		if len(missing) > 0 {
			return fmt.Errorf("job %s is not deployed to %s: deploy it first (applyctl deploy %s HOST)",
				j.Metadata.Name, strings.Join(missing, ", "), j.Metadata.Name)
		}
		return nil
	})
	if err != nil {
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
