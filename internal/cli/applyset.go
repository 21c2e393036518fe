package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/applyset"
	"berth.dev/berth/internal/store"
)

// setFlags are the apply set flags of apply and diff.
type setFlags struct {
	prune, allowEmpty bool
	name              string
}

// register adds --prune and --applyset to cmd, and --prune-allow-empty
// when allowEmpty (apply).
func (f *setFlags) register(cmd *cobra.Command, allowEmpty bool) {
	cmd.Flags().BoolVar(&f.prune, "prune", false, "delete the objects of the apply set (--applyset) that the manifests no longer hold")
	cmd.Flags().StringVar(&f.name, "applyset", "", "apply the manifests as this apply set (labels applyset.berth.dev/part-of=NAME); needs --prune")
	if allowEmpty {
		cmd.Flags().BoolVar(&f.allowEmpty, "prune-allow-empty", false, "allow empty manifests to prune every object of the apply set")
	}
}

// check returns the usage error of an inconsistent combination.
func (f *setFlags) check() error {
	switch {
	case f.prune && f.name == "":
		return usagef("--prune needs --applyset NAME: berth prunes only the objects of an apply set; kubectl's --prune with a label selector (-l) is not supported")
	case f.name != "" && !f.prune:
		return usagef("--applyset needs --prune, as in kubectl")
	case f.allowEmpty && !f.prune:
		return usagef("--prune-allow-empty needs --prune")
	}
	if msg := v1.ValidName(f.name); f.name != "" && msg != "" {
		return usagef("--applyset: %s", msg)
	}
	return nil
}

// getApplySets prints the apply sets (get applysets [NAME]).
func (a *app) getApplySets(ctx context.Context, name, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var recs []applyset.Record
	if name != "" {
		r, err := applyset.Get(rctx, st, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("applyset %q not found", name)
		}
		if err != nil {
			return storeErr(err)
		}
		recs = []applyset.Record{r}
	} else if recs, err = applyset.List(rctx, st); err != nil {
		return storeErr(err)
	}
	p := &printer{app: a, output: output}
	if done, err := encodeOrEmpty(a, p, output, name, recs); done {
		return err
	}
	rows := [][]string{{"NAME", "OBJECTS", "UPDATED"}}
	if output == "wide" {
		rows[0] = append(rows[0], "TOOLING")
	}
	now := a.now()
	for _, r := range recs {
		row := []string{r.Name, strconv.Itoa(len(r.Objects)), age(r.Updated, now)}
		if output == "wide" {
			row = append(row, r.Tooling)
		}
		rows = append(rows, row)
	}
	p.table.write(a.out, rows)
	return nil
}

// setHint adds to an error of applyset.Apply what the user can do about it.
func setHint(err error) error {
	switch {
	case errors.Is(err, applyset.ErrPruneAll):
		return fmt.Errorf("%w: pass --prune-allow-empty to prune them", err)
	case errors.Is(err, applyset.ErrOtherSet):
		return fmt.Errorf("%w: apply it once without --applyset to release it from its set", err)
	}
	return err
}

func (f *setFlags) options(dryRun bool) applyset.Options {
	return applyset.Options{Prune: f.prune, AllowEmpty: f.allowEmpty, DryRun: dryRun, Tooling: applyset.DefaultTooling}
}

// encodeOrEmpty prints items as a JSON or YAML List (the one item when a
// name was asked for), or says there is nothing to show; done reports
// that the caller has nothing left to print.
func encodeOrEmpty[T any](a *app, p *printer, output, name string, items []T) (done bool, err error) {
	switch {
	case output == "json" || output == "yaml":
		if name != "" && len(items) > 0 {
			return true, p.encode(items[0])
		}
		list := make([]any, len(items))
		for i, it := range items {
			list[i] = it
		}
		return true, p.encode(listDoc{APIVersion: v1.APIVersion, Kind: "List", Items: list})
	case len(items) == 0:
		fmt.Fprintln(a.err, "No resources found.")
		return true, nil
	}
	return false, nil
}
