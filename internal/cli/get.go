package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func (a *app) getCommand() *cobra.Command {
	var output string
	var watch bool
	cmd := &cobra.Command{
		Use:   "get KIND [NAME] [-o wide|yaml|json] [-w]",
		Short: "List objects and their status",
		Long: `get lists the objects of a kind (units, jobs, services, endpoints or hosts)
with the status their hosts report: a table, or with -o json|yaml the objects
as stored with their status. -w keeps printing the rows that change until
interrupted; an object deleted meanwhile is printed once more (a Unit or Job
with STATE "deleted", an endpoint with STATUS "deleted").

get units shows, for an instance that is not progressing (refused by its
host, a volume its host cannot make, an error being retried, exited for
good), its reason in STATE ("FAILED (PolicyDenied)", "CREATING
(HostPathUnavailable)") and its message in a MESSAGE column that the table
has only when one has a message; -o wide always has every message.

get services lists every Service object and every service that has
endpoints in the catalog, with its endpoints counted by health (an endpoint
is critical when one of its checks is, else warning when one is, else
passing) and the tags of the Service and of its endpoints. Services without
a Service object come from registration (a container's SERVICE_NAME, the
agent API): -o wide shows "-" for their SELECTOR and PORT, and -o json|yaml
prints them with kind Service, metadata.name and status, but no spec.

get endpoints [SERVICE] lists the endpoints of the catalog (of one service
when SERVICE is given), sorted by service and id, with the output of the
first check that is not passing (else of the first check), on one line and
cut to 60 characters; -o json|yaml prints them as the catalog holds them.
describe service NAME shows every check's full output.

get events lists the events of every object, oldest first: what the
controllers did and saw (pulled, started, died, backed off). With -w it
keeps printing events as they are recorded or repeated.

get applysets lists the apply sets (apply --prune --applyset) with the
number of objects each owns and when it last changed; -o json|yaml prints
their records.

get timers lists the Timers as systemctl list-timers does, soonest first:
NEXT (the next elapse, with its randomized delay) and LEFT, LAST (when the
last run started) and PASSED, TIMER and RESULT of that run (running,
success, exit-code, timeout, host-lost, replaced, no-host); -o wide adds
the SCHEDULE and the HOSTS of the last run, and -o json|yaml the leading
controller's record of each Timer as its status.`,
		Example: `  applyctl get units
  applyctl get timers
  applyctl get unit todo -o wide
  applyctl get jobs -o json
  applyctl get services
  applyctl get endpoints web -w
  applyctl get hosts -w
  applyctl get events -w`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := kindAndNames(args)
			if err != nil {
				return err
			}
			switch output {
			case "", "wide", "json", "yaml":
			default:
				return usagef("unsupported output format %q: use wide, yaml or json", output)
			}
			name := ""
			if len(names) > 0 {
				name = names[0]
			}
			switch kind {
			case kindEvent:
				if name != "" {
					return usagef("get events takes no NAME: describe KIND NAME shows the events of one object")
				}
				return a.getEvents(cmd.Context(), output, watch)
			case v1.KindService, kindEndpoint:
				return a.getCatalog(cmd.Context(), kind, name, output, watch)
			case kindApplySet:
				if watch {
					return usagef("get applysets does not support -w")
				}
				return a.getApplySets(cmd.Context(), name, output)
			case v1.KindGitSource:
				if watch {
					return usagef("get gitsources does not support -w")
				}
				return a.getGitSources(cmd.Context(), name, output)
			case v1.KindTimer:
				if watch {
					return usagef("get timers does not support -w")
				}
				return a.getTimers(cmd.Context(), name, output)
			}
			return a.get(cmd.Context(), kind, name, output, watch)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, yaml or json")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "after listing, print the objects that change until interrupted")
	return cmd
}

// listDoc is what get -o json|yaml prints for a list.
type listDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []any  `json:"items"`
}

func (a *app) get(ctx context.Context, kind, name, output string, watch bool) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := a.load(ctx, st, kind, name)
	if err != nil {
		return err
	}
	p := &printer{app: a, kind: kind, output: output, printed: map[string]string{}, last: map[string]printedObject{}}
	switch {
	case watch:
		for _, o := range v.objs {
			if err := p.object(v, o); err != nil {
				return err
			}
		}
		return a.watch(ctx, st, v, name, p)
	case output == "json" || output == "yaml":
		items := make([]any, len(v.objs))
		for i, o := range v.objs {
			items[i] = o
		}
		var doc any = listDoc{APIVersion: v1.APIVersion, Kind: "List", Items: items}
		if name != "" {
			doc = v.objs[0]
		}
		return p.encode(doc)
	case len(v.objs) == 0:
		fmt.Fprintln(a.err, "No resources found.")
		return nil
	}
	var rows [][]string
	now := a.now()
	for _, o := range v.objs {
		rows = append(rows, v.rows(o, output == "wide", now)...)
	}
	return p.rows(rows)
}

// printer prints objects as get does, once per change under -w.
type printer struct {
	*app
	kind, output string
	table        table
	header       bool
	// messages: the header has MESSAGE (a Unit's row without -o wide
	// had a message when it was printed; see messageColumn).
	messages bool
	// printed is what was last printed for each name, to skip repeats.
	printed map[string]string
	// last is the object and rows last printed for each name, printed
	// once more when the object is deleted.
	last    map[string]printedObject
	objects int
}

type printedObject struct {
	obj  v1.Object
	rows [][]string
}

func (p *printer) encode(doc any) error {
	b, err := json.MarshalIndent(doc, "", "    ")
	if err != nil {
		return err
	}
	if p.output == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		if p.objects > 0 {
			fmt.Fprintln(p.out, "---")
		}
		p.objects++
		_, err = p.out.Write(b)
		return err
	}
	p.objects++
	_, err = fmt.Fprintf(p.out, "%s\n", b)
	return err
}

