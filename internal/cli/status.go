package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func (a *app) statusCommand() *cobra.Command {
	var lines int
	var jobFilter, hostFilter, output string
	var full bool
	cmd := &cobra.Command{
		Use:   "status unit NAME [-n N] | status timer NAME | status [--job JOB] [--host HOST]",
		Short: "Show a Unit as systemctl status does, or Jobs' instances as Helios does",
		Long: `status unit NAME shows a Unit in the spirit of systemctl status: its
description, goal, and for each instance its state and since when, host,
container and image, command, restarts, the states of its dependencies, its
health, then the last log lines of its container (-n, default 10), read from
the controller of the host that runs it. When those cannot be read, status
says why and still succeeds.

status timer NAME shows a Timer as systemctl status shows a timer: whether
a run is active, the next elapse, the last success, then its runs kept,
newest first, with their ticks, hosts, durations, results and exit codes.

status without a unit shows the instances of Jobs as Helios' status does:
JOB ID, HOST, GOAL, STATE, CONTAINER ID and PORTS, one row per host a Job
is deployed to, bound to, or reports an instance on; --job and --host
filter (status job NAME is status --job NAME). A host without a status
shows STATE "-"; a host that is Down shows "UNKNOWN (host DOWN)"; a
throttled instance shows why after its state: "EXITED (FLAPPING)".`,
		Example: `  applyctl status unit todo
  applyctl status unit todo -n 50
  applyctl status timer backup
  applyctl status
  applyctl status --job netcat --host host-a -o json`,
		Args: usageArgs(cobra.RangeArgs(0, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if len(args) == 0 {
				return a.jobStatusArgs(cmd.Context(), jobFilter, hostFilter, full, output)
			}
			kind, names, err := kindAndNames(args)
			if err != nil {
				return err
			}
			if kind == v1.KindJob {
				if len(names) != 1 || jobFilter != "" {
					return usagef("status job needs one JOB: status job JOB, or status --job JOB")
				}
				return a.jobStatusArgs(cmd.Context(), names[0], hostFilter, full, output)
			}
			if jobFilter != "" || hostFilter != "" || output != "" || full {
				return usagef("--job, --host, -f and -o are for jobs' status: status [--job JOB] [--host HOST]")
			}
			if kind == v1.KindTimer {
				if len(names) != 1 {
					return usagef("status timer needs one NAME: status timer NAME")
				}
				return a.statusTimer(cmd.Context(), names[0])
			}
			if kind != v1.KindUnit {
				return usagef("status is for units, jobs and timers, not %ss", strings.ToLower(kind))
			}
			if len(names) != 1 {
				return usagef("status needs one NAME: status unit NAME")
			}
			if lines < 0 {
				return usagef("-n %d: want a number of lines (0 or more)", lines)
			}
			return a.status(cmd.Context(), names[0], lines)
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 10, "number of log lines to show")
	cmd.Flags().Bool("no-pager", false, "accepted for systemctl's habit; applyctl never pages")
	cmd.Flags().StringVarP(&jobFilter, "job", "j", "", "jobs' status: only this job (NAME or NAME:VERSION[:HASH])")
	cmd.Flags().StringVar(&hostFilter, "host", "", "jobs' status: only this host")
	cmd.Flags().BoolVarP(&full, "full", "f", false, "jobs' status: whole job and container ids, and the image each container runs")
	cmd.Flags().StringVarP(&output, "output", "o", "", "jobs' status: output format json or yaml")
	return cmd
}

// jobStatusArgs checks status' job and host filters, then runs it.
func (a *app) jobStatusArgs(ctx context.Context, job, host string, full bool, output string) error {
	var jr jobRef
	if job != "" {
		var err error
		if jr, err = parseJobRef(job); err != nil {
			return err
		}
	}
	if host != "" {
		if msg := v1.ValidHostName(host); msg != "" {
			return usagef("--host %s", msg)
		}
	}
	return a.jobStatus(ctx, jr, host, full, output)
}

// unitStatus is what status shows of one Unit: the Unit, its instances,
// and the Units it names as dependencies (nil when they do not exist) with
// their instances.
type unitStatus struct {
	unit  *v1.Unit
	insts []v1.InstanceStatus
	deps  map[string]*depStatus
}

type depStatus struct {
	exists bool
	insts  []v1.InstanceStatus
}

func (a *app) status(ctx context.Context, name string, lines int) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	us, err := a.loadUnitStatus(ctx, st, name)
	if err != nil {
		return err
	}
	now := a.now()
	tty := isTerminal(a.out)
	if len(us.insts) == 0 {
		io.WriteString(a.out, formatUnitStatus(us, nil, now, tty))
		return nil
	}
	var c *controllerClient
	if lines != 0 {
		if c, err = a.controllerClient(); err != nil {
			return err
		}
	}
	for i := range us.insts {
		if i > 0 {
			fmt.Fprintln(a.out)
		}
		in := &us.insts[i]
		io.WriteString(a.out, formatUnitStatus(us, in, now, tty))
		if lines == 0 {
			continue
		}
		fmt.Fprintln(a.out)
		if err := a.tailLogs(ctx, st, c, name, in.Host, lines); err != nil {
			fmt.Fprintf(a.out, "(logs unavailable: %s)\n", err)
		}
	}
	return nil
}

// loadUnitStatus reads a Unit, its instances and those of its dependencies.
func (a *app) loadUnitStatus(ctx context.Context, st *store.Store, name string) (*unitStatus, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	o, err := store.GetObject(ctx, st, v1.KindUnit, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(v1.KindUnit, name)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	us := &unitStatus{unit: o.(*v1.Unit), deps: map[string]*depStatus{}}
	if us.insts, err = store.ObjectStatuses(ctx, st, v1.KindUnit, name); err != nil {
		return nil, storeErr(err)
	}
	s := us.unit.Spec
	for _, l := range [][]string{s.Requires, s.Wants, s.After} {
		for _, d := range l {
			if us.deps[d] != nil {
				continue
			}
			ds := &depStatus{}
			_, err := store.GetObject(ctx, st, v1.KindUnit, d)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return nil, storeErr(err)
			default:
				ds.exists = true
				if ds.insts, err = store.ObjectStatuses(ctx, st, v1.KindUnit, d); err != nil {
					return nil, storeErr(err)
				}
			}
			us.deps[d] = ds
		}
	}
	return us, nil
}

// tailLogs prints the last lines of the instance's logs on host, read
// from that host's controller within --request-timeout.
func (a *app) tailLogs(ctx context.Context, st *store.Store, c *controllerClient, name, host string, lines int) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	h, err := store.GetHost(ctx, st, host)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("host %s has no host record", host)
	}
	if err != nil {
		return storeErr(err)
	}
	addr := dialAddress(h)
	if addr == "" {
		return fmt.Errorf("host %s has no HTTP address in its host record", host)
	}
	body, err := openLogs(ctx, c, logSource{host: host, scheme: apiScheme(h), addr: addr}, name, logsOptions{tail: lines})
	if err != nil {
		return err
	}
	defer body.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, body); err != nil {
		return fmt.Errorf("host %s (%s): reading the logs: %w", host, addr, err)
	}
	a.out.Write(b.Bytes())
	if b.Len() > 0 && b.Bytes()[b.Len()-1] != '\n' {
		fmt.Fprintln(a.out)
	}
	return nil
}

