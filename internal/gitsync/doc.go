// Package gitsync fetches a Git repository into a local cache and applies
// the manifests under a path of it as one apply set: what the leader's
// GitSource loop (controllers/gitsources) and `applyctl sync` do.
//
// Fetch clones a repository once into a directory (a cache under the
// controller's data directory) and on every later call fetches it, forcing
// every ref, so a force-pushed branch is followed; it then checks the ref
// out (branch, tag or commit) and returns the revision as Flux writes it:
// "main@sha1:<40 hex>".
//
// Sync fetches a GitSource, reads every *.yaml, *.yml and *.json file under
// spec.path recursively, in name order, decodes and validates all of them
// (v1.Decoder, v1.Prepare), and only when every document is valid applies
// them with applyset.Apply as the set "gitsource-<name>", tooling
// "berth-gitsync", pruning when spec.prune is set. A bad manifest applies
// nothing; the returned status names the file and the field (the first
// problems of a revision that has many, and how many more). Re-applying
// the same revision reverts objects of the set changed by hand.
//
// The files of a sync are one manifest source, held together to the limits
// of api/v1 (v1.MaxManifestBytes, v1.MaxManifestValues,
// v1.MaxManifestDocuments, ...): each file is read only as far as the bytes
// left of the source, so a huge file in the repository costs the leader no
// memory, and one error names the file that went over and the limit.
//
//	rev, err := gitsync.Fetch(ctx, "file:///srv/repo", v1.GitRef{Branch: "main"}, cacheDir)
//	status, err := gitsync.Sync(ctx, s, src, prevStatus, cacheDir, time.Now())
//
// Credentials never live in etcd: the controller is given a file
// (--git-credentials-file, or BERTH_GIT_CREDENTIALS_FILE) of lines
// "<url-prefix> <username> <password-or-token>" (https basic auth) or
// "<url-prefix> ssh-key <private-key-path>", read with LoadCredentials and
// passed to Fetch or Sync as WithCredentials; the longest prefix matching
// the URL wins. URLs no prefix matches are fetched anonymously (ssh then
// uses go-git's defaults, the agent). git:// and file:// take no
// credentials. Nothing here is safe for concurrent use on the same
// directory.
package gitsync