// object prints o unless it looks as it did when last printed.
func (p *printer) object(v *view, o v1.Object) error {
	name := o.GetObjectMeta().Name
	if p.output == "json" || p.output == "yaml" {
		b, err := json.Marshal(o)
		if err != nil {
			return err
		}
		if p.printed[name] == string(b) {
			return nil
		}
		p.printed[name] = string(b)
		p.last[name] = printedObject{obj: o}
		return p.encode(o)
	}
	wide := p.output == "wide"
	rows := v.rows(o, wide, p.now())
	key := fmt.Sprint(rows)
	if p.printed[name] == key {
		return nil
	}
	p.printed[name] = key
	p.last[name] = printedObject{obj: o, rows: rows}
	return p.rows(rows)
}

// deleted prints the object of that name once more, as kubectl get -w
// does when an object is deleted: its last rows, with STATE "deleted" and
// no instances for a Unit or a Job. An object never printed is skipped.
func (p *printer) deleted(name string) error {
	last, ok := p.last[name]
	delete(p.last, name)
	delete(p.printed, name) // printed again when it comes back
	if !ok {
		return nil
	}
	if p.output == "json" || p.output == "yaml" {
		return p.encode(last.obj)
	}
	wide := p.output == "wide"
	rows := last.rows
	switch o := last.obj.DeepCopyObject().(type) {
	case *v1.Unit:
		o.Status = nil
		rows = unitRows(o, nil, wide, p.now())
		rows[0][2] = "deleted"
	case *v1.Job:
		o.Status = nil
		rows = [][]string{jobRow(o, wide, p.now())}
		rows[0][4] = "deleted"
	}
	return p.rows(rows)
}

// rows prints table rows, after the header the first time.
func (p *printer) rows(rows [][]string) error {
	wide := p.output == "wide"
	if p.kind == v1.KindUnit && !wide {
		has := messageColumn(rows, p.messages)
		if !p.header {
			p.messages = has
		}
	}
	if !p.header {
		p.header = true
		h := header(p.kind, wide)
		if p.messages {
			h = append(h, "MESSAGE")
		}
		rows = append([][]string{h}, rows...)
	}
	p.table.write(p.out, rows)
	return nil
}

// watchPrefixes are the prefixes whose changes change what get shows: for
// hosts, also the instance statuses they count (DEPLOYED, RUNNING).
func watchPrefixes(kind string) []string {
	if kind == v1.KindHost {
		return []string{store.HostsPrefix, store.AlivePrefix, store.StatusesPrefix}
	}
	if kind == v1.KindUnit {
		// The binding says which replicas are PENDING.
		return []string{store.ObjectPrefix(kind), store.StatusesPrefix, store.BindingKey(kind, "")}
	}
	return []string{store.ObjectPrefix(kind), store.StatusesPrefix}
}

// nameOfKey returns the name of the object of kind that a key under one of
// prefixes is about: for hosts, the host of a status/<host>/<kind>/<name>;
// for other kinds, the object of a status of that kind ("" for others).
func nameOfKey(kind, key string, prefixes []string) string {
	if k, name, host, ok := store.ParseStatusKey(key); ok {
		switch {
		case kind == v1.KindHost && (k == "unit" || k == "job"):
			return host
		case k == strings.ToLower(kind):
			return name
		}
		return ""
	}
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(key, p); ok {
			name, _, _ := strings.Cut(rest, "/")
			return name
		}
	}
	return ""
}

// watch follows the changes after v.rev until ctx ends, printing every
// object that changed. After a compaction it lists again and goes on.
func (a *app) watch(ctx context.Context, st *store.Store, v *view, name string, p *printer) error {
	prefixes := watchPrefixes(v.kind)
	rev := v.rev
	for {
		compacted, err := a.follow(ctx, st, v.kind, name, prefixes, rev+1, p)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return storeErr(err)
		}
		if !compacted {
			return errors.New("watch ended")
		}
		nv, err := a.load(ctx, st, v.kind, name)
		if err != nil {
			return err
		}
		for _, o := range nv.objs {
			if err := p.object(nv, o); err != nil {
				return err
			}
		}
		rev = nv.rev
	}
}

// follow watches prefixes from fromRev and prints what changes until ctx
// ends (nil), the history is compacted (true) or the watch fails.
func (a *app) follow(ctx context.Context, st *store.Store, kind, name string, prefixes []string, fromRev int64, p *printer) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	merged := make(chan store.WatchBatch)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the forwarders end
	for _, prefix := range prefixes {
		ch := st.Watch(ctx, prefix, fromRev)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range ch {
				select {
				case merged <- b:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for {
		var b store.WatchBatch
		select {
		case <-ctx.Done():
			return false, nil
		case b = <-merged:
		}
		if b.Compacted {
			return true, nil
		}
		if b.Err != nil {
			return false, b.Err
		}
		var changed []string
		for _, ev := range b.Events {
			n := nameOfKey(kind, ev.KV.Key, prefixes)
			if n == "" || (name != "" && n != name) || slices.Contains(changed, n) {
				continue
			}
			changed = append(changed, n)
		}
		slices.Sort(changed)
		for _, n := range changed {
			v, err := a.load(ctx, st, kind, n)
			if ctx.Err() != nil {
				return false, nil
			}
			if err != nil {
				if isNotFound(err) {
					if err := p.deleted(n); err != nil {
						return false, err
					}
					continue
				}
				return false, err
			}
			if err := p.object(v, v.objs[0]); err != nil {
				return false, err
			}
		}
	}
}
