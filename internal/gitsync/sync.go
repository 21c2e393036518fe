package gitsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/applyset"
	"berth.dev/berth/internal/store"
)

// Tooling is the tooling recorded on the apply sets Sync writes.
const Tooling = "berth-gitsync"

// StatusHost is the last segment of a GitSource's status key: the status
// is the leader's, whichever host leads.
const StatusHost = "leader"

// StatusKey is where a GitSource's status is stored:
// status/leader/gitsource/<name>.
func StatusKey(name string) string { return store.StatusKey(v1.KindGitSource, name, StatusHost) }

// SetName is the apply set of a GitSource: "gitsource-<name>".
func SetName(source string) string { return "gitsource-" + source }

// manifestExts are the files Sync reads under the path.
var manifestExts = []string{".yaml", ".yml", ".json"}

// Options of one sync.
type Options struct {
	// URL, Ref, Path and Prune say what to apply (a GitSource's spec).
	URL   string
	Ref   v1.GitRef
	Path  string
	Prune bool
	// SetName is the apply set written.
	SetName string
	// Timeout bounds the Git operations (60s when 0).
	Timeout time.Duration
	// DryRun computes the results and writes nothing.
	DryRun bool
	// Wait computes the Health of the applied Units (a GitSource's
	// spec.wait); Run does not block on it.
	Wait bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Fetch are options of the fetch (WithCredentials).
	Fetch []FetchOption
}

// Result is what one sync did.
type Result struct {
	Revision string
	Apply    *applyset.Result
	// Health is how far the applied Units are from Ready, when the sync
	// waited for them (Options.Wait); nil otherwise.
	Health *Health
}

// Error is why a sync failed, with the Ready reason Flux would give it.
type Error struct {
	Reason string // v1.ReasonArtifactFailed, v1.ReasonBuildFailed, ...
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Run fetches o.URL into workdir and applies the manifests under o.Path as
// the apply set o.SetName. The revision is returned even when applying
// failed. Errors are *Error.
func Run(ctx context.Context, st *store.Store, workdir string, o Options) (Result, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = v1.DefaultGitTimeout
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	rev, err := Fetch(fctx, o.URL, o.Ref, workdir, o.Fetch...)
	cancel()
	if err != nil {
		return Result{}, &Error{v1.ReasonArtifactFailed, err}
	}
	res := Result{Revision: rev}
	objs, err := Build(ctx, st, workdir, o.Path)
	if err != nil {
		return res, &Error{v1.ReasonBuildFailed, err}
	}
	ar, err := applyset.Apply(ctx, st, o.SetName, objs, applyset.Options{
		Prune: o.Prune, DryRun: o.DryRun, Tooling: Tooling, Now: o.Now,
	})
	if err != nil {
		reason := v1.ReasonReconciliationFailed
		if errors.Is(err, applyset.ErrPruneAll) {
			reason = v1.ReasonPruneFailed
		}
		return res, &Error{reason, err}
	}
	res.Apply = ar
	if o.Wait && !o.DryRun {
		h, err := health(ctx, st, ar.Applied)
		if err != nil {
			return res, &Error{v1.ReasonReconciliationFailed, err}
		}
		res.Health = h
	}
	return res, nil
}

// Build reads, decodes and validates every manifest under dir/sub,
// recursively and in path order, and returns the objects, defaulted. Any
// problem returns an error naming the file (relative to dir), the document
// and the field, and no objects.
func Build(ctx context.Context, st *store.Store, dir, sub string) ([]v1.Object, error) {
	if sub == "" {
		sub = "."
	}
	clean := filepath.Clean(filepath.FromSlash(sub))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("path %q is outside the repository", sub)
	}
	root := filepath.Join(dir, clean)
	if real, err := filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("path %q: %w", sub, cleanPathError(err))
	} else if realDir, err := filepath.EvalSymlinks(dir); err != nil || !inside(realDir, real) {
		return nil, fmt.Errorf("path %q is outside the repository", sub)
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && slices.Contains(manifestExts, strings.ToLower(filepath.Ext(p))) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", sub, cleanPathError(err))
	}
	// The files are one source: one v1.Decoder, and one budget of bytes
	// that each file is read against, so no file is read further than the
	// limit of the whole source.
	var dec v1.Decoder
	var docs []*v1.Document
	var errs v1.ErrorList
	total := 0
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		rel = filepath.ToSlash(rel)
		b, err := readLimited(f, v1.MaxManifestBytes-total)
		var big *tooLargeError
		if errors.As(err, &big) {
			msg := fmt.Sprintf("%s: more than the limit of %d bytes (16 MiB) for the manifests of a GitSource", big.size, v1.MaxManifestBytes)
			if total > 0 {
				msg += fmt.Sprintf(", all its files together (%d bytes before this file)", total)
			}
			errs = append(errs, &v1.Error{Source: rel, Msg: msg})
			break
		}
		if err != nil {
			errs = append(errs, &v1.Error{Source: rel, Msg: cleanPathError(err).Error()})
			continue
		}
		total += len(b)
		d, e := dec.Decode(rel, b)
		docs = append(docs, d...)
		errs = append(errs, e...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	stored, err := storedFor(ctx, st, docs)
	if err != nil {
		return nil, err
	}
	if errs := v1.Prepare(docs, stored); len(errs) > 0 {
		return nil, errs
	}
	objs := make([]v1.Object, len(docs))
	for i, d := range docs {
		objs[i] = d.Object
	}
	return objs, nil
}

