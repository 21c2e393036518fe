package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/applyset"
)

func (a *app) diffCommand() *cobra.Command {
	var files []string
	var recursive bool
	var set setFlags
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|- [-f ...] [-R] [--prune --applyset NAME]",
		Short: "Show what apply would change, as a unified diff",
		Long: `diff compares each object of the manifests, defaulted, with the stored one
(without the metadata the store sets and without status) and prints a unified
diff of their YAML. Exit code: 0 without differences, 1 with differences,
2 on an error (invalid manifests, etcd unreachable).

With --prune --applyset NAME it compares as apply --prune --applyset NAME
would write: the objects carry the set's label, and every object that apply
would prune is shown as a diff from its live YAML to nothing. An object of
another apply set is an error (exit 2).`,
		Example: `  applyctl diff -f todo.yaml
  applyctl diff -f manifests/ --prune --applyset web`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("diff needs -f FILE, DIR or - (standard input)")
			}
			if err := set.check(); err != nil {
				return err
			}
			return a.diff(cmd.Context(), files, recursive, set)
		},
	}
	set.register(cmd, false)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory or - for standard input (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	return cmd
}

func (a *app) diff(ctx context.Context, files []string, recursive bool, set setFlags) error {
	p, err := a.prepare(ctx, files, recursive, set.prune)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	defer p.st.Close()
	// applied are the objects as apply would store them; pruned, the live
	// objects it would delete.
	applied := make([]v1.Object, len(p.docs))
	for i, d := range p.docs {
		applied[i] = d.Object
	}
	var pruned []v1.Object
	if set.name != "" {
		opts := set.options(true)
		opts.AllowEmpty = true // diff shows what an empty input would prune
		rctx, cancel := a.withTimeout(ctx)
		res, err := applyset.Apply(rctx, p.st, set.name, applied, opts)
		cancel()
		if err != nil {
			return &exitError{code: ExitUsage, err: storeErr(err)}
		}
		for i, r := range res.Applied {
			applied[i] = r.Object
		}
		for _, r := range res.Pruned {
			pruned = append(pruned, r.Object)
		}
	}
	differs := false
	show := func(kind, name string, live, want v1.Object) error {
		var from, to string
		var err error
		if live != nil {
			if from, err = comparable(live); err != nil {
				return err
			}
		}
		if want != nil {
			if to, err = comparable(want); err != nil {
				return err
			}
		}
		if from == to {
			return nil
		}
		differs = true
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        lines(from), // an absent object diffs against nothing
			B:        lines(to),   // and a pruned one to nothing
			FromFile: "live/" + ref(kind, name),
			ToFile:   "applied/" + ref(kind, name),
			Context:  3,
		})
		if err != nil {
			return err
		}
		fmt.Fprint(a.out, text)
		return nil
	}
	for _, o := range applied {
		kind, name := v1.KindOf(o), o.GetObjectMeta().Name
		var live v1.Object
		if s, ok := p.stored[kind+"/"+name]; ok {
			live = s
		}
		if err := show(kind, name, live, o); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
	}
	for _, o := range pruned {
		if err := show(v1.KindOf(o), o.GetObjectMeta().Name, o, nil); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
	}
	if differs {
		return &exitError{code: ExitFailure}
	}
	return nil
}

// comparable returns the YAML of what the user owns in o: everything but
// the metadata the store sets and the status.
func comparable(o v1.Object) (string, error) {
	c := o.DeepCopyObject()
	m := c.GetObjectMeta()
	m.UID, m.Generation, m.ResourceVersion, m.CreationTimestamp = "", 0, "", time.Time{}
	switch c := c.(type) {
	case *v1.Unit:
		c.Status = nil
	case *v1.Job:
		c.Status = nil
	case *v1.Service:
		c.Status = nil
	}
	b, err := yaml.Marshal(c)
	return string(b), err
}

// lines splits text into lines that keep their "\n".
func lines(text string) []string {
	if text == "" {
		return nil
	}
	l := strings.SplitAfter(text, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
