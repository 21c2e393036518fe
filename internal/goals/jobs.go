package goals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// Results of Helios' verbs on one host, as applyctl's -o json reports them.
const (
	ResultDeployed        = "deployed"
	ResultAlreadyDeployed = "already deployed"
	ResultUndeployed      = "undeployed"
	ResultNotDeployed     = "not deployed"
	ResultBySelector      = "placed by hostSelector"
	ResultStarted         = "started"
	ResultAlreadyStarted  = "already started"
	ResultStopped         = "stopped"
	ResultAlreadyStopped  = "already stopped"
)

// HostResult is what a deploy, undeploy, start or stop did on one host.
type HostResult struct {
	Host   string  `json:"host"`
	Result string  `json:"result"`
	Goal   v1.Goal `json:"goal,omitempty"`
}

// UpdateJob is a read-modify-CAS write of the Job called name: check
// refuses a stored Job that is not the one meant (nil: any), change edits
// the fresh copy it is given (it may be called again after a conflict)
// and returns an error to write nothing. The changed Job is validated
// before it is written. A Job that does not exist is a *NotFoundError.
func UpdateJob(ctx context.Context, st *store.Store, name string, check, change func(j *v1.Job) error) (store.ApplyResult, error) {
	results, err := store.UpdateObjects(ctx, st, v1.KindJob, func(objs []v1.Object) ([]v1.Object, error) {
		for _, o := range objs {
			j := o.(*v1.Job)
			if j.Metadata.Name != name {
				continue
			}
			if check != nil {
				if err := check(j); err != nil {
					return nil, err
				}
			}
			if err := change(j); err != nil {
				return nil, err
			}
			if errs := v1.Validate(j); len(errs) > 0 {
				return nil, fmt.Errorf("job %s: %s", name, errs[0].Error())
			}
			return []v1.Object{j}, nil
		}
		return nil, &NotFoundError{v1.KindJob, name}
	})
	if err != nil {
		return store.ApplyResult{}, err
	}
	return results[0], nil
}

// Deploy adds {host, goal} to the Job's deployments for each host it is
// not deployed to yet, as Helios' deploy does.
func Deploy(ctx context.Context, st *store.Store, name string, check func(*v1.Job) error, hosts []string, goal v1.Goal) (store.ApplyResult, []HostResult, error) {
	var results []HostResult
	r, err := UpdateJob(ctx, st, name, check, func(j *v1.Job) error {
		results = results[:0]
		for _, h := range hosts {
			if i := DeploymentIndex(j, h); i >= 0 {
				results = append(results, HostResult{Host: h, Result: ResultAlreadyDeployed, Goal: GoalOf(j.Spec.Deployments[i])})
				continue
			}
			j.Spec.Deployments = append(j.Spec.Deployments, v1.Deployment{Host: h, Goal: goal})
			results = append(results, HostResult{Host: h, Result: ResultDeployed, Goal: goal})
		}
		return nil
	})
	return r, results, err
}

// Undeploy removes the hosts named (every deployment with all) from the
// Job's deployments. placed are the hosts the Job runs on (its binding's
// and its statuses'): one of them that no deployment names but the Job's
// hostSelector reaches is ResultBySelector, which no undeploy can change.
func Undeploy(ctx context.Context, st *store.Store, name string, check func(*v1.Job) error, hosts []string, all bool, placed map[string]bool) (store.ApplyResult, []HostResult, error) {
	var results []HostResult
	r, err := UpdateJob(ctx, st, name, check, func(j *v1.Job) error {
		results = results[:0]
		if all {
			for _, d := range j.Spec.Deployments {
				results = append(results, HostResult{Host: d.Host, Result: ResultUndeployed})
			}
			j.Spec.Deployments = nil
			return nil
		}
		for _, h := range hosts {
			i := DeploymentIndex(j, h)
			switch {
			case i >= 0:
				j.Spec.Deployments = slices.Delete(j.Spec.Deployments, i, i+1)
				results = append(results, HostResult{Host: h, Result: ResultUndeployed})
			case len(j.Spec.HostSelector) > 0 && placed[h]:
				results = append(results, HostResult{Host: h, Result: ResultBySelector})
			default:
				results = append(results, HostResult{Host: h, Result: ResultNotDeployed})
			}
		}
		if len(j.Spec.Deployments) == 0 {
			j.Spec.Deployments = nil
		}
		return nil
	})
	return r, results, err
}

