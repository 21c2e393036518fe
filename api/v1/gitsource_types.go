package v1

import "time"

// GitSource is a Git repository, ref and path whose manifests the leading
// controller applies as one apply set ("gitsource-<name>") every Interval,
// as Flux's GitRepository and Kustomization do together. Credentials are
// never part of the object: the controller is given them (a file or the
// environment).
type GitSource struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta       `json:"metadata"`
	Spec     GitSourceSpec    `json:"spec"`
	Status   *GitSourceStatus `json:"status,omitempty"`
}

// GitSourceSpec is what the user asks of a GitSource.
type GitSourceSpec struct {
	// URL of the repository: https://, ssh:// (or user@host:path), git://
	// (read-only, unauthenticated) or file://.
	URL string `json:"url"`
	// Ref to follow; the branch main when empty.
	Ref GitRef `json:"ref,omitzero"`
	// Path inside the repository whose manifests are applied, recursively;
	// "." by default.
	Path string `json:"path,omitempty"`
	// Interval between syncs (default 1m, at least 5s): every sync re-applies
	// the manifests, which also reverts changes made by hand.
	Interval *Duration `json:"interval,omitempty"`
	// Prune deletes the objects of the set that left the repository.
	Prune bool `json:"prune,omitempty"`
	// Suspend stops syncing until it is false again.
	Suspend bool `json:"suspend,omitempty"`
	// Timeout of one sync's Git operations (default 60s).
	Timeout *Duration `json:"timeout,omitempty"`
	// Wait makes a sync count as done (Ready True) only when every Unit it
	// applied is Ready at its generation; until then Ready is False with
	// reason Progressing, or HealthCheckFailed when an instance FAILED.
	Wait bool `json:"wait,omitempty"`
}

// GitRef is what a GitSource follows: at most one of Branch, Tag and Commit.
type GitRef struct {
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// String is the ref as users read it: the branch, tag or commit.
func (r GitRef) String() string {
	switch {
	case r.Commit != "":
		return r.Commit
	case r.Tag != "":
		return r.Tag
	}
	return r.Branch
}

// Reasons of a GitSource's Ready condition, as Flux names them.
const (
	ReasonReconciliationSucceeded = "ReconciliationSucceeded"
	ReasonArtifactFailed          = "ArtifactFailed"
	ReasonBuildFailed             = "BuildFailed"
	ReasonPruneFailed             = "PruneFailed"
	ReasonReconciliationFailed    = "ReconciliationFailed"
	ReasonSuspended               = "Suspended"
	ReasonProgressing             = "Progressing"
	ReasonHealthCheckFailed       = "HealthCheckFailed"
)

// GitSourceStatus is what the leading controller last did with a
// GitSource, stored under status/leader/gitsource/<name>.
type GitSourceStatus struct {
	ObservedGeneration int64       `json:"observedGeneration"`
	Conditions         []Condition `json:"conditions,omitempty"`
	// LastAppliedRevision is the last revision applied whole (and, with
	// spec.wait, whose Units all became Ready): "main@sha1:<40 hex>".
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAttemptedRevision is the revision of the last attempt.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// Applied are "kind/name result" (unit/web configured) of the last apply.
	Applied []string `json:"applied,omitempty"`
	// Pruned are the kind/name of the objects the last apply deleted.
	Pruned []string `json:"pruned,omitempty"`
	// LastError is what stopped the last attempt, "" when it succeeded.
	LastError string `json:"lastError,omitempty"`
	// LastSyncTime is when the last attempt ended.
	LastSyncTime time.Time `json:"lastSyncTime,omitzero"`
}

func (g *GitSource) GetTypeMeta() *TypeMeta     { return &g.TypeMeta }
func (g *GitSource) GetObjectMeta() *ObjectMeta { return &g.Metadata }
func (g *GitSource) DeepCopyObject() Object     { return deepCopy(g) }
