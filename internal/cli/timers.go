package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// loadTimers reads the Timers (one when name is set), defaulted, each with
// the leading controller's record of it as its status.
func (a *app) loadTimers(ctx context.Context, st *store.Store, name string) ([]*v1.Timer, error) {
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var objs []v1.Object
	if name != "" {
		o, err := store.GetObject(rctx, st, v1.KindTimer, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound(v1.KindTimer, name)
		}
		if err != nil {
			return nil, storeErr(err)
		}
		objs = append(objs, o)
	} else {
		var err error
		if objs, _, err = store.ListObjects(rctx, st, v1.KindTimer); err != nil {
			return nil, storeErr(err)
		}
	}
	var out []*v1.Timer
	for _, o := range objs {
		t := o.(*v1.Timer)
		v1.Default(t)
		// status/leader/timer/<name>: the leading controller's record.
		kv, err := st.Get(rctx, store.StatusKey(v1.KindTimer, t.Metadata.Name, v1.ReservedHostName))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, storeErr(err)
		}
		if err == nil {
			var rec v1.TimerStatus
			if json.Unmarshal(kv.Value, &rec) == nil {
				t.Status = &rec
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// getTimers prints the Timers as systemctl list-timers does: the next
// elapse and how long until it, the last run and how long ago, the timer
// and the result of its last run; soonest first.
func (a *app) getTimers(ctx context.Context, name, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ts, err := a.loadTimers(ctx, st, name)
	if err != nil {
		return err
	}
	now := a.now()
	slices.SortStableFunc(ts, func(x, y *v1.Timer) int {
		nx, ny := nextOf(x), nextOf(y)
		switch {
		case nx.IsZero() && ny.IsZero():
			return strings.Compare(x.Metadata.Name, y.Metadata.Name)
		case nx.IsZero():
			return 1
		case ny.IsZero():
			return -1
		}
		return cmp.Or(nx.Compare(ny), strings.Compare(x.Metadata.Name, y.Metadata.Name))
	})
	p := &printer{app: a, output: output}
	if done, err := encodeOrEmpty(a, p, output, name, ts); done {
		return err
	}
	head := []string{"NEXT", "LEFT", "LAST", "PASSED", "TIMER", "RESULT"}
	if output == "wide" {
		head = append(head, "SCHEDULE", "HOSTS")
	}
	rows := [][]string{head}
	for _, t := range ts {
		next, left := "-", "-"
		if n := nextOf(t); !n.IsZero() {
			next, left = listTime(n), span(n.Sub(now))
		}
		last, passed, result := "-", "-", "-"
		if r := lastRun(t); r != nil {
			last, passed, result = listTime(r.StartTime), span(now.Sub(r.StartTime))+" ago", runResult(r)
		}
		if t.Spec.Suspend {
			next, left = "-", "suspended"
		}
		row := []string{next, left, last, passed, t.Metadata.Name, result}
		if output == "wide" {
			hosts := "-"
			if r := lastRun(t); r != nil && len(r.Hosts) > 0 {
				hosts = strings.Join(r.Hosts, ",")
			}
			row = append(row, t.Spec.Schedule, hosts)
		}
		rows = append(rows, row)
	}
	p.table.write(a.out, rows)
	return nil
}

func nextOf(t *v1.Timer) time.Time {
	if t.Status == nil || t.Spec.Suspend {
		return time.Time{}
	}
	return t.Status.NextScheduleTime
}

// lastRun is the run started last, nil when none.
func lastRun(t *v1.Timer) *v1.TimerRun {
	if t.Status == nil || len(t.Status.Runs) == 0 {
		return nil
	}
	return &t.Status.Runs[len(t.Status.Runs)-1]
}

// runResult says how a run ended in systemd's words: running, success,
// exit-code, timeout (activeDeadline), host-lost, replaced, no-host.
func runResult(r *v1.TimerRun) string {
	switch r.Result {
	case v1.RunActive:
		return "running"
	case v1.RunSucceeded:
		return "success"
	}
	switch r.Reason {
	case v1.ReasonExitCode:
		return "exit-code"
	case v1.ReasonDeadlineExceeded:
		return "timeout"
	case v1.ReasonHostLost:
		return "host-lost"
	case v1.ReasonReplaced:
		return "replaced"
	case v1.ReasonNoHost:
		return "no-host"
	}
	return "failed"
}

// listTime is a time as systemctl list-timers prints it.
func listTime(t time.Time) string { return t.UTC().Format("Mon 2006-01-02 15:04:05 MST") }

// span is a duration as systemctl prints one: "4min 59s", "2h 3min",
// "1 day 2h".
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days, h, m, s := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%s %dh", plural(days, "day"), h)
	case h > 0:
		return fmt.Sprintf("%dh %dmin", h, m)
	case m > 0:
		return fmt.Sprintf("%dmin %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// describeTimer prints what the leading controller records of a Timer
// after its spec: the schedule's next elapse, the last success and the
// runs kept.
func (a *app) describeTimer(d *describer, t *v1.Timer, now time.Time) {
	rec := t.Status
	if rec == nil {
		d.field("Schedule", t.Spec.Schedule+" (not decided yet: no controller leads, or it has not seen the Timer)")
		return
	}
	if sch, err := t.Schedule(); err == nil {
		d.field("Schedule", fmt.Sprintf("%s (normalized: %s)", t.Spec.Schedule, sch))
	}
	when := func(x time.Time) string {
		if x.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%s (%s)", listTime(x), relative(x, now))
	}
	d.field("Next Elapse", when(nextOf(t)))
	d.field("Last Decided", when(rec.LastScheduleTime))
	d.field("Last Success", when(rec.LastSuccessfulTime))
	d.table("Runs", runRows(rec.Runs, now))
	var conds [][]string
	for _, c := range rec.Conditions {
		conds = append(conds, []string{c.Type, string(c.Status), dash(c.Reason), age(c.LastTransitionTime, now), dash(c.Message)})
	}
	d.table("Conditions", append([][]string{{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}}, conds...))
}

func relative(x, now time.Time) string {
	if x.After(now) {
		return "in " + span(x.Sub(now))
	}
	return span(now.Sub(x)) + " ago"
}

// runRows is the table of runs, newest first.
func runRows(runs []v1.TimerRun, now time.Time) [][]string {
	rows := [][]string{{"RUN", "TICK", "HOSTS", "STARTED", "DURATION", "RESULT", "EXIT", "MESSAGE"}}
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		tick := "by hand"
		if !r.Manual {
			tick = r.Tick.UTC().Format(time.RFC3339)
		}
		end := r.CompletionTime
		if end.IsZero() {
			end = now
		}
		var exits []string
		for _, in := range r.Instances {
			if in.ExitCode != nil {
				exits = append(exits, strconv.Itoa(*in.ExitCode))
			}
		}
		rows = append(rows, []string{strconv.FormatInt(r.Run, 10), tick, dash(strings.Join(r.Hosts, ",")),
			r.StartTime.UTC().Format(time.RFC3339), span(end.Sub(r.StartTime)), runResult(&r), dash(strings.Join(exits, ",")), dash(r.Message)})
	}
	return rows
}

// statusTimer is status timer NAME: the Timer as systemctl status shows a
// timer, then its runs with their hosts, exit codes and durations.
func (a *app) statusTimer(ctx context.Context, name string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ts, err := a.loadTimers(ctx, st, name)
	if err != nil {
		return err
	}
	t, now := ts[0], a.now()
	d := &describer{w: a.out}
	desc := t.Spec.Description
	if desc != "" {
		desc = " - " + desc
	}
	fmt.Fprintf(a.out, "● timer/%s%s\n", t.Metadata.Name, desc)
	state := "active (waiting)"
	switch r := lastRun(t); {
	case t.Spec.Suspend:
		state = "inactive (suspended)"
	case r != nil && r.Result == v1.RunActive:
		state = "active (running)"
	}
	d.field("Active", state)
	d.field("Trigger", "-")
	if n := nextOf(t); !n.IsZero() {
		d.field("Trigger", fmt.Sprintf("%s; %s left", listTime(n), span(n.Sub(now))))
	}
	sched := t.Spec.Schedule
	if tz := t.Spec.TimeZone; tz != "" {
		sched += " (" + tz + ")"
	}
	d.field("Schedule", sched)
	if t.Status != nil && !t.Status.LastSuccessfulTime.IsZero() {
		d.field("Last Success", fmt.Sprintf("%s; %s ago", listTime(t.Status.LastSuccessfulTime), span(now.Sub(t.Status.LastSuccessfulTime))))
	}
	var runs []v1.TimerRun
	if t.Status != nil {
		runs = t.Status.Runs
	}
	d.table("Runs", runRows(runs, now))
	return nil
}

// runTimer is run timer NAME: a run now, as systemctl start does for a
// timer's service. The leading controller serves the request once.
func (a *app) runTimer(ctx context.Context, names []string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	at := a.now().UTC().Format(time.RFC3339Nano)
	_, err = store.UpdateObjects(rctx, st, v1.KindTimer, func(objs []v1.Object) ([]v1.Object, error) {
		var changed []v1.Object
		for _, n := range names {
			i := slices.IndexFunc(objs, func(o v1.Object) bool { return o.GetObjectMeta().Name == n })
			if i < 0 {
				return nil, notFound(v1.KindTimer, n)
			}
			m := objs[i].GetObjectMeta()
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations[v1.AnnotationRunRequestedAt] = at
			changed = append(changed, objs[i])
		}
		return changed, nil
	})
	if isNotFound(err) {
		return err
	}
	if err != nil {
		return storeErr(err)
	}
	for _, n := range names {
		fmt.Fprintf(a.out, "timer/%s run requested\n", n)
	}
	return nil
}

func (a *app) runCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "run timer NAME [NAME...]",
		Short: "Start a run of Timers now, as systemctl start does for a timer's service",
		Long: `run timer sets the annotation ` + v1.AnnotationRunRequestedAt + ` to the current
time on each Timer named; the leading controller starts one run of it for
each new value, placed as its scheduled runs are, unless a run is still
active and its concurrencyPolicy is not Allow (as systemctl start of a
running service does nothing). The annotation does not raise the
generation, and the schedule goes on as before.

It prints "timer/backup run requested"; status timer NAME shows the run.`,
		Example: `  applyctl run timer backup
  applyctl status timer backup`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := kindAndNames(args)
			if err != nil {
				return err
			}
			if kind != v1.KindTimer || len(names) == 0 {
				return usagef("run is for timers: run timer NAME [NAME...]")
			}
			return a.runTimer(cmd.Context(), names)
		},
	}
}

