package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/gitsync"
	"berth.dev/berth/internal/store"
)

const syncLong = `sync applies the manifests of a Git repository as one apply set, as the
leading controller does for a GitSource, from a pipeline or a laptop.

The repository (--repo: https://, ssh://, git:// or file://) is cloned into a cache
(--cache-dir) and fetched on every sync; --ref names a branch (main by
default), a tag as tags/NAME, or a commit as its 40 hex digits. Every
*.yaml, *.yml and *.json file under --path is read, recursively, all of them
one manifest source (16 MiB, 200,000 values, 10,000 documents together); when
any is invalid nothing is applied and the problems name the file and the
field. The objects are written in one etcd transaction, or none is.
sync prints the revision, then one line per object, as apply does:

  revision main@sha1:0123...
  unit/web configured
  unit/old pruned

The apply set (--applyset) is named after the repository by default; with
--prune the objects of the set that left the repository are deleted. --once
syncs once (the default); --interval D syncs every D until interrupted.`

func (a *app) syncCommand() *cobra.Command {
	var repo, refFlag, dir, setName, cacheDir string
	var prune, once, dryRun bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "sync --repo URL [--ref REF] [--path DIR] [--prune] [--once|--interval D] [--applyset NAME]",
		Short: "Apply the manifests of a Git repository as an apply set",
		Long:  syncLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repo == "" {
				return usagef("--repo is required")
			}
			if v1.GitURLScheme(repo) == "" {
				return usagef("--repo %q: use https://, ssh:// (or user@host:path), git:// or file://", repo)
			}
			if once && cmd.Flags().Changed("interval") {
				return usagef("--once and --interval exclude each other")
			}
			if cmd.Flags().Changed("interval") && interval < v1.MinGitInterval {
				return usagef("--interval %s is shorter than %s", interval, v1.MinGitInterval)
			}
			ref := parseGitRef(refFlag)
			if setName == "" {
				setName = setNameOf(repo)
			}
			if msg := v1.ValidName(setName); msg != "" {
				return usagef("--applyset: %s", msg)
			}
			if cacheDir == "" {
				base, err := os.UserCacheDir()
				if err != nil {
					base = os.TempDir()
				}
				cacheDir = filepath.Join(base, "berth", "gitsync", setName)
			}
			src := &v1.GitSource{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindGitSource},
				Metadata: v1.ObjectMeta{Name: setName}, Spec: v1.GitSourceSpec{URL: repo, Ref: ref, Path: dir}}
			v1.Default(src)
			if fes := v1.Validate(src); len(fes) > 0 {
				return usagef("%s", strings.ReplaceAll(strings.ReplaceAll(fes[0].Error(), "spec.ref", "--ref"), "spec.path", "--path"))
			}
			o := gitsync.Options{URL: repo, Ref: ref, Path: src.Spec.Path, Prune: prune, SetName: setName, DryRun: dryRun}
			if !cmd.Flags().Changed("interval") {
				return a.syncOnce(cmd.Context(), cacheDir, o)
			}
			for {
				if err := a.syncOnce(cmd.Context(), cacheDir, o); err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					fmt.Fprintf(a.err, "error: %v\n", err)
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "URL of the Git repository (https://, ssh://, git:// or file://)")
	f.StringVar(&refFlag, "ref", "", "branch (default main), tags/NAME, or a 40-hex commit")
	f.StringVar(&dir, "path", ".", "directory of the manifests inside the repository")
	f.BoolVar(&prune, "prune", false, "delete the objects of the apply set that left the repository")
	f.BoolVar(&once, "once", false, "sync once and exit (the default)")
	f.DurationVar(&interval, "interval", time.Minute, "sync every interval until interrupted")
	f.StringVar(&setName, "applyset", "", "name of the apply set (default: the repository's name)")
	f.StringVar(&cacheDir, "cache-dir", "", "where the repository is cloned (default: the user's cache directory)")
	f.BoolVar(&dryRun, "dry-run", false, "show what would be applied and pruned, write nothing")
	return cmd
}

