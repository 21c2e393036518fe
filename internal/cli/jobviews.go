package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/goals"
	"berth.dev/berth/internal/store"
)

// Helios' views of Jobs: jobs, status (without a unit), history and hosts.
// Each reads the stored Jobs, their bindings, status keys and history keys
// once, then builds its rows with a pure function.

func (a *app) jobsCommand() *cobra.Command {
	var full, deployed bool
	var output string
	cmd := &cobra.Command{
		Use:   "jobs [PATTERN] [-f] [-y]",
		Short: "List Jobs as Helios does: JOB ID, NAME, VERSION, HOSTS, COMMAND, ENVIRONMENT",
		Long: `jobs lists the stored Jobs, those whose id (name:version:hash) contains
PATTERN when it is given, sorted by id. HOSTS counts the hosts the leading
controller bound the Job to (among those its placement allows: the others
refuse it). The hash of the id is shortened unless -f;
-y lists only Jobs bound to at least one host.`,
		Example: `  applyctl jobs
  applyctl jobs net -f
  applyctl jobs -y -o json`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			pattern := ""
			if len(args) == 1 {
				pattern = args[0]
			}
			return a.jobs(cmd.Context(), pattern, full, deployed, output)
		},
	}
	cmd.Flags().BoolVarP(&full, "full", "f", false, "show whole job ids")
	cmd.Flags().BoolVarP(&deployed, "deployed", "y", false, "only jobs deployed to a host")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func (a *app) historyCommand() *cobra.Command {
	var full bool
	var output string
	cmd := &cobra.Command{
		Use:   "history JOB",
		Short: "Show the state transitions of a Job on its hosts, oldest first",
		Long: `history shows every state transition the hosts recorded for a Job
(bounded in length per host), sorted by time: HOST, TIMESTAMP (UTC), STATE,
THROTTLED and CONTAINER ID. A NAME:VERSION id shows that version's only.`,
		Example: `  applyctl history netcat
  applyctl history netcat:2 -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			r, err := parseJobRef(args[0])
			if err != nil {
				return err
			}
			return a.history(cmd.Context(), r, full, output)
		},
	}
	cmd.Flags().BoolVarP(&full, "full", "f", false, "show whole container ids")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func (a *app) hostsCommand() *cobra.Command {
	var output string
	var watch bool
	cmd := &cobra.Command{
		Use:   "hosts [NAME] [-o wide|yaml|json] [-w]",
		Short: "List hosts: get hosts",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "wide", "json", "yaml":
			default:
				return usagef("unsupported output format %q: use wide, yaml or json", output)
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return a.get(cmd.Context(), v1.KindHost, name, output, watch)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, yaml or json")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "after listing, print the hosts that change until interrupted")
	return cmd
}

// jobWorld is what Helios' views read: the Jobs, their version records,
// bindings and instance statuses, and which hosts are up.
type jobWorld struct {
	jobs     []*v1.Job
	versions map[string]map[string]*v1.JobVersion // by job, then version
	bindings map[string]*v1.JobBinding
	statuses map[string][]v1.InstanceStatus
	up       map[string]bool
	labels   map[string]map[string]string // of each host that joined
}

// versionHash returns the template hash of version ver of j as its hosts
// find it: its record's, the Job's own for its current version; else the
// one its binding gives (b may be nil), which no host runs.
func (w *jobWorld) versionHash(j *v1.Job, ver string, b *v1.JobBinding) (string, bool) {
	if jv := w.versions[j.Metadata.Name][ver]; jv != nil {
		return jv.Hash(), true
	}
	if ver == j.Spec.Version {
		return v1.FullTemplateHash(&j.Spec.Container), true
	}
	if b != nil {
		h, ok := b.Hashes[ver]
		return h, ok && h != ""
	}
	return "", false
}

func (a *app) loadJobWorld(ctx context.Context, st *store.Store) (*jobWorld, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	objs, _, err := store.ListObjects(ctx, st, v1.KindJob)
	if err != nil {
		return nil, storeErr(err)
	}
	w := &jobWorld{bindings: map[string]*v1.JobBinding{}, up: map[string]bool{}}
	for _, o := range objs {
		w.jobs = append(w.jobs, o.(*v1.Job))
	}
	prefix := store.BindingKey(v1.KindJob, "")
	kvs, _, err := st.List(ctx, prefix)
	if err != nil {
		return nil, storeErr(err)
	}
	for _, kv := range kvs {
		var b v1.JobBinding
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		w.bindings[strings.TrimPrefix(kv.Key, prefix)] = &b
	}
	if w.statuses, err = store.ListStatuses(ctx, st, v1.KindJob); err != nil {
		return nil, storeErr(err)
	}
	if w.versions, err = store.ListJobVersions(ctx, st); err != nil {
		return nil, storeErr(err)
	}
	hosts, err := store.ListHosts(ctx, st)
	if err != nil {
		return nil, storeErr(err)
	}
	w.labels = map[string]map[string]string{}
	for _, h := range hosts {
		w.up[h.Metadata.Name] = h.Status.State == v1.HostUp
		w.labels[h.Metadata.Name] = h.Metadata.Labels
	}
	return w, nil
}

// jobItem is one row of jobs, and what -o json prints of it.
type jobItem struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Hosts       []string          `json:"hosts"`
	Command     []string          `json:"command,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	env         []v1.EnvVar
}

// jobItems is what jobs shows, sorted by id. It does no I/O.
func jobItems(w *jobWorld, pattern string, full, deployedOnly bool) []jobItem {
	var out []jobItem
	for _, j := range w.jobs {
		id := jobID(j, true)
		if pattern != "" && !strings.Contains(id, pattern) {
			continue
		}
		it := jobItem{ID: jobID(j, full), Name: j.Metadata.Name, Version: j.Spec.Version, Hosts: []string{},
			Command: append(slices.Clone(j.Spec.Container.Command), j.Spec.Container.Args...), env: j.Spec.Container.Env}
		if b := w.bindings[j.Metadata.Name]; b != nil {
			for _, h := range slices.Sorted(maps.Keys(b.Hosts)) {
				if j.Spec.Allows(h, w.labels[h]) { // the others refuse it
					it.Hosts = append(it.Hosts, h)
				}
			}
		}
		if deployedOnly && len(it.Hosts) == 0 {
			continue
		}
		if len(it.env) > 0 {
			it.Environment = map[string]string{}
			for _, e := range it.env {
				it.Environment[e.Name] = envShown(e)
			}
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// envShown is an environment variable's value as listed: a value read
// from a file on the host is shown by the file's name, never read.
func envShown(e v1.EnvVar) string {
	if e.ValueFrom != nil && e.ValueFrom.File != "" {
		return "<from file " + e.ValueFrom.File + ">"
	}
	return e.Value
}

func jobItemRows(items []jobItem) [][]string {
	rows := [][]string{{"JOB ID", "NAME", "VERSION", "HOSTS", "COMMAND", "ENVIRONMENT"}}
	for _, it := range items {
		env := make([]string, len(it.env))
		for i, e := range it.env {
			env[i] = e.Name + "=" + envShown(e)
		}
		rows = append(rows, []string{it.ID, it.Name, it.Version, strconv.Itoa(len(it.Hosts)),
			dash(argv(it.Command)), dash(strings.Join(env, ","))})
	}
	return rows
}

// argv joins a command line, quoting the arguments a shell would split.
func argv(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`|;&<>") {
			out[i] = strconv.Quote(a)
		}
	}
	return strings.Join(out, " ")
}

func (a *app) jobs(ctx context.Context, pattern string, full, deployed bool, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	w, err := a.loadJobWorld(ctx, st)
	if err != nil {
		return err
	}
	items := jobItems(w, pattern, full, deployed)
	if output != "" {
		if items == nil {
			items = []jobItem{}
		}
		return a.encodeDoc(output, listOf(items))
	}
	if len(items) == 0 {
		fmt.Fprintln(a.err, "No jobs found.")
		return nil
	}
	var t table
	t.write(a.out, jobItemRows(items))
	return nil
}

func listOf[T any](items []T) listDoc {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return listDoc{APIVersion: v1.APIVersion, Kind: "List", Items: out}
}

// Goal shown for a host the Job runs on through its selector, and for one
// it is being taken off (Helios' third goal).
const (
	goalUndeploy  = "undeploy"
	stateHostDown = "UNKNOWN (host DOWN)"
)

// instanceItem is one row of status, and what -o json prints of it.
type instanceItem struct {
	ID     string             `json:"id"`
	Job    string             `json:"job"`
	Host   string             `json:"host"`
	HostUp bool               `json:"hostUp"`
	Goal   string             `json:"goal"`
	State  string             `json:"state"`
	Status *v1.InstanceStatus `json:"status,omitempty"`
}

// instanceItems is what status shows: one row per host each Job is
// deployed to, bound to or reports an instance on, sorted by job id then
// host. job and host filter when set. It does no I/O.
func instanceItems(w *jobWorld, job jobRef, host string, full bool) []instanceItem {
	var out []instanceItem
	for _, j := range w.jobs {
		name := j.Metadata.Name
		if job.name != "" && job.name != name {
			continue
		}
		b := w.bindings[name]
		if b == nil {
			b = &v1.JobBinding{}
		}
		sts := map[string]*v1.InstanceStatus{}
		for i, in := range w.statuses[name] {
			sts[in.Host] = &w.statuses[name][i]
		}
		hosts := map[string]bool{}
		for _, d := range j.Spec.Deployments {
			hosts[d.Host] = true
		}
		for h := range b.Hosts {
			if j.Spec.Allows(h, w.labels[h]) { // a host the binding places elsewhere refuses it, and says so in its status
				hosts[h] = true
			}
		}
		for h := range sts {
			hosts[h] = true
		}
		for _, h := range slices.Sorted(maps.Keys(hosts)) {
			if host != "" && h != host {
				continue
			}
			it := instanceItem{Job: name, Host: h, HostUp: w.up[h], Status: sts[h], ID: jobID(j, full)}
			fullID := jobID(j, true)
			if ver, ok := b.Hosts[h]; ok {
				if hash, ok := w.versionHash(j, ver, b); ok {
					it.ID, fullID = hashID(name, ver, hash, full), hashID(name, ver, hash, true)
				}
			}
			if want := job.String() + ":"; job.version != "" && !strings.HasPrefix(fullID+":", want) {
				continue // another version than the one asked for
			}
			switch i := goals.DeploymentIndex(j, h); {
			case i >= 0:
				it.Goal = string(goals.GoalOf(j.Spec.Deployments[i]))
			case b.Hosts[h] != "":
				it.Goal = string(v1.GoalStart)
			default:
				it.Goal = goalUndeploy
			}
			switch in := sts[h]; {
			case !it.HostUp:
				it.State = stateHostDown
			case in == nil:
				it.State = "-"
			default:
				it.State = dash(string(in.State))
				if in.Throttled != "" && in.Throttled != v1.ThrottleNo {
					it.State += " (" + string(in.Throttled) + ")"
				} else if p := pullProgress(*in); p != "" {
					it.State += " (" + p + ")"
				}
			}
			out = append(out, it)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// instanceRows is Helios' table; --full adds the image each container
// runs (IMAGE ID), to see whether every host runs the same bytes.
func instanceRows(items []instanceItem, full bool) [][]string {
	rows := [][]string{{"JOB ID", "HOST", "GOAL", "STATE", "CONTAINER ID", "PORTS"}}
	if full {
		rows[0] = append(rows[0], "IMAGE ID")
	}
	for _, it := range items {
		ctr, ps, img := "-", "-", "-"
		if it.Status != nil {
			ctr = it.Status.ContainerID
			if !full {
				ctr = shortID(ctr)
			}
			ctr, ps, img = dash(ctr), ports(it.Status.Ports), dash(it.Status.ImageID)
		}
		row := []string{it.ID, it.Host, it.Goal, it.State, ctr, ps}
		if full {
			row = append(row, img)
		}
		rows = append(rows, row)
	}
	return rows
}

// jobStatus is status [--job JOB] [--host HOST].
func (a *app) jobStatus(ctx context.Context, job jobRef, host string, full bool, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	w, err := a.loadJobWorld(ctx, st)
	if err != nil {
		return err
	}
	if job.name != "" {
		i := slices.IndexFunc(w.jobs, func(j *v1.Job) bool { return j.Metadata.Name == job.name })
		if i < 0 {
			return notFound(v1.KindJob, job.name)
		}
	}
	items := instanceItems(w, job, host, full)
	if output != "" {
		if items == nil {
			items = []instanceItem{}
		}
		return a.encodeDoc(output, listOf(items))
	}
	if len(items) == 0 {
		fmt.Fprintln(a.err, "No job instances found.")
		return nil
	}
	var t table
	t.write(a.out, instanceRows(items, full))
	return nil
}

// historyItem is one row of history, and what -o json prints of it.
type historyItem struct {
	v1.HistoryEntry
	seq string
}

// historyItems decodes the history keys of a Job, keeps those of version
// (all when ""), and sorts them by time, then host and key. An entry's host
// is its key's (history/<host>/...): one whose value names another host is
// left out. It does no I/O.
func historyItems(job string, kvs []store.KV, version string) ([]v1.HistoryEntry, error) {
	var items []historyItem
	for _, kv := range kvs {
		kind, name, host, ok := store.ParseHistoryKey(kv.Key)
		seq := kv.Key[strings.LastIndexByte(kv.Key, '/')+1:]
		if !ok || kind != "job" || name != job || seq == "" {
			continue
		}
		var e v1.HistoryEntry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if e.Host != "" && e.Host != host {
			continue // only the host of the key writes there: not that host's history
		}
		e.Host = host
		if version != "" && e.Version != "" && e.Version != version {
			continue
		}
		items = append(items, historyItem{e, seq})
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		switch {
		case !a.Timestamp.Equal(b.Timestamp):
			return a.Timestamp.Before(b.Timestamp)
		case a.Host != b.Host:
			return a.Host < b.Host
		case len(a.seq) != len(b.seq):
			return len(a.seq) < len(b.seq) // numeric sequence numbers
		}
		return a.seq < b.seq
	})
	out := make([]v1.HistoryEntry, len(items))
	for i, it := range items {
		out[i] = it.HistoryEntry
	}
	return out, nil
}

// historyTime is how history prints a timestamp: UTC, to the millisecond.
const historyTime = "2006-01-02 15:04:05.000"

func historyRows(entries []v1.HistoryEntry, full bool) [][]string {
	rows := [][]string{{"HOST", "TIMESTAMP", "STATE", "THROTTLED", "CONTAINER ID"}}
	for _, e := range entries {
		ctr := e.ContainerID
		if !full {
			ctr = shortID(ctr)
		}
		rows = append(rows, []string{e.Host, e.Timestamp.UTC().Format(historyTime), dash(string(e.State)),
			dash(string(e.Throttled)), dash(ctr)})
	}
	return rows
}

func (a *app) history(ctx context.Context, job jobRef, full bool, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	kvs, _, err := st.List(rctx, store.HistoriesPrefix)
	if err != nil {
		return storeErr(err)
	}
	entries, err := historyItems(job.name, kvs, job.version)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		// No history: say whether the job exists.
		if _, err := store.GetObject(rctx, st, v1.KindJob, job.name); errors.Is(err, store.ErrNotFound) {
			return notFound(v1.KindJob, job.name)
		} else if err != nil {
			return storeErr(err)
		}
	}
	if output != "" {
		if entries == nil {
			entries = []v1.HistoryEntry{}
		}
		return a.encodeDoc(output, listOf(entries))
	}
	if len(entries) == 0 {
		fmt.Fprintf(a.err, "No history for %s.\n", ref(v1.KindJob, job.String()))
		return nil
	}
	var t table
	t.write(a.out, historyRows(entries, full))
	return nil
}
