package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func (a *app) rolloutCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout status|promote|undo job NAME",
		Short: "Follow, promote or undo the rollout of a Job's new version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("rollout needs a subcommand: rollout status|promote|undo job NAME")
		},
	}
	var watch bool
	var timeout time.Duration
	var output string
	status := &cobra.Command{
		Use:   "status job NAME [-w=false] [--timeout D]",
		Short: "Follow the rollout of a Job's new version until it is done or failed",
		Long: `rollout status follows the rollout of a Job's current version across its
hosts, as kubectl rollout status does for a Deployment, from the Job's
binding (where the leading controller records the rollout's progress):

  Waiting for job "nc" rollout to finish: 1 of 3 hosts updated (moving host-b)...
  job "nc" successfully rolled out to version 2

It says which hosts are canaries and which version runs where while the
canaries wait for promotion. It exits 0 when the rollout is done, 1 when
it failed or was reverted (with what the controller recorded: "version 3
unhealthy on host-b for 30s (healthyDeadline): reverted to 2") or
--timeout passed, and 0 at once for a Job without a rollout. A version not
yet rolling out (just applied), and canaries waiting for promotion, are
waited for. With --watch=false it prints the state once and exits.`,
		Example: `  applyctl rollout status job netcat
  applyctl rollout status job/netcat --timeout 5m`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			kind, names, err := kindAndNames(args)
			if err != nil {
				return err
			}
			if kind != v1.KindJob {
				return usagef("rollout status is for jobs, not %ss", strings.ToLower(kind))
			}
			if len(names) != 1 {
				return usagef("rollout status needs one NAME: rollout status job NAME")
			}
			jr, err := parseJobRef(names[0]) // NAME, or NAME:VERSION[:HASH] as Helios names jobs
			if err != nil {
				return err
			}
			if timeout <= 0 {
				timeout = -1 // no limit, as kubectl's 0
			}
			return a.rolloutStatus(cmd.Context(), jr.name, watch, timeout, output)
		},
	}
	status.Flags().BoolVarP(&watch, "watch", "w", true, "follow the rollout until it ends")
	status.Flags().DurationVar(&timeout, "timeout", 0, "how long to follow it (0: no limit)")
	status.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (one document per change)")
	cmd.AddCommand(status, a.rolloutPromoteCommand(), a.rolloutUndoCommand())
	return cmd
}

// rolloutPhase is where a rollout is, as rollout status -o json says.
type rolloutPhase string

const (
	phaseNone       rolloutPhase = "NONE"    // no rollout: the version runs everywhere
	phasePending    rolloutPhase = "PENDING" // the version is not rolling out yet
	phaseRollingOut rolloutPhase = "ROLLING_OUT"
	phaseWaiting    rolloutPhase = "WAITING_FOR_PROMOTION"
	phaseDone       rolloutPhase = "DONE"
	phaseFailed     rolloutPhase = "FAILED"
	phaseReverted   rolloutPhase = "REVERTED"
)

// rolloutView is what rollout status prints of a Job's rollout.
type rolloutView struct {
	Job     string       `json:"job"`
	Version string       `json:"version"`
	Phase   rolloutPhase `json:"phase"`
	Message string       `json:"message"`
	// Hosts maps each host to the version it runs; Stable is the last
	// version that ran healthy on every host.
	Hosts   map[string]string `json:"hosts,omitempty"`
	Stable  string            `json:"stable,omitempty"`
	Rollout *v1.RolloutStatus `json:"rollout,omitempty"`
}

// ended reports whether following the rollout is over.
func (v rolloutView) ended() bool {
	return v.Phase != phasePending && v.Phase != phaseRollingOut && v.Phase != phaseWaiting
}

// failed reports whether the rollout ended without its version everywhere.
func (v rolloutView) failed() bool { return v.Phase == phaseFailed || v.Phase == phaseReverted }

// where says which version runs where: "version 3 on host-a (canary);
// version 2 on host-b, host-c".
func where(b *v1.JobBinding, canaries []string) string {
	byVer := map[string][]string{}
	for h, ver := range b.Hosts {
		if slices.Contains(canaries, h) {
			h += " (canary)"
		}
		byVer[ver] = append(byVer[ver], h)
	}
	var parts []string
	for _, ver := range slices.Sorted(maps.Keys(byVer)) {
		slices.Sort(byVer[ver])
		parts = append(parts, "version "+ver+" on "+strings.Join(byVer[ver], ", "))
	}
	return strings.Join(parts, "; ")
}

