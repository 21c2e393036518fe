package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// table writes rows in columns separated by at least two spaces, as
// text/tabwriter does for kubectl. Columns only ever widen, so rows printed
// later (get -w) stay aligned with the header when they fit.
type table struct {
	widths []int
}

func (t *table) write(w io.Writer, rows [][]string) {
	for _, r := range rows {
		for i, c := range r {
			if i >= len(t.widths) {
				t.widths = append(t.widths, 0)
			}
			t.widths[i] = max(t.widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-len(c)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// header returns the column names of a kind's table.
func header(kind string, wide bool) []string {
	switch kind {
	case v1.KindUnit:
		h := []string{"NAME", "HOST", "STATE", "RESTARTS", "CONTAINER", "PORTS", "AGE"}
		if wide {
			h = append(h, "GOAL", "IMAGE", "GENERATION", "OBSERVED", "MESSAGE")
		}
		return h
	case v1.KindJob:
		h := []string{"NAME", "VERSION", "JOB ID", "HOSTS", "STATE", "AGE"}
		if wide {
			h = append(h, "IMAGE", "GENERATION")
		}
		return h
	case v1.KindService:
		h := []string{"NAME", "ENDPOINTS", "PASSING", "WARNING", "CRITICAL", "TAGS"}
		if wide {
			h = append(h, "SELECTOR", "PORT")
		}
		return h
	case kindEndpoint:
		h := []string{"ID", "SERVICE", "HOST", "ADDRESS", "PORT", "STATUS", "CHECK OUTPUT"}
		if wide {
			h = append(h, "TAGS", "SOURCE", "CONTAINER")
		}
		return h
	case v1.KindHost:
		h := []string{"HOST", "STATUS", "DEPLOYED", "RUNNING", "CPUS", "MEM", "LOAD AVG", "MEM USAGE", "OS", "BERTH", "DOCKER", "LABELS"}
		if wide {
			h = append(h, "ADDRESSES", "HTTP", "HEARTBEAT")
		}
		return h
	}
	return nil
}

// rows returns the table rows of one object of a view.
func (v *view) rows(o v1.Object, wide bool, now time.Time) [][]string {
	switch o := o.(type) {
	case *v1.Unit:
		return unitRows(o, v.down, wide, now)
	case *v1.Job:
		return [][]string{jobRow(o, wide, now)}
	case *v1.Host:
		return [][]string{hostRow(o, v.counts[o.Metadata.Name], wide, now)}
	}
	return nil
}

// unitRows are a Unit's rows, one per instance; an instance on a host in
// down is shown UNKNOWN (host DOWN): what it last reported may be stale.
// Without wide, each row has an eighth cell: the message of an instance
// that is not progressing (stuck), or "" (see messageColumn).
func unitRows(u *v1.Unit, down map[string]bool, wide bool, now time.Time) [][]string {
	age := age(u.Metadata.CreationTimestamp, now)
	gen := strconv.FormatInt(u.Metadata.Generation, 10)
	insts := instances(u)
	pending, reason := 0, ""
	if u.Status != nil {
		pending, reason = u.Status.Pending, u.Status.PendingReason
	}
	var out [][]string
	if pending > 0 {
		// One row says how many replicas wait for a host, and why.
		r := []string{u.Metadata.Name, "-", string(v1.StatePending), "0", "-", "-", age}
		if wide {
			r = append(r, string(u.Spec.Goal), u.Spec.Container.Image, gen, "-", dash(reason))
		} else {
			r = append(r, reason)
		}
		out = append(out, r)
	}
	if len(insts) == 0 && pending == 0 {
		r := []string{u.Metadata.Name, "-", "-", "0", "-", "-", age}
		if wide {
			r = append(r, string(u.Spec.Goal), u.Spec.Container.Image, gen, "-", "-")
		} else {
			r = append(r, "")
		}
		return [][]string{r}
	}
	for _, in := range insts {
		state, why := stateColumn(in), stuck(in)
		if down[in.Host] {
			state, why = stateHostDown, ""
		}
		r := []string{u.Metadata.Name, in.Host, state, strconv.Itoa(in.Restarts), dash(shortID(in.ContainerID)), ports(in.Ports), age}
		if wide {
			goal := in.Goal
			if goal == "" {
				goal = u.Spec.Goal
			}
			r = append(r, dash(string(goal)), u.Spec.Container.Image, gen, strconv.FormatInt(in.ObservedGeneration, 10), dash(in.Message))
		} else {
			r = append(r, why)
		}
		out = append(out, r)
	}
	return out
}

// unitMessageColumn is the index of the cell unitRows adds without wide.
const unitMessageColumn = 7

// messageColumn settles the eighth cell of Unit rows printed without
// wide, as kubectl shows why a pod is stuck rather than only that it is:
// when one of the rows has a message, the table gets a MESSAGE column
// ("-" where there is none); else the cell is dropped, and the table
// has the Contract's seven columns. header reports whether the header
// printed with these rows has the column already (get -w prints later
// rows under it: a message then comes after AGE, unnamed, rather than
// not at all). It returns whether the table has the column now.
func messageColumn(rows [][]string, header bool) bool {
	has := header
	for _, r := range rows {
		has = has || (len(r) > unitMessageColumn && r[unitMessageColumn] != "")
	}
	for i, r := range rows {
		switch {
		case len(r) <= unitMessageColumn:
		case has:
			r[unitMessageColumn] = dash(r[unitMessageColumn])
		case r[unitMessageColumn] == "":
			rows[i] = r[:unitMessageColumn]
		}
	}
	return has
}

// stuckReasons are the condition reasons shown in the STATE column:
// "FAILED (PolicyDenied)", "CREATING (HostPathUnavailable)".
var stuckReasons = []string{v1.ReasonPolicyDenied, v1.ReasonEnvFileUnavailable, v1.ReasonHostPathUnavailable,
	v1.ReasonImagePullBackOff, v1.ReasonPullSecretUnavailable}

// stateColumn is an instance's state, with the reason when its host
// refuses to create its container or cannot make it: "FAILED
// (PolicyDenied)", "CREATING (HostPathUnavailable)", "PULLING_IMAGE
// (ImagePullBackOff)"; and a pull's progress: "PULLING_IMAGE (1/2 layers,
// 3.0MiB/30.0MiB)".
func stateColumn(in v1.InstanceStatus) string {
	s := dash(string(in.State))
	if c := v1.FindCondition(in.Conditions, v1.ConditionReady); c != nil && slices.Contains(stuckReasons, c.Reason) {
		return s + " (" + c.Reason + ")"
	}
	if p := pullProgress(in); p != "" {
		s += " (" + p + ")"
	}
	return s
}

// pullProgress says how far an image pull under way is: "1/2 layers,
// 3.0MiB/30.0MiB"; "" when none is.
func pullProgress(in v1.InstanceStatus) string {
	p := in.Pull
	if in.State != v1.StatePullingImage || p == nil {
		return ""
	}
	s := fmt.Sprintf("%d/%d layers", p.LayersDone, p.Layers)
	if p.BytesTotal > 0 {
		s += fmt.Sprintf(", %s/%s", mebibytes(p.BytesDone), mebibytes(p.BytesTotal))
	}
	return s
}

func mebibytes(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

func jobRow(j *v1.Job, wide bool, now time.Time) []string {
	hosts := map[string]bool{}
	for _, d := range j.Spec.Deployments {
		hosts[d.Host] = true
	}
	insts := instances(j)
	for _, in := range insts {
		hosts[in.Host] = true
	}
	r := []string{j.Metadata.Name, j.Spec.Version, j.ID(), strconv.Itoa(len(hosts)), summarizeStates(insts), age(j.Metadata.CreationTimestamp, now)}
	if wide {
		r = append(r, j.Spec.Container.Image, strconv.FormatInt(j.Metadata.Generation, 10))
	}
	return r
}

// summarizeStates says "RUNNING" when every instance is, else counts each
// state: "2 RUNNING, 1 EXITED".
func summarizeStates(insts []v1.InstanceStatus) string {
	if len(insts) == 0 {
		return "-"
	}
	n := map[v1.InstanceState]int{}
	for _, in := range insts {
		n[in.State]++
	}
	if len(n) == 1 {
		return string(insts[0].State)
	}
	states := slices.Collect(maps.Keys(n))
	sort.Slice(states, func(i, j int) bool {
		if n[states[i]] != n[states[j]] {
			return n[states[i]] > n[states[j]]
		}
		return states[i] < states[j]
	})
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = fmt.Sprintf("%d %s", n[s], s)
	}
	return strings.Join(parts, ", ")
}

func hostRow(h *v1.Host, c hostCount, wide bool, now time.Time) []string {
	s := h.Status
	status := string(v1.HostDown)
	if s.State == v1.HostUp {
		status = string(v1.HostUp)
	}
	usage := "-"
	if s.MemoryBytes > 0 {
		usage = fmt.Sprintf("%.0f%%", 100*float64(s.MemoryUsed)/float64(s.MemoryBytes))
	}
	r := []string{h.Metadata.Name, status, strconv.Itoa(c.deployed), strconv.Itoa(c.running), strconv.Itoa(s.CPUs),
		bytesHuman(s.MemoryBytes), fmt.Sprintf("%.2f %.2f %.2f", s.LoadAverage[0], s.LoadAverage[1], s.LoadAverage[2]),
		usage, dash(s.OS), dash(s.BerthVersion), dash(s.DockerVersion), labels(h.Metadata.Labels)}
	if wide {
		hb := "-"
		if !s.Heartbeat.IsZero() {
			hb = age(s.Heartbeat, now) + " ago"
		}
		r = append(r, list(s.Addresses), dash(s.HTTPAddress), hb)
	}
	return r
}

// age formats how long ago t was as kubectl does: 5s, 3m, 2h, 4d, 1y.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf("%dy", int(d.Hours()/24/365))
}

// bytesHuman formats a size with binary units: 23.4 GiB.
func bytesHuman(n int64) string {
	if n <= 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	suffixes := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for f >= unit && i < len(suffixes)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, suffixes[i])
}

func ports(ps []v1.PortStatus) string {
	if len(ps) == 0 {
		return "-"
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func list(s []string) string {
	if len(s) == 0 {
		return "<none>"
	}
	return strings.Join(s, ",")
}

// labels formats a map as k=v,k=v sorted by key, or <none>.
func labels(m map[string]string) string { return v1.FormatLabels(m) }
