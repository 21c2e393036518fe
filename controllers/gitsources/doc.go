// Package gitsources is the leader's GitSource loop: for every GitSource it
// fetches the repository into a cache under the controller's data
// directory, applies the manifests under spec.path as the apply set
// "gitsource-<name>" (internal/gitsync) and reconciles it again every
// spec.interval, which also reverts changes made by hand to the objects of
// the set. A suspended GitSource is left alone. The status is written under
// status/leader/gitsource/<name>, only when it changes (the time of the
// last sync alone does not count as a change).
//
// Run it on the leading controller only: two leaders would apply the same
// sets. A deleted GitSource's status and cache are removed; the objects it
// applied are left in place (Flux's deletionPolicy Orphan). A stored
// GitSource that does not decode is left alone until it changes: its cache
// logs it and records an InvalidObject event on it.
package gitsources