// timerLogSources finds the hosts of a Timer's run (run 0: the last one
// that has hosts) and returns them with the run.
func (a *app) timerLogSources(ctx context.Context, st *store.Store, name string, run int64, host string) ([]logSource, int64, error) {
	ts, err := a.loadTimers(ctx, st, name)
	if err != nil {
		return nil, 0, err
	}
	t := ts[0]
	var runs []v1.TimerRun
	if t.Status != nil {
		runs = t.Status.Runs
	}
	var r *v1.TimerRun
	for i := len(runs) - 1; i >= 0 && r == nil; i-- {
		if (run == 0 && len(runs[i].Hosts) > 0) || runs[i].Run == run {
			r = &runs[i]
		}
	}
	switch {
	case r == nil && run != 0:
		return nil, 0, fmt.Errorf("timer %q has no run %d kept (status timer %s lists those it keeps)", name, run, name)
	case r == nil:
		return nil, 0, fmt.Errorf("timer %q has not run yet", name)
	case len(r.Hosts) == 0:
		return nil, 0, fmt.Errorf("run %d of timer %q ran on no host: %s", r.Run, name, r.Message)
	}
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var srcs []logSource
	for _, h := range r.Hosts {
		if host != "" && h != host {
			continue
		}
		src, err := hostLogSource(rctx, st, h, fmt.Sprintf("run %d of timer/%s", r.Run, name))
		if err != nil {
			return nil, 0, err
		}
		srcs = append(srcs, src)
	}
	if len(srcs) == 0 {
		return nil, 0, fmt.Errorf("run %d of timer %q did not run on host %s", r.Run, name, host)
	}
	return srcs, r.Run, nil
}
