package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/applyset"
	"berth.dev/berth/internal/store"
)

func (a *app) applyCommand() *cobra.Command {
	var files []string
	var recursive, dryRun, wait bool
	var timeout time.Duration
	var set setFlags
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [-f ...] [-R] [--dry-run] [--prune --applyset NAME [--prune-allow-empty]] [--wait [--timeout 5m]]",
		Short: "Create or update objects from manifests",
		Long: `apply stores the Units, Jobs and Services of the manifests. Every document is
checked first, together with the stored objects (dependency cycles, Job
versions); when any is invalid, every problem is printed and nothing is written.
A file (or standard input) is refused when it holds more than 16 MiB, 200,000
values once YAML aliases are expanded, or 10,000 documents. Otherwise all
objects are written in one etcd transaction, or none is when etcd refuses one
that large (raise its --max-txn-ops or --max-request-bytes, as the error says),
and one line per object says whether it was created, configured or unchanged.

With --wait, apply then waits until every Unit it applied is Ready at its
current generation: every instance the Unit should have (one per host it
names, one per Up host matching its selector when it is global, else as many
as its replicas) reports Ready=True having observed that generation. It prints
"unit/NAME ready" for each, and progress while waiting (one line rewritten in
place on a terminal, a line per change elsewhere). It fails at once when an
instance at the current generation is FAILED, and after --timeout, naming each
instance's host, state and message. Services and Jobs of the same apply are
not waited for, nor Units whose goal is stop.

With --prune --applyset NAME the objects are applied as one apply set, as
kubectl's ApplySet does: each gets the label applyset.berth.dev/part-of=NAME,
the set is recorded under applysets/NAME, and the stored objects labelled
with NAME that the manifests no longer hold are deleted ("unit/old pruned"),
in the same transaction. Objects without that label (applied by hand, or by
another set) are never pruned. An object labelled with another set is
refused, and so is an empty input that would prune every object of the set
unless --prune-allow-empty; nothing is written then. A directory without
manifests is an empty input. kubectl's --prune with a label selector is not
supported: --prune needs --applyset.`,
		Example: `  applyctl apply -f todo.yaml
  applyctl apply -f manifests/ -R --dry-run
  applyctl apply -f manifests/ --prune --applyset web
  cat todo.yaml | applyctl apply -f -
  applyctl apply -f todo.yaml --wait --timeout 2m`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("apply needs -f FILE, DIR or - (standard input)")
			}
			if wait && dryRun {
				return usagef("--wait cannot be used with --dry-run: nothing is written to wait for")
			}
			if cmd.Flags().Changed("timeout") && !wait {
				return usagef("--timeout needs --wait")
			}
			if err := set.check(); err != nil {
				return err
			}
			return a.apply(cmd.Context(), files, recursive, dryRun, wait, timeout, set)
		},
	}
	set.register(cmd, true)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory or - for standard input (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and report what would change, write nothing")
	cmd.Flags().BoolVar(&wait, "wait", false, "after writing, wait until every Unit applied is Ready at its generation (not Jobs or Services)")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultApplyWaitTimeout, "how long --wait waits (0: check once; negative: no limit)")
	return cmd
}

// prepared is a validated set of documents with the store they were checked
// against.
type prepared struct {
	docs []*v1.Document
	st   *store.Store
	// stored are the stored objects of the kinds in docs, by kind/name.
	stored map[string]v1.Object
}

// prepare reads, decodes, defaults and validates the manifests, whole and
// against the stored objects, and returns every problem together. The
// manifests are checked even when etcd cannot be reached; the caller closes
// the store. Manifests without objects are an error unless emptyOK.
func (a *app) prepare(ctx context.Context, files []string, recursive, emptyOK bool) (*prepared, error) {
	srcs, errs := a.readSources(files, recursive, emptyOK)
	return a.prepareSources(ctx, srcs, errs, emptyOK, fmt.Sprint(files))
}

// prepareSources is prepare of sources already read (with the problems
// reading them met); what names them in the error of an empty input.
func (a *app) prepareSources(ctx context.Context, srcs []source, errs v1.ErrorList, emptyOK bool, what string) (*prepared, error) {
	docs, derrs := decodeAll(srcs)
	errs = append(errs, derrs...)

	st, connErr := a.connect(ctx)
	p := &prepared{docs: docs, st: st, stored: map[string]v1.Object{}}
	var stored []v1.Object
	if connErr == nil {
		var err error
		stored, err = a.storedFor(ctx, st, docs)
		if err != nil {
			connErr = err
		}
	}
	for _, o := range stored {
		p.stored[v1.KindOf(o)+"/"+o.GetObjectMeta().Name] = o
	}
	errs = append(errs, v1.Prepare(docs, stored)...)
	if len(errs) > 0 {
		if st != nil {
			st.Close()
		}
		sortProblems(errs, srcs)
		return nil, problems(errs, "nothing was written")
	}
	if connErr != nil {
		if st != nil {
			st.Close()
		}
		return nil, connErr
	}
	if len(docs) == 0 && !emptyOK {
		st.Close()
		return nil, fmt.Errorf("no objects in %s", what)
	}
	return p, nil
}

// storedFor lists the stored objects ValidateSet needs: every Unit when
// Units are applied (cycles), every Job when Jobs are (immutable versions),
// every Service when Services are (for diff).
func (a *app) storedFor(ctx context.Context, st *store.Store, docs []*v1.Document) ([]v1.Object, error) {
	kinds := map[string]bool{}
	for _, d := range docs {
		kinds[v1.KindOf(d.Object)] = true
	}
	var out []v1.Object
	for _, k := range v1.AppliableKinds {
		if !kinds[k] {
			continue
		}
		rctx, cancel := a.withTimeout(ctx)
		objs, _, err := store.ListObjects(rctx, st, k)
		cancel()
		if err != nil {
			return nil, storeErr(err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// apply writes the manifests, as an apply set when set names one; with
// wait it then waits for the Units, for at most timeout (apply --wait).
func (a *app) apply(ctx context.Context, files []string, recursive, dryRun, wait bool, timeout time.Duration, set setFlags) error {
	p, err := a.prepare(ctx, files, recursive, set.prune)
	if err != nil {
		return err
	}
	defer p.st.Close()
	objs := make([]v1.Object, len(p.docs))
	for i, d := range p.docs {
		objs[i] = d.Object
	}
	var results []store.ApplyResult
	var pruned []applyset.Pruned
	rctx, cancel := a.withTimeout(ctx)
	if set.name != "" {
		var res *applyset.Result
		res, err = applyset.Apply(rctx, p.st, set.name, objs, set.options(dryRun))
		if res != nil {
			results, pruned = res.Applied, res.Pruned
		}
	} else {
		results, err = store.Apply(rctx, p.st, objs, store.ApplyOptions{DryRun: dryRun})
	}
	cancel()
	if err != nil {
		return storeErr(setHint(err))
	}
	suffix := ""
	if dryRun {
		suffix = " (dry run)"
	}
	for _, r := range results {
		fmt.Fprintf(a.out, "%s %s%s\n", ref(r.Kind, r.Name), r.Action, suffix)
	}
	for _, r := range pruned {
		fmt.Fprintf(a.out, "%s pruned%s\n", ref(r.Kind, r.Name), suffix)
	}
	if !wait || dryRun {
		return nil
	}
	return a.applyWait(ctx, p.st, results, timeout)
}
