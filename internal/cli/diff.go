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
)

func (a *app) diffCommand() *cobra.Command {
	var files []string
	var recursive bool
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|- [-f ...] [-R]",
		Short: "Show what apply would change, as a unified diff",
		Long: `diff compares each object of the manifests, defaulted, with the stored one
(without the metadata the store sets and without status) and prints a unified
diff of their YAML. Exit code: 0 without differences, 1 with differences,
2 on an error (invalid manifests, etcd unreachable).`,
		Example: `  applyctl diff -f todo.yaml`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("diff needs -f FILE, DIR or - (standard input)")
			}
			return a.diff(cmd.Context(), files, recursive)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory or - for standard input (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	return cmd
}

func (a *app) diff(ctx context.Context, files []string, recursive bool) error {
	p, err := a.prepare(ctx, files, recursive)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	defer p.st.Close()
	differs := false
	for _, d := range p.docs {
		kind, name := v1.KindOf(d.Object), d.Object.GetObjectMeta().Name
		live := ""
		if o, ok := p.stored[kind+"/"+name]; ok {
			if live, err = comparable(o); err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
		}
		applied, err := comparable(d.Object)
		if err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		if live == applied {
			continue
		}
		differs = true
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        lines(live), // an absent object diffs against nothing
			B:        lines(applied),
			FromFile: "live/" + ref(kind, name),
			ToFile:   "applied/" + ref(kind, name),
			Context:  3,
		})
		if err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		fmt.Fprint(a.out, text)
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
