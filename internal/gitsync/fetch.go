package gitsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	v1 "berth.dev/berth/api/v1"
)

const remoteName = "origin"

// cacheRemedy is what to do about a clone cache that cannot be made,
// opened or reset.
const cacheRemedy = "clones need a writable folder: fix it, or choose another one with the controller's --data-dir or applyctl sync --cache-dir"

// Fetch brings the repository at url into dir (cloning it the first time,
// fetching with forced ref updates afterwards), checks ref out in dir's
// worktree, removing files that are not in the commit, and returns the
// revision: "<branch or tag>@sha1:<hash>", or "sha1:<hash>" for a commit.
// A dir holding a clone of another URL is cloned again. Options add
// credentials (WithCredentials). Errors wrap go-git's.
func Fetch(ctx context.Context, url string, ref v1.GitRef, dir string, opts ...FetchOption) (string, error) {
	var fo fetchOptions
	for _, o := range opts {
		o(&fo)
	}
	auth, err := fo.creds.AuthFor(url)
	if err != nil {
		return "", err
	}
	if ref == (v1.GitRef{}) {
		ref.Branch = v1.DefaultGitBranch
	}
	repo, err := open(dir, url)
	if err != nil {
		return "", err
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs: []config.RefSpec{
			"+refs/heads/*:refs/remotes/origin/*",
			"+refs/tags/*:refs/tags/*",
		},
		Force: true,
		Prune: true,
		Tags:  git.NoTags,
		Auth:  auth,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", fmt.Errorf("git: fetch %s: %w", url, err)
	}
	hash, rev, err := resolve(repo, ref)
	if err != nil {
		return "", fmt.Errorf("git: %s: %w", url, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("git: worktree of %s: %w", dir, err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return "", fmt.Errorf("git: check out %s: %w", rev, err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return "", fmt.Errorf("git: clean %s: %w", dir, err)
	}
	return rev, nil
}

// open returns the clone in dir of url, initialising dir when it holds none
// or a clone of another URL.
func open(dir, url string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		if r, rerr := repo.Remote(remoteName); rerr == nil && len(r.Config().URLs) == 1 && r.Config().URLs[0] == url {
			return repo, nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("git: reset cache %s: %w (%s)", dir, err, cacheRemedy)
		}
	} else if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("git: open cache %s: %w (%s)", dir, err, cacheRemedy)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("git: cache %s: %w (%s)", dir, err, cacheRemedy)
	}
	repo, err = git.PlainInit(dir, false)
	if err != nil {
		return nil, fmt.Errorf("git: init cache %s: %w (%s)", dir, err, cacheRemedy)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{url}}); err != nil {
		return nil, fmt.Errorf("git: remote %s: %w", url, err)
	}
	return repo, nil
}

// resolve returns the commit ref names and its revision string.
func resolve(repo *git.Repository, ref v1.GitRef) (plumbing.Hash, string, error) {
	switch {
	case ref.Commit != "":
		h := plumbing.NewHash(ref.Commit)
		if _, err := repo.CommitObject(h); err != nil {
			return plumbing.ZeroHash, "", fmt.Errorf("commit %s: %w", ref.Commit, err)
		}
		return h, "sha1:" + h.String(), nil
	case ref.Tag != "":
		r, err := repo.Reference(plumbing.NewTagReferenceName(ref.Tag), true)
		if err != nil {
			return plumbing.ZeroHash, "", fmt.Errorf("tag %s: %w", ref.Tag, err)
		}
		h := r.Hash()
		if t, err := repo.TagObject(h); err == nil { // annotated: peel
			c, err := t.Commit()
			if err != nil {
				return plumbing.ZeroHash, "", fmt.Errorf("tag %s: %w", ref.Tag, err)
			}
			h = c.Hash
		}
		return h, ref.Tag + "@sha1:" + h.String(), nil
	default:
		r, err := repo.Reference(plumbing.NewRemoteReferenceName(remoteName, ref.Branch), true)
		if err != nil {
			return plumbing.ZeroHash, "", fmt.Errorf("branch %s: %w", ref.Branch, err)
		}
		return r.Hash(), ref.Branch + "@sha1:" + r.Hash().String(), nil
	}
}