// storedFor lists the stored objects of the kinds in docs, which
// v1.ValidateSet checks the documents against.
func storedFor(ctx context.Context, st *store.Store, docs []*v1.Document) ([]v1.Object, error) {
	kinds := map[string]bool{}
	for _, d := range docs {
		kinds[v1.KindOf(d.Object)] = true
	}
	var out []v1.Object
	for _, k := range v1.AppliableKinds {
		if !kinds[k] {
			continue
		}
		objs, _, err := store.ListObjects(ctx, st, k)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// tooLargeError is a file larger than readLimited may read.
type tooLargeError struct {
	size string // "N bytes", or "more than N bytes" for a file that grew
}

func (e *tooLargeError) Error() string { return "file of " + e.size }

// readLimited reads the regular file p if it holds at most limit bytes,
// reading no more than limit+1 of it even when it grows meanwhile, else
// returns a *tooLargeError.
func readLimited(p string, limit int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > int64(limit) {
		return nil, &tooLargeError{fmt.Sprintf("%d bytes", fi.Size())}
	}
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+1))
	if _, err := buf.ReadFrom(io.LimitReader(f, int64(limit)+1)); err != nil {
		return nil, err
	}
	if buf.Len() > limit {
		return nil, &tooLargeError{fmt.Sprintf("more than %d bytes", limit)}
	}
	return buf.Bytes(), nil
}

func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func cleanPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Sync syncs a GitSource (its spec defaulted) into workdir and returns its
// new status, computed from prev (the stored status, nil when none) so that
// the Ready condition keeps its transition time; opts are passed to Fetch.
// The error is the one the status reports, returned so the caller can
// retry sooner.
func Sync(ctx context.Context, st *store.Store, src *v1.GitSource, prev *v1.GitSourceStatus, workdir string, now time.Time, opts ...FetchOption) (v1.GitSourceStatus, error) {
	spec := src.Spec
	var timeout time.Duration
	if spec.Timeout != nil {
		timeout = spec.Timeout.Duration
	}
	res, err := Run(ctx, st, workdir, Options{
		URL: spec.URL, Ref: spec.Ref, Path: spec.Path, Prune: spec.Prune, Wait: spec.Wait,
		SetName: SetName(src.Metadata.Name), Timeout: timeout,
		Now: func() time.Time { return now }, Fetch: opts,
	})
	return NewStatus(src, prev, res, err, now), err
}

// Bounds of the error a status keeps: a status must stay far below what
// etcd takes in one request, however many problems a revision has.
const (
	statusErrorLines = 20
	statusErrorBytes = 8 << 10
)

// statusError is err's text, one problem a line, cut to the first
// statusErrorLines problems and statusErrorBytes bytes, with a last line
// saying how many more there were.
func statusError(err error) string {
	lines := strings.Split(err.Error(), "\n")
	kept, size := 0, 0
	for kept < len(lines) && kept < statusErrorLines && size+len(lines[kept]) <= statusErrorBytes {
		size += len(lines[kept]) + 1
		kept++
	}
	if kept == len(lines) {
		return err.Error()
	}
	if kept == 0 { // one problem longer than the bound: its start
		cut := statusErrorBytes
		for cut > 0 && !utf8.RuneStart(lines[0][cut]) {
			cut--
		}
		lines[0], kept = lines[0][:cut]+"...", 1
	}
	out := strings.Join(lines[:kept], "\n")
	if more := len(lines) - kept; more > 0 {
		out += fmt.Sprintf("\n... and %d more problems", more)
	}
	return out
}

// NewStatus is the status of a GitSource after a sync that gave res and
// err: a pure function of its inputs.
func NewStatus(src *v1.GitSource, prev *v1.GitSourceStatus, res Result, err error, now time.Time) v1.GitSourceStatus {
	var s v1.GitSourceStatus
	if prev != nil {
		s.Conditions = slices.Clone(prev.Conditions)
		s.LastAppliedRevision = prev.LastAppliedRevision
		s.LastAttemptedRevision = prev.LastAttemptedRevision
	}
	s.ObservedGeneration = src.Metadata.Generation
	s.LastSyncTime = now
	if res.Revision != "" {
		s.LastAttemptedRevision = res.Revision
	}
	if err != nil {
		reason := v1.ReasonReconciliationFailed
		var se *Error
		if errors.As(err, &se) {
			reason = se.Reason
		}
		s.LastError = statusError(err)
		msg := s.LastError
		if res.Revision != "" {
			msg = res.Revision + ": " + msg
		}
		s.Conditions = v1.SetCondition(s.Conditions, v1.Condition{
			Type: v1.ConditionReady, Status: v1.ConditionFalse, Reason: reason, Message: msg,
			ObservedGeneration: s.ObservedGeneration,
		}, now)
		return s
	}
	if res.Apply != nil {
		for _, a := range res.Apply.Applied {
			s.Applied = append(s.Applied, strings.ToLower(a.Kind)+"/"+a.Name+" "+string(a.Action))
		}
		for _, p := range res.Apply.Pruned {
			s.Pruned = append(s.Pruned, strings.ToLower(p.Kind)+"/"+p.Name)
		}
	}
	if !res.Health.Ready() {
		reason := v1.ReasonProgressing
		if res.Health.Failed {
			reason = v1.ReasonHealthCheckFailed
		}
		s.Conditions = v1.SetCondition(s.Conditions, v1.Condition{
			Type: v1.ConditionReady, Status: v1.ConditionFalse, Reason: reason,
			Message:            "Applied revision " + res.Revision + "; not ready: " + strings.Join(res.Health.NotReady, "; "),
			ObservedGeneration: s.ObservedGeneration,
		}, now)
		return s
	}
	s.LastAppliedRevision = res.Revision
	s.Conditions = v1.SetCondition(s.Conditions, v1.Condition{
		Type: v1.ConditionReady, Status: v1.ConditionTrue, Reason: v1.ReasonReconciliationSucceeded,
		Message: "Applied revision: " + res.Revision, ObservedGeneration: s.ObservedGeneration,
	}, now)
	return s
}