// Terminal colours of the ● of status.
const (
	colorGreen = "\033[0;1;32m"
	colorRed   = "\033[0;1;31m"
	colorGrey  = "\033[0;38;5;245m"
	colorReset = "\033[0m"
)

// formatUnitStatus is the block status prints for one instance (in nil: a
// Unit without instances), colour only on a terminal. It does no I/O.
func formatUnitStatus(us *unitStatus, in *v1.InstanceStatus, now time.Time, tty bool) string {
	var b bytes.Buffer
	u := us.unit
	dot := "●"
	if tty {
		color := colorGrey
		if in != nil {
			switch in.State {
			case v1.StateRunning:
				color = colorGreen
			case v1.StateFailed, v1.StateExited:
				color = colorRed
			}
		}
		dot = color + dot + colorReset
	}
	title := u.Metadata.Name
	if u.Spec.Description != "" {
		title += " - " + u.Spec.Description
	}
	fmt.Fprintf(&b, "%s %s\n", dot, title)
	field := func(k, v string) { fmt.Fprintf(&b, "%9s: %s\n", k, v) }
	goal := u.Spec.Goal
	if goal == "" {
		goal = v1.GoalStart
	}
	field("Goal", string(goal))
	if in == nil {
		field("State", "no instance yet")
		field("Host", "-")
	} else {
		state := dash(string(in.State))
		if !in.Since.IsZero() {
			state += " since " + in.Since.UTC().Format("Mon 2006-01-02 15:04:05 MST") + "; " + agoSystemd(now.Sub(in.Since)) + " ago"
		}
		if in.Message != "" {
			state += " (" + in.Message + ")"
		}
		field("State", state)
		field("Host", in.Host)
		ctr := "-"
		if in.ContainerID != "" {
			ctr = fmt.Sprintf("%s (%s)", shortID(in.ContainerID), u.Spec.Container.Image)
		}
		field("Container", ctr)
		if in.ImageID != "" {
			field("Image", in.ImageID)
		}
		if p := pullProgress(*in); p != "" {
			field("Pull", p)
		}
	}
	field("Command", commandLine(u.Spec.Container))
	if in != nil {
		r := strconv.Itoa(in.Restarts)
		if in.LastExitCode != nil {
			r += fmt.Sprintf(" (last exit code %d", *in.LastExitCode)
			if !in.LastExitTime.IsZero() {
				r += " at " + in.LastExitTime.UTC().Format("15:04:05")
			}
			r += ")"
		}
		field("Restarts", r)
	}
	field("Requires", depList(u.Spec.Requires, us.deps))
	field("Wants", depList(u.Spec.Wants, us.deps))
	field("After", depList(u.Spec.After, us.deps))
	if in != nil {
		field("Health", health(u, in))
	}
	return b.String()
}

