package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func (a *app) deleteCommand() *cobra.Command {
	var files []string
	var recursive, ignoreNotFound bool
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME [NAME...] | -f FILE|DIR|- [-R])",
		Short: "Delete objects by name or those of manifests",
		Long: `delete removes Units, Jobs and Services; the controllers then stop and remove
their containers. With -f it deletes every object the manifests name (only
their kind and name are read).`,
		Example: `  applyctl delete unit todo
  applyctl delete -f todo.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var refs []objectRef
			switch {
			case len(files) > 0 && len(args) > 0:
				return usagef("use either KIND NAME... or -f, not both")
			case len(files) > 0:
				srcs, errs := a.readSources(files, recursive, false)
				for _, s := range srcs {
					r, e := refsOf(s)
					refs = append(refs, r...)
					errs = append(errs, e...)
				}
				if len(errs) > 0 {
					sortProblems(errs, srcs)
					return problems(errs, "nothing was deleted")
				}
			case len(args) == 0:
				return usagef("delete needs KIND NAME or -f FILE")
			default:
				kind, names, err := kindAndNames(args)
				if err != nil {
					return err
				}
				switch kind {
				case kindEvent:
					return usagef("events cannot be deleted: they expire an hour after they were last seen")
				case kindEndpoint:
					return usagef("endpoints cannot be deleted: the host that registered one removes it when its container stops")
				case kindApplySet:
					return usagef("apply sets cannot be deleted: apply --prune --applyset NAME --prune-allow-empty with empty manifests prunes every object of one")
				}
				if len(names) == 0 {
					return usagef("delete needs at least one NAME")
				}
				for _, n := range names {
					refs = append(refs, objectRef{kind, n})
				}
			}
			return a.delete(cmd.Context(), refs, ignoreNotFound)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory or - for standard input (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "treat objects that do not exist as deleted, silently")
	return cmd
}

func (a *app) delete(ctx context.Context, refs []objectRef, ignoreNotFound bool) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	failed := false
	for _, r := range refs {
		if r.kind == v1.KindJob && strings.Contains(r.name, ":") {
			// NAME:VERSION[:HASH] deletes the job only while it is that version.
			name, err := a.checkJobRef(ctx, st, r.name)
			if err != nil {
				fmt.Fprintf(a.err, "Error: %s\n", err)
				failed = true
				continue
			}
			r.name = name
		}
		rctx, cancel := a.withTimeout(ctx)
		err := store.DeleteObject(rctx, st, r.kind, r.name)
		cancel()
		switch {
		case err == nil:
			fmt.Fprintf(a.out, "%s deleted\n", ref(r.kind, r.name))
		case errors.Is(err, store.ErrNotFound):
			if !ignoreNotFound {
				fmt.Fprintf(a.err, "Error: %s\n", notFound(r.kind, r.name))
				failed = true
			}
		default:
			return storeErr(err)
		}
	}
	if failed {
		return &exitError{code: ExitFailure}
	}
	return nil
}
