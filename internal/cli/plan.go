package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func (a *app) planCommand() *cobra.Command {
	var files []string
	var recursive bool
	var output string
	cmd := &cobra.Command{
		Use:   "plan -f FILE|DIR|- [-f ...] [-R] [-o json|yaml]",
		Short: "Show what applying manifests would do on each host, and why hosts are rejected",
		Long: `plan shows, as nomad job plan does, what applying the manifests would do,
without writing anything: for each object whether it would be created,
configured or left unchanged, and for each Unit and Job, host by host, where
an instance would be created, replaced (another template or version) or
stopped, and which replicas no host could take. Every host that could not
take an instance says why: its labels do not match, it is Down, it lacks
memory or CPU (with what is asked, free, its capacity and what its
controller reserves), or a host port asked for is taken there.

It decides with the leading controller's own rules (the scheduler's
placement by resources, the Jobs loop's hosts), from the cluster as stored
now: the hosts, the Units and Jobs placed on them and the ports their
instances report. Objects of the manifests are planned in turn, each seeing
what the ones before it take. A Unit or Job pinned to a host that lacks
room is placed there anyway: plan warns.

Exit codes, as nomad job plan's: 0 when nothing would change, 1 when
something would, 2 on an error (an invalid manifest, etcd unreachable).
apply --dry-run is unchanged: it only says created, configured or unchanged.`,
		Example: `  applyctl plan -f web.yaml
  applyctl plan -f manifests/ -R -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("plan needs -f FILE, DIR or - (standard input)")
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			return a.plan(cmd.Context(), files, recursive, output)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory or - for standard input (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

// planResult is what plan -o json prints.
type planResult struct {
	Changes bool         `json:"changes"`
	Objects []objectPlan `json:"objects"`
}

// plan prints what applying the manifests would do; exit 1 when it would
// change anything, 2 on an error.
func (a *app) plan(ctx context.Context, files []string, recursive bool, output string) error {
	fail := func(err error) error { return &exitError{code: ExitUsage, err: err} }
	p, err := a.prepare(ctx, files, recursive, false)
	if err != nil {
		return fail(err)
	}
	defer p.st.Close()
	objs := make([]v1.Object, len(p.docs))
	for i, d := range p.docs {
		objs[i] = d.Object
	}
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	results, err := store.Apply(rctx, p.st, objs, store.ApplyOptions{DryRun: true})
	if err != nil {
		return fail(storeErr(err))
	}
	c, err := readCluster(rctx, p.st)
	if err != nil {
		return fail(storeErr(err))
	}
	pl := newPlanner(c, a.now())
	res := planResult{Objects: []objectPlan{}}
	for _, r := range results {
		op := pl.plan(r.Object, r.Action)
		res.Changes = res.Changes || op.changes()
		res.Objects = append(res.Objects, op)
	}
	if output != "" {
		if err := a.encodeDoc(output, res); err != nil {
			return fail(err)
		}
	} else {
		printPlan(a, res)
	}
	if res.Changes {
		return &exitError{code: ExitFailure}
	}
	return nil
}

// readCluster reads what a planner starts from.
func readCluster(ctx context.Context, st *store.Store) (cluster, error) {
	c := cluster{units: map[string]*v1.Unit{}, unitBinds: map[string]*v1.Binding{}, jobs: map[string]*v1.Job{},
		jobBinds: map[string]*v1.JobBinding{}, statuses: map[string]map[string]v1.InstanceStatus{}}
	var err error
	if c.hosts, err = store.ListHosts(ctx, st); err != nil {
		return c, err
	}
	for _, kind := range []string{v1.KindUnit, v1.KindJob} {
		objs, _, err := store.ListObjects(ctx, st, kind)
		if err != nil {
			return c, err
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *v1.Unit:
				c.units[o.Metadata.Name] = o
			case *v1.Job:
				c.jobs[o.Metadata.Name] = o
			}
		}
		prefix := store.BindingKey(kind, "")
		kvs, _, err := st.List(ctx, prefix)
		if err != nil {
			return c, err
		}
		for _, kv := range kvs {
			name := strings.TrimPrefix(kv.Key, prefix)
			if kind == v1.KindUnit {
				var b v1.Binding
				if json.Unmarshal(kv.Value, &b) == nil {
					c.unitBinds[name] = &b
				}
			} else {
				var b v1.JobBinding
				if json.Unmarshal(kv.Value, &b) == nil {
					c.jobBinds[name] = &b
				}
			}
		}
		sts, err := store.ListStatuses(ctx, st, kind)
		if err != nil {
			return c, err
		}
		for name, insts := range sts {
			owner := strings.ToLower(kind) + "/" + name
			c.statuses[owner] = map[string]v1.InstanceStatus{}
			for _, in := range insts {
				c.statuses[owner][in.Host] = in
			}
		}
	}
	return c, nil
}

// printPlan writes a plan for people: each object with what it would do,
// then its hosts, one a line.
//
//	unit/web configured
//	  +  host-c  create
//	  ~  host-a  replace: template changed
//	  ! 1 replica(s) pending: no host can take one
//	  rejected:
//	     host-b  not enough memory: asks 4Gi, 1Gi free of 8Gi (2Gi reserved)
func printPlan(a *app, res planResult) {
	mark := map[hostChange]string{changeCreate: "+", changeReplace: "~", changeStop: "-", changeKeep: "="}
	counts := map[hostChange]int{}
	pending := 0
	for _, op := range res.Objects {
		fmt.Fprintf(a.out, "%s %s\n", ref(op.Kind, op.Name), op.Action)
		var rows [][]string
		for _, h := range op.Hosts {
			counts[h.Change]++
			detail := string(h.Change)
			if h.Detail != "" {
				detail += ": " + h.Detail
			}
			rows = append(rows, []string{"  " + mark[h.Change], h.Host, detail})
		}
		var t table
		t.write(a.out, rows)
		if op.Rollout != "" {
			fmt.Fprintf(a.out, "  rollout: %s\n", op.Rollout)
		}
		if op.Pending > 0 {
			pending += op.Pending
			if len(op.Rejected) > 0 {
				// The reason names the hosts rejected below.
				fmt.Fprintf(a.out, "  ! %d replica(s) pending: no host can take one\n", op.Pending)
			} else {
				fmt.Fprintf(a.out, "  ! %s\n", op.PendingReason)
			}
		}
		for _, w := range op.Warnings {
			fmt.Fprintf(a.out, "  ! %s\n", w)
		}
		if len(op.Rejected) > 0 {
			fmt.Fprintln(a.out, "  rejected:")
			rows = rows[:0]
			for _, r := range op.Rejected {
				rows = append(rows, []string{"   ", r.Host, r.Message})
			}
			var rt table
			rt.write(a.out, rows)
		}
	}
	summary := fmt.Sprintf("Plan: %d to create, %d to replace, %d to stop, %d pending",
		counts[changeCreate], counts[changeReplace], counts[changeStop], pending)
	if !res.Changes {
		summary += ": no change"
	}
	fmt.Fprintln(a.out, summary+".")
}