// rolloutProgress says where the rollout of j's current version is, given
// its binding (nil when there is none). It does no I/O.
func rolloutProgress(j *v1.Job, b *v1.JobBinding) rolloutView {
	name, ver := j.Metadata.Name, j.Spec.Version
	v := rolloutView{Job: name, Version: ver}
	if b == nil {
		b = &v1.JobBinding{}
	}
	v.Hosts, v.Stable = b.Hosts, b.Stable
	ro := b.Rollout
	if ro != nil && ro.Version == ver {
		v.Rollout = ro
		total := len(ro.Done) + len(ro.Current) + len(ro.Pending) + len(ro.Failed)
		switch ro.State {
		case v1.RolloutDone:
			v.Phase = phaseDone
			v.Message = fmt.Sprintf("job %q successfully rolled out to version %s", name, ver)
			if len(ro.Failed) > 0 {
				v.Message += fmt.Sprintf(" (passed over %s)", strings.Join(ro.Failed, ", "))
			}
		case v1.RolloutFailed:
			v.Phase = phaseFailed
			msg := ro.Message
			if msg == "" {
				msg = "failed on " + dash(strings.Join(ro.Failed, ", "))
			}
			v.Message = fmt.Sprintf("job %q rollout failed: %s", name, msg)
		case v1.RolloutReverted:
			v.Phase = phaseReverted
			v.Message = fmt.Sprintf("job %q rollout reverted: %s", name, ro.Message)
		case v1.RolloutWaitingForPromotion:
			v.Phase = phaseWaiting
			v.Message = fmt.Sprintf("Waiting for job %q rollout to be promoted: canaries %s healthy on version %s; %s (applyctl rollout promote job %s)...",
				name, strings.Join(ro.Canaries, ", "), ver, where(b, ro.Canaries), name)
		default:
			v.Phase = phaseRollingOut
			v.Message = fmt.Sprintf("Waiting for job %q rollout to finish: %d of %d hosts updated", name, len(ro.Done), total)
			var notes []string
			if len(ro.Canaries) > 0 && !ro.Promoted {
				notes = append(notes, "canary "+strings.Join(ro.Canaries, ", "))
			} else if len(ro.Current) > 0 {
				notes = append(notes, "moving "+strings.Join(ro.Current, ", "))
			}
			if len(ro.Failed) > 0 {
				notes = append(notes, "failed on "+strings.Join(ro.Failed, ", "))
			}
			if len(notes) > 0 {
				v.Message += " (" + strings.Join(notes, "; ") + ")"
			}
			v.Message += "..."
		}
		return v
	}
	on := 0
	for _, hv := range b.Hosts {
		if hv == ver {
			on++
		}
	}
	if on == len(b.Hosts) {
		v.Phase = phaseNone
		v.Message = fmt.Sprintf("job %q has no rollout: version %s runs on %d host(s)", name, ver, on)
		return v
	}
	v.Phase = phasePending
	v.Message = fmt.Sprintf("Waiting for job %q rollout of version %s to start: %d of %d hosts run it...", name, ver, on, len(b.Hosts))
	return v
}

// rolloutStatus follows a Job and its binding by list-then-watch until
// the rollout of its current version ends.
func (a *app) rolloutStatus(ctx context.Context, name string, watch bool, timeout time.Duration, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	objKey, bindKey := store.ObjectKey(v1.KindJob, name), store.BindingKey(v1.KindJob, name)
	m, err := a.startMirror(ctx, st, objKey, bindKey)
	if err != nil {
		return err
	}
	defer m.stop()
	wctx, cancel := waitContext(ctx, timeout)
	defer cancel()
	var last rolloutView
	printed := ""
	seen := false
	err = m.until(wctx, func() (bool, error) {
		j, b, err := mirrorJob(m, objKey, bindKey)
		if err != nil {
			return false, err
		}
		if j == nil {
			if seen {
				return false, fmt.Errorf("job %q was deleted", name)
			}
			return false, notFound(v1.KindJob, name)
		}
		seen = true
		last = rolloutProgress(j, b)
		if last.Message != printed {
			printed = last.Message
			if output != "" {
				if err := a.encodeDoc(output, last); err != nil {
					return false, err
				}
			} else if !last.failed() {
				fmt.Fprintln(a.out, last.Message)
			}
		}
		return last.ended() || !watch, nil
	})
	switch {
	case timedOut(ctx, err):
		fmt.Fprintln(a.err, "error: timed out waiting for the condition")
		return &exitError{code: ExitFailure}
	case err != nil:
		return err
	case last.failed():
		if output == "" {
			fmt.Fprintln(a.err, "error: "+last.Message)
		}
		return &exitError{code: ExitFailure}
	}
	return nil
}

// mirrorJob decodes the Job and its binding the mirror holds; nil when
// absent.
func mirrorJob(m *mirror, objKey, bindKey string) (*v1.Job, *v1.JobBinding, error) {
	kv, ok := m.get(objKey)
	if !ok {
		return nil, nil, nil
	}
	var j v1.Job
	if err := json.Unmarshal(kv.Value, &j); err != nil {
		return nil, nil, errors.New("decode " + kv.Key + ": " + err.Error())
	}
	kv, ok = m.get(bindKey)
	if !ok {
		return &j, nil, nil
	}
	var b v1.JobBinding
	if err := json.Unmarshal(kv.Value, &b); err != nil {
		return nil, nil, errors.New("decode " + kv.Key + ": " + err.Error())
	}
	return &j, &b, nil
}
