package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// Default timeouts of apply --wait and wait.
const (
	defaultApplyWaitTimeout = 5 * time.Minute
	defaultWaitTimeout      = 30 * time.Second
)

func (a *app) waitCommand() *cobra.Command {
	var forCond string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait KIND/NAME [KIND/NAME...] --for=condition=Ready|--for=delete [--timeout 30s]",
		Short: "Wait until objects are Ready or deleted",
		Long: `wait returns when every object named meets the condition, printing
"unit/todo condition met" or "unit/todo deleted" for each, as kubectl wait does.

--for=condition=Ready (Units): every instance the Unit should have reports
Ready=True at the Unit's current generation: one per host it names, one per Up
host matching its selector when it is global, else as many as its replicas.
wait fails at once when an instance at the current generation is FAILED, and
for a Unit that does not exist. While an instance is not progressing (an
error being retried, a volume its host cannot make), wait says why on
standard error: "waiting for unit/todo: 0/1 ready (vm: CREATING: ...)".

--for=delete (Units, Jobs, Services): the object no longer exists.

After --timeout (0: check once; negative: no limit) it exits 1 with
"error: timed out waiting for the condition on unit/todo".`,
		Example: `  applyctl wait unit/todo --for=condition=Ready
  applyctl wait unit/db unit/server --for=condition=Ready --timeout 2m
  applyctl wait unit todo --for=delete`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := waitRefs(args)
			if err != nil {
				return err
			}
			cond := strings.ToLower(forCond)
			switch cond {
			case "condition=ready", "condition=ready=true":
				for _, r := range refs {
					if r.kind != v1.KindUnit {
						return usagef("--for=condition=Ready is supported for units, not %ss", strings.ToLower(r.kind))
					}
				}
				return a.waitReadyCommand(cmd.Context(), refs, timeout)
			case "delete":
				return a.waitDeleted(cmd.Context(), refs, timeout)
			case "":
				return usagef("wait needs --for=condition=Ready or --for=delete")
			}
			return usagef("unsupported --for=%s: use condition=Ready or delete", forCond)
		},
	}
	cmd.Flags().StringVar(&forCond, "for", "", "condition=Ready or delete")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultWaitTimeout, "how long to wait (0: check once; negative: no limit)")
	return cmd
}

// waitRefs reads KIND/NAME... or KIND NAME... for wait.
func waitRefs(args []string) ([]objectRef, error) {
	var refs []objectRef
	if !strings.Contains(args[0], "/") {
		kind, names, err := kindAndNames(args)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, usagef("wait needs KIND/NAME or KIND NAME")
		}
		for _, n := range names {
			refs = append(refs, objectRef{kind, n})
		}
	} else {
		for _, arg := range args {
			kind, names, err := kindAndNames([]string{arg})
			if err != nil {
				return nil, err
			}
			refs = append(refs, objectRef{kind, names[0]})
		}
	}
	for i, r := range refs {
		if r.kind == v1.KindHost || r.kind == kindEvent || r.kind == kindEndpoint || r.kind == kindApplySet {
			return nil, usagef("wait is for units, jobs and services, not %ss", strings.ToLower(r.kind))
		}
		if r.kind == v1.KindJob {
			// A job named NAME:VERSION[:HASH] is waited for by its name.
			jr, err := parseJobRef(r.name)
			if err != nil {
				return nil, err
			}
			refs[i].name = jr.name
		}
	}
	return refs, nil
}

// waitContext bounds a wait by timeout: 0 checks once, negative never ends.
func waitContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

// timedOut reports whether a wait ended because its own deadline passed,
// not because the command was interrupted.
func timedOut(parent context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil
}

func (a *app) waitReadyCommand(ctx context.Context, refs []objectRef, timeout time.Duration) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.name
	}
	res, err := a.waitUnits(ctx, st, names, timeout, waitOptions{deletedIsNotFound: true, why: a.err})
	if timedOut(ctx, err) {
		for _, n := range res.pending {
			fmt.Fprintf(a.err, "error: timed out waiting for the condition on %s\n", ref(v1.KindUnit, n))
		}
		return &exitError{code: ExitFailure}
	}
	return err
}

// waitOptions say how waitUnits reports.
type waitOptions struct {
	// progress prints a line per change ("waiting for unit/todo: 0/1
	// ready (...)"), rewritten in place on a terminal.
	progress bool
	// why, without progress, gets the same line only while an instance is
	// not progressing, with its message, so that a wait that will not end
	// by itself says why at once (wait, on standard error).
	why io.Writer
	// readyVerb is printed after a Unit that became ready: "ready" for
	// apply --wait, "condition met" (the default) for wait.
	readyVerb string
	// deletedIsNotFound makes a Unit that is absent from the start a "not
	// found" error (wait) rather than "deleted while waiting" (apply).
	deletedIsNotFound bool
	// restartedAfter holds, by Unit, the time of a restart: its instances
	// count as Ready only once running since then (restart --wait).
	restartedAfter map[string]time.Time
}

// waitResult is where a wait stopped.
type waitResult struct {
	pending []string             // names of the Units not Ready, in order
	last    map[string]readiness // their last readiness
}

// failedError is an instance that FAILED at the current generation.
type failedError struct {
	name string
	in   v1.InstanceStatus
}

func (e *failedError) Error() string {
	msg := e.in.Message
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("%s failed on %s: %s", ref(v1.KindUnit, e.name), e.in.Host, msg)
}