// commandLine is the container's command and arguments as a shell would
// read them, or what the image runs.
func commandLine(t v1.ContainerTemplate) string {
	args := append(append([]string(nil), t.Command...), t.Args...)
	if len(args) == 0 {
		return "(the image's)"
	}
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`") {
			args[i] = strconv.Quote(a)
		}
	}
	s := strings.Join(args, " ")
	if len(t.Command) == 0 {
		s = "(the image's) " + s
	}
	return s
}

// depList is "db (RUNNING on vm), cache (not found)", or "-".
func depList(names []string, deps map[string]*depStatus) string {
	if len(names) == 0 {
		return "-"
	}
	parts := make([]string, len(names))
	for i, n := range names {
		d := deps[n]
		switch {
		case d == nil || !d.exists:
			parts[i] = n + " (not found)"
		case len(d.insts) == 0:
			parts[i] = n + " (no instance)"
		default:
			states := make([]string, len(d.insts))
			for j, in := range d.insts {
				states[j] = dash(string(in.State)) + " on " + in.Host
			}
			parts[i] = n + " (" + strings.Join(states, ", ") + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// conditionHealthy is the condition a controller may report for the
// health check; without it, health is read from the state and Ready.
const conditionHealthy = "Healthy"

// health is "passing", "checking", "failing: <message>", or "-" for a Unit
// without a healthCheck or an instance that does not run.
func health(u *v1.Unit, in *v1.InstanceStatus) string {
	if u.Spec.Container.HealthCheck == nil {
		return "-"
	}
	if c := v1.FindCondition(in.Conditions, conditionHealthy); c != nil {
		switch c.Status {
		case v1.ConditionTrue:
			return "passing"
		case v1.ConditionFalse:
			return "failing: " + dash(strings.TrimSpace(c.Reason+" "+c.Message))
		}
		return "checking"
	}
	switch in.State {
	case v1.StateHealthchecking:
		return "checking"
	case v1.StateRunning:
	default:
		return "-"
	}
	c := v1.FindCondition(in.Conditions, v1.ConditionReady)
	switch {
	case c == nil:
		return "checking"
	case c.Status == v1.ConditionTrue:
		return "passing"
	case c.Status == v1.ConditionFalse:
		msg := c.Message
		if msg == "" {
			msg = c.Reason
		}
		return "failing: " + dash(msg)
	}
	return "checking"
}

// agoSystemd formats a duration as systemctl status does: "45s", "3min",
// "1h 5min", "2 days 3h".
func agoSystemd(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dmin", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dmin", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	s := fmt.Sprintf("%d days", days)
	if days == 1 {
		s = "1 day"
	}
	if h > 0 {
		s += fmt.Sprintf(" %dh", h)
	}
	return s
}