// SetJobGoal is start or stop of a Job on hosts: the goal of those
// deployments. A host the Job is not deployed to refuses the whole
// change. verb must be Start or Stop.
func SetJobGoal(ctx context.Context, st *store.Store, name string, check func(*v1.Job) error, verb Verb, hosts []string) (store.ApplyResult, []HostResult, error) {
	goal, done, already := v1.GoalStart, ResultStarted, ResultAlreadyStarted
	if verb == Stop {
		goal, done, already = v1.GoalStop, ResultStopped, ResultAlreadyStopped
	}
	var results []HostResult
	r, err := UpdateJob(ctx, st, name, check, func(j *v1.Job) error {
		results = results[:0]
		var missing []string
		for _, h := range hosts {
			i := DeploymentIndex(j, h)
			if i < 0 {
				missing = append(missing, h)
				continue
			}
			res := done
			if GoalOf(j.Spec.Deployments[i]) == goal {
				res = already
			}
			j.Spec.Deployments[i].Goal = goal
			results = append(results, HostResult{Host: h, Result: res, Goal: goal})
		}
		if len(missing) > 0 {
			return fmt.Errorf("job %s is not deployed to %s: deploy it first (applyctl deploy %s HOST)",
				j.Metadata.Name, strings.Join(missing, ", "), j.Metadata.Name)
		}
		return nil
	})
	return r, results, err
}

// JobHosts returns the hosts a Job runs on or reports an instance on: its
// binding's and its status keys' hosts (what Undeploy takes as placed).
func JobHosts(ctx context.Context, st *store.Store, name string) (map[string]bool, error) {
	out := map[string]bool{}
	b, err := JobBinding(ctx, st, name)
	if err != nil {
		return nil, err
	}
	if b != nil {
		for h := range b.Hosts {
			out[h] = true
		}
	}
	insts, err := store.ObjectStatuses(ctx, st, v1.KindJob, name)
	if err != nil {
		return nil, err
	}
	for _, in := range insts {
		out[in.Host] = true
	}
	return out, nil
}

// JobBinding returns the Job's binding, nil when it has none.
func JobBinding(ctx context.Context, st *store.Store, name string) (*v1.JobBinding, error) {
	kv, err := st.Get(ctx, store.BindingKey(v1.KindJob, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var b v1.JobBinding
	if err := json.Unmarshal(kv.Value, &b); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return &b, nil
}

// JobLines are what applyctl prints of a deploy, undeploy, start or stop
// of the Job j: "job/nc deployed to host-a" per host. Lines about hosts
// the change could not reach (ResultBySelector) are errs, for standard
// error.
func JobLines(j *v1.Job, results []HostResult) (lines, errs []string) {
	ref := "job/" + j.Metadata.Name
	for _, hr := range results {
		switch hr.Result {
		case ResultDeployed, ResultAlreadyDeployed:
			line := fmt.Sprintf("%s %s to %s", ref, hr.Result, hr.Host)
			if hr.Goal == v1.GoalStop && hr.Result == ResultDeployed {
				line += " (goal stop)"
			}
			lines = append(lines, line)
		case ResultUndeployed:
			lines = append(lines, fmt.Sprintf("%s undeployed from %s", ref, hr.Host))
		case ResultNotDeployed:
			lines = append(lines, fmt.Sprintf("%s is not deployed to %s", ref, hr.Host))
		case ResultBySelector:
			errs = append(errs, fmt.Sprintf("Error: %s runs on %s through its hostSelector (%s), not a deployment: change spec.hostSelector to take it off %s",
				ref, hr.Host, v1.FormatLabels(j.Spec.HostSelector), hr.Host))
		default:
			lines = append(lines, fmt.Sprintf("%s %s on %s", ref, hr.Result, hr.Host))
		}
	}
	return lines, errs
}

// GoalOf is a deployment's goal: start unless it says stop.
func GoalOf(d v1.Deployment) v1.Goal {
	if d.Goal == "" {
		return v1.GoalStart
	}
	return d.Goal
}

// DeploymentIndex is the index of the Job's deployment to host, or -1.
func DeploymentIndex(j *v1.Job, host string) int {
	return slices.IndexFunc(j.Spec.Deployments, func(d v1.Deployment) bool { return d.Host == host })
}
