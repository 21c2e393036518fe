package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func (a *app) describeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Show an object in detail: metadata, spec, instances, conditions and events",
		Long: `describe shows one object in detail: its metadata and spec, what its hosts
report and the events recorded about it.

describe service NAME shows the Service object when there is one, then the
service's endpoints in the catalog and every check of every endpoint with
its full last output. A service that only registration knows (a container's
SERVICE_NAME, the agent API) is described from its endpoints.`,
		Example: `  applyctl describe unit todo
  applyctl describe service web
  applyctl describe host host-a`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := kindAndNames(args)
			if err != nil {
				return err
			}
			switch kind {
			case kindEvent:
				return usagef("describe shows the events of an object: describe KIND NAME; list every event with get events")
			case kindEndpoint:
				return usagef("describe service NAME shows the endpoints of a service and their checks")
			case kindApplySet:
				return usagef("get applyset NAME -o yaml shows the record of an apply set")
			}
			if len(names) != 1 {
				return usagef("describe needs one NAME")
			}
			return a.describe(cmd.Context(), kind, names[0])
		},
	}
}

func (a *app) describe(ctx context.Context, kind, name string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	now := a.now()
	d := &describer{w: a.out}
	if kind == v1.KindService {
		return a.describeService(ctx, st, d, name, now)
	}
	v, err := a.load(ctx, st, kind, name)
	if err != nil {
		return err
	}
	o := v.objs[0]
	if h, ok := o.(*v1.Host); ok {
		return a.describeHost(ctx, st, d, h, now)
	}
	if err := d.object(o, kind, now); err != nil {
		return err
	}
	switch o := o.(type) {
	case *v1.Timer:
		ts, err := a.loadTimers(ctx, st, name)
		if err != nil {
			return err
		}
		a.describeTimer(d, ts[0], now)
	case *v1.Unit, *v1.Job:
		goal := v1.GoalStart
		if u, ok := o.(*v1.Unit); ok {
			goal = u.Spec.Goal
		}
		insts := instances(o)
		rows := [][]string{{"HOST", "GOAL", "STATE", "RESTARTS", "CONTAINER", "PORTS", "OBSERVED", "MESSAGE"}}
		var conds [][]string
		for _, in := range insts {
			g := in.Goal
			if g == "" {
				g = goal
			}
			rows = append(rows, []string{in.Host, string(g), stateColumn(in), strconv.Itoa(in.Restarts),
				dash(shortID(in.ContainerID)), ports(in.Ports), strconv.FormatInt(in.ObservedGeneration, 10), dash(in.Message)})
			for _, c := range in.Conditions {
				conds = append(conds, []string{in.Host, c.Type, string(c.Status), dash(c.Reason), age(c.LastTransitionTime, now), dash(c.Message)})
			}
		}
		if u, ok := o.(*v1.Unit); ok && u.Status != nil && u.Status.Pending > 0 {
			d.field("Pending", u.Status.PendingReason)
		}
		d.table("Instances", rows)
		images := [][]string{{"HOST", "IMAGE ID"}}
		for _, in := range insts {
			if in.ImageID != "" {
				images = append(images, []string{in.Host, in.ImageID})
			}
		}
		if len(images) > 1 {
			d.table("Images", images)
		}
		d.table("Conditions", append([][]string{{"HOST", "TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}}, conds...))
	}
	return a.describeEvents(ctx, st, d, kind, name, now)
}

// object prints the metadata and spec of o.
func (d *describer) object(o v1.Object, kind string, now time.Time) error {
	m := o.GetObjectMeta()
	d.field("Name", m.Name)
	d.field("Kind", kind)
	d.field("Labels", labels(m.Labels))
	d.field("Annotations", labels(m.Annotations))
	d.field("UID", m.UID)
	d.field("Generation", strconv.FormatInt(m.Generation, 10))
	d.field("Resource Version", m.ResourceVersion)
	d.field("Created", fmt.Sprintf("%s (%s ago)", m.CreationTimestamp.Format(time.RFC3339), age(m.CreationTimestamp, now)))
	if j, ok := o.(*v1.Job); ok {
		d.field("Job ID", j.ID())
	}
	spec, err := yaml.JSONToYAML(v1.SpecOf(o))
	if err != nil {
		return err
	}
	fmt.Fprintln(d.w, "Spec:")
	d.indent(string(spec), "  ")
	return nil
}

// indent prints every line of text after prefix.
func (d *describer) indent(text, prefix string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(d.w, "%s%s\n", prefix, l)
	}
}

func (a *app) describeHost(ctx context.Context, st *store.Store, d *describer, h *v1.Host, now time.Time) error {
	s := h.Status
	state := string(v1.HostDown)
	if s.State == v1.HostUp {
		state = string(v1.HostUp)
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%s (%s ago)", t.Format(time.RFC3339), age(t, now))
	}
	d.field("Name", h.Metadata.Name)
	d.field("Kind", v1.KindHost)
	d.field("Labels", labels(h.Metadata.Labels))
	d.field("Status", state)
	d.field("Addresses", list(s.Addresses))
	d.field("HTTP Address", dash(s.HTTPAddress))
	d.field("DNS Address", dash(s.DNSAddress))
	d.field("CPUs", strconv.Itoa(s.CPUs))
	d.field("Memory", bytesHuman(s.MemoryBytes))
	d.field("Memory Used", bytesHuman(s.MemoryUsed))
	d.field("Load Average", fmt.Sprintf("%.2f %.2f %.2f", s.LoadAverage[0], s.LoadAverage[1], s.LoadAverage[2]))
	d.field("OS", strings.TrimSpace(strings.Join([]string{s.OS, s.Kernel, s.Arch}, " ")))
	d.field("Berth Version", dash(s.BerthVersion))
	d.field("Docker Version", dash(s.DockerVersion))
	d.field("Started", when(s.StartedAt))
	d.field("Heartbeat", when(s.Heartbeat))
	rows := [][]string{{"KIND", "NAME", "GOAL", "STATE", "RESTARTS", "CONTAINER", "PORTS"}}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	for _, k := range []string{v1.KindUnit, v1.KindJob} {
		sts, err := store.ListStatuses(ctx, st, k)
		if err != nil {
			return storeErr(err)
		}
		names := make([]string, 0, len(sts))
		for n := range sts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			for _, in := range sts[n] {
				if in.Host == h.Metadata.Name {
					rows = append(rows, []string{strings.ToLower(k), n, dash(string(in.Goal)), dash(string(in.State)),
						strconv.Itoa(in.Restarts), dash(shortID(in.ContainerID)), ports(in.Ports)})
				}
			}
		}
	}
	d.table("Instances", rows)
	return nil
}

func (a *app) describeEvents(ctx context.Context, st *store.Store, d *describer, kind, name string, now time.Time) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	evs, err := store.ListEvents(ctx, st, kind, name)
	if err != nil {
		return storeErr(err)
	}
	rows := [][]string{{"Type", "Reason", "Age", "From", "Message"}, {"----", "------", "----", "----", "-------"}}
	for _, e := range evs {
		rows = append(rows, []string{dash(string(e.Type)), dash(e.Reason), eventAge(e, now), dash(e.Host), dash(e.Message)})
	}
	if len(evs) == 0 {
		rows = rows[:1]
	}
	d.table("Events", rows)
	return nil
}

// eventAge is kubectl describe's Age of an event: how long ago it was last
// seen and, for a repeated one, "3m (x17 over 8m)".
func eventAge(e v1.Event, now time.Time) string {
	if e.Count > 1 {
		return fmt.Sprintf("%s (x%d over %s)", age(e.LastTimestamp, now), e.Count, age(e.FirstTimestamp, now))
	}
	return age(e.LastTimestamp, now)
}

// describer writes kubectl describe's layout: aligned "Field:  value"
// lines and indented tables, "<none>" for an empty table.
type describer struct {
	w io.Writer
}

const describeWidth = 18

func (d *describer) field(name, value string) {
	fmt.Fprintf(d.w, "%-*s%s\n", describeWidth, name+":", value)
}

// table prints rows[0] as the header of rows[1:], or "<none>".
func (d *describer) table(title string, rows [][]string) {
	if len(rows) <= 1 {
		d.field(title, "<none>")
		return
	}
	fmt.Fprintf(d.w, "%s:\n", title)
	var t table
	var b strings.Builder
	t.write(&b, rows)
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l != "" {
			fmt.Fprintf(d.w, "  %s", l)
		}
	}
}