func (a *app) syncOnce(ctx context.Context, cacheDir string, o gitsync.Options) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := gitsync.Run(ctx, st, cacheDir, o)
	if res.Revision != "" {
		fmt.Fprintf(a.out, "revision %s\n", res.Revision)
	}
	if err != nil {
		var errs v1.ErrorList
		if errors.As(err, &errs) {
			return problems(errs, "nothing was applied")
		}
		return storeErr(setHint(err))
	}
	suffix := ""
	if o.DryRun {
		suffix = " (dry run)"
	}
	for _, r := range res.Apply.Applied {
		fmt.Fprintf(a.out, "%s %s%s\n", ref(r.Kind, r.Name), r.Action, suffix)
	}
	for _, r := range res.Apply.Pruned {
		fmt.Fprintf(a.out, "%s pruned%s\n", ref(r.Kind, r.Name), suffix)
	}
	return nil
}

var commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

// parseGitRef reads --ref: a commit (40 hex digits), a tag (tags/NAME or
// refs/tags/NAME), else a branch (refs/heads/ optional).
func parseGitRef(s string) v1.GitRef {
	switch {
	case s == "":
		return v1.GitRef{}
	case commitRe.MatchString(s):
		return v1.GitRef{Commit: s}
	case strings.HasPrefix(s, "refs/tags/"):
		return v1.GitRef{Tag: strings.TrimPrefix(s, "refs/tags/")}
	case strings.HasPrefix(s, "tags/"):
		return v1.GitRef{Tag: strings.TrimPrefix(s, "tags/")}
	}
	return v1.GitRef{Branch: strings.TrimPrefix(s, "refs/heads/")}
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// setNameOf names an apply set after a repository URL: its last path
// element without .git, as a DNS label.
func setNameOf(url string) string {
	p := url
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
	} else if i := strings.IndexByte(p, ':'); i >= 0 {
		p = p[i+1:]
	}
	name := strings.TrimSuffix(path.Base(strings.TrimRight(p, "/")), ".git")
	name = strings.Trim(notLabel.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(name) > 63 {
		name = strings.Trim(name[:63], "-")
	}
	if name == "" {
		name = "gitsync"
	}
	return name
}

// getGitSources prints the GitSources (get gitsources [NAME]).
func (a *app) getGitSources(ctx context.Context, name, output string) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var srcs []*v1.GitSource
	if name != "" {
		o, err := store.GetObject(rctx, st, v1.KindGitSource, name)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(v1.KindGitSource, name)
		}
		if err != nil {
			return storeErr(err)
		}
		srcs = append(srcs, o.(*v1.GitSource))
	} else {
		objs, _, err := store.ListObjects(rctx, st, v1.KindGitSource)
		if err != nil {
			return storeErr(err)
		}
		for _, o := range objs {
			srcs = append(srcs, o.(*v1.GitSource))
		}
	}
	for _, s := range srcs {
		v1.Default(s)
		kv, err := st.Get(rctx, gitsync.StatusKey(s.Metadata.Name))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return storeErr(err)
		}
		var status v1.GitSourceStatus
		if json.Unmarshal(kv.Value, &status) == nil {
			s.Status = &status
		}
	}
	p := &printer{app: a, output: output}
	if done, err := encodeOrEmpty(a, p, output, name, srcs); done {
		return err
	}
	rows := [][]string{{"NAME", "URL", "REF", "REVISION", "READY", "MESSAGE", "AGE"}}
	now := a.now()
	for _, s := range srcs {
		rev, ready, msg := "-", "Unknown", "-"
		if s.Spec.Suspend {
			msg = "suspended"
		}
		if s.Status != nil {
			if s.Status.LastAppliedRevision != "" {
				rev = shortRevision(s.Status.LastAppliedRevision)
			}
			if c := v1.FindCondition(s.Status.Conditions, v1.ConditionReady); c != nil {
				ready, msg = string(c.Status), firstLine(c.Message)
				if s.Spec.Suspend {
					msg = "suspended; " + msg
				}
			}
		}
		rows = append(rows, []string{s.Metadata.Name, s.Spec.URL, s.Spec.Ref.String(), rev, ready, msg, age(s.Metadata.CreationTimestamp, now)})
	}
	p.table.write(a.out, rows)
	return nil
}

// shortRevision shortens main@sha1:<40 hex> to main@sha1:<12 hex>, as a
// table column; -o yaml shows it in full.
func shortRevision(rev string) string {
	if i := strings.Index(rev, "sha1:"); i >= 0 && len(rev) >= i+5+12 {
		return rev[:i+5+12]
	}
	return rev
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