// waitUnits waits until every named Unit is Ready at its current
// generation (see unitReadiness), printing "unit/NAME <verb>" as each
// becomes so, and progress when asked. It returns nil when all are, a
// *failedError when an instance FAILED, ctx's error (DeadlineExceeded after
// timeout) with the Units still pending, or the error of etcd.
func (a *app) waitUnits(ctx context.Context, st *store.Store, names []string, timeout time.Duration, opts waitOptions) (waitResult, error) {
	res := waitResult{pending: append([]string(nil), names...), last: map[string]readiness{}}
	m, err := a.startMirror(ctx, st, store.ObjectPrefix(v1.KindUnit), store.StatusesPrefix, store.HostsPrefix, store.AlivePrefix)
	if err != nil {
		return res, err
	}
	defer m.stop()
	wctx, cancel := waitContext(ctx, timeout)
	defer cancel()
	verb := opts.readyVerb
	if verb == "" {
		verb = "condition met"
	}
	prog := newProgress(a.out, isTerminal(a.out))
	defer prog.clear()
	var why *progress
	if opts.why != nil {
		why = newProgress(opts.why, false)
	}
	seen := map[string]bool{}
	check := func() (bool, error) {
		hosts := m.hosts()
		var still []string
		for _, n := range res.pending {
			u, ok, err := m.unit(n)
			if err != nil {
				return false, err
			}
			if !ok {
				if opts.deletedIsNotFound && !seen[n] {
					return false, notFound(v1.KindUnit, n)
				}
				return false, fmt.Errorf("%s was deleted while waiting for it", ref(v1.KindUnit, n))
			}
			seen[n] = true
			insts := m.statuses(n)
			if t, ok := opts.restartedAfter[n]; ok {
				insts = notRestarted(insts, t)
			}
			r := unitReadiness(u, insts, hosts)
			res.last[n] = r
			switch {
			case r.Failed != nil:
				return false, &failedError{n, *r.Failed}
			case r.Ready():
				prog.println(ref(v1.KindUnit, n) + " " + verb)
				continue
			}
			still = append(still, n)
			switch {
			case opts.progress && r.stuck():
				prog.keep(n, r.progress(n))
			case opts.progress:
				prog.update(n, r.progress(n))
			case why != nil && r.stuck():
				why.update(n, r.progress(n))
			}
		}
		res.pending = still
		return len(still) == 0, nil
	}
	return res, m.until(wctx, check)
}

// waitDeleted waits until none of refs exists.
func (a *app) waitDeleted(ctx context.Context, refs []objectRef, timeout time.Duration) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	kinds := map[string]bool{}
	var prefixes []string
	for _, r := range refs {
		if !kinds[r.kind] {
			kinds[r.kind] = true
			prefixes = append(prefixes, store.ObjectPrefix(r.kind))
		}
	}
	m, err := a.startMirror(ctx, st, prefixes...)
	if err != nil {
		return err
	}
	defer m.stop()
	wctx, cancel := waitContext(ctx, timeout)
	defer cancel()
	pending := refs
	err = m.until(wctx, func() (bool, error) {
		var still []objectRef
		for _, r := range pending {
			if _, ok := m.get(store.ObjectKey(r.kind, r.name)); ok {
				still = append(still, r)
				continue
			}
			fmt.Fprintf(a.out, "%s deleted\n", ref(r.kind, r.name))
		}
		pending = still
		return len(still) == 0, nil
	})
	if timedOut(ctx, err) {
		for _, r := range pending {
			fmt.Fprintf(a.err, "error: timed out waiting for the condition on %s\n", ref(r.kind, r.name))
		}
		return &exitError{code: ExitFailure}
	}
	return err
}

// applyWait is apply --wait after the write: it waits for the Units of
// results, not for Jobs or Services.
func (a *app) applyWait(ctx context.Context, st *store.Store, results []store.ApplyResult, timeout time.Duration) error {
	var names []string
	for _, r := range results {
		u, ok := r.Object.(*v1.Unit)
		if !ok {
			continue
		}
		if u.Spec.Goal == v1.GoalStop {
			fmt.Fprintf(a.err, "%s has goal stop: not waited for\n", ref(v1.KindUnit, r.Name))
			continue
		}
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return nil
	}
	res, err := a.waitUnits(ctx, st, names, timeout, waitOptions{progress: true, readyVerb: "ready"})
	var fe *failedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		fmt.Fprintf(a.err, "Error: %s\n", fe)
		for _, l := range res.last[fe.name].report(fe.name) {
			fmt.Fprintln(a.err, l)
		}
		return &exitError{code: ExitFailure}
	case timedOut(ctx, err):
		fmt.Fprintf(a.err, "Error: timed out after %s waiting for %s to be ready\n", timeout, plural(len(res.pending), "unit"))
		for _, n := range res.pending {
			for _, l := range res.last[n].report(n) {
				fmt.Fprintln(a.err, l)
			}
		}
		return &exitError{code: ExitFailure}
	case ctx.Err() != nil:
		return errors.New("interrupted while waiting for the units to be ready")
	}
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// progress prints progress lines: on a terminal one line rewritten in place,
// elsewhere one line per change.
type progress struct {
	w     io.Writer
	tty   bool
	last  map[string]string
	shown bool // a line is on the terminal, not yet ended
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, last: map[string]string{}}
}

// update shows line as the progress of key, unless it is already shown.
func (p *progress) update(key, line string) {
	if p.last[key] == line {
		return
	}
	p.last[key] = line
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// keep is update for a line that stays on a terminal too: why an
// instance is not progressing, to be read whole (it may be wider than the
// terminal, which a line rewritten in place cannot be) and kept in sight.
func (p *progress) keep(key, line string) {
	if p.last[key] == line {
		return
	}
	p.last[key] = line
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
	fmt.Fprintln(p.w, line)
}

// println prints a line that stays, after clearing the progress line.
func (p *progress) println(line string) {
	p.clear()
	fmt.Fprintln(p.w, line)
}

// clear removes the progress line from a terminal.
func (p *progress) clear() {
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
		clear(p.last) // show the progress again on the next update
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
