package gitsources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"k8s.io/utils/clock"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/gitsync"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// StatusKey is where a GitSource's status is stored (gitsync.StatusKey).
func StatusKey(name string) string { return gitsync.StatusKey(name) }

// Options configure the loop.
type Options struct {
	// CacheDir holds one clone per GitSource (required).
	CacheDir string
	Log      *slog.Logger
	Metrics  *reconcile.Metrics
	// Events, when set, records an InvalidObject event on a stored
	// GitSource that does not decode.
	Events store.EventRecorder
	// Clock times the syncs (the time a status records, spec.interval);
	// default the real clock.
	Clock clock.WithTicker
	// CredentialsFile is the controller's Git credentials file
	// (gitsync.LoadCredentials), "" for none. It is read again at every
	// sync, so a rotated token is used without a restart.
	CredentialsFile string
}

// Controller syncs GitSources. Run it on the leading controller only.
type Controller struct {
	s *store.Store
	o Options
}

// New returns a Controller; call Run (again after leadership returns).
func New(s *store.Store, o Options) *Controller {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return &Controller{s: s, o: o}
}

// Run syncs GitSources until ctx ends. Each Run starts from a fresh cache
// of GitSources; a change of one reconciles it, and so does its
// spec.interval passing.
func (c *Controller) Run(ctx context.Context) error {
	if c.o.CacheDir == "" {
		return fmt.Errorf("gitsources: no cache directory")
	}
	r := &runner{s: c.s, o: c.o, sources: store.NewObjectCache[*v1.GitSource](c.s, store.CacheOptions{Log: c.o.Log, Events: c.o.Events})}
	loop := reconcile.New("gitsource", r, reconcile.Options{Workers: 2, Metrics: c.o.Metrics, Log: c.o.Log, Clock: c.o.Clock})
	loop.Watch(r.sources, reconcile.TrimPrefix(r.sources.Prefix()))
	return loop.Start(ctx)
}

// runner is one Run: its cache and the reconcile of one GitSource.
type runner struct {
	s       *store.Store
	o       Options
	sources *store.Typed[*v1.GitSource]
}

// Reconcile syncs GitSource name and writes its status when it changed;
// it removes the status and cache of one that is gone, and leaves alone
// one that does not decode (its cache reported it) or is suspended.
func (r *runner) Reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	e, ok := r.sources.Get(store.ObjectKey(v1.KindGitSource, name))
	if !ok {
		return reconcile.Result{}, r.forget(ctx, name)
	}
	if e.Err != nil {
		return reconcile.Result{}, nil
	}
	src := e.Value
	prev, prevKV, err := r.status(ctx, name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if src.Spec.Suspend {
		// Left alone until resumed (a change of the spec enqueues it
		// again); the status says the suspension was seen.
		if prev == nil || prev.ObservedGeneration == src.Metadata.Generation {
			return reconcile.Result{}, nil
		}
		st := *prev
		st.ObservedGeneration = src.Metadata.Generation
		return reconcile.Result{}, r.writeStatus(ctx, name, st, prevKV.ModRevision)
	}
	st := r.sync(ctx, src, prev)
	if prev == nil || changed(*prev, st) {
		if err := r.writeStatus(ctx, name, st, prevKV.ModRevision); err != nil {
			return reconcile.Result{}, err
		}
	}
	after := src.Spec.Interval.Duration
	if c := v1.FindCondition(st.Conditions, v1.ConditionReady); c != nil && c.Reason == v1.ReasonProgressing {
		after = min(after, waitPoll)
	}
	return reconcile.Result{RequeueAfter: after}, nil
}

// sync fetches and applies src, and returns its new status, which says how
// a failure failed.
func (r *runner) sync(ctx context.Context, src *v1.GitSource, prev *v1.GitSourceStatus) v1.GitSourceStatus {
	name := src.Metadata.Name
	now := r.o.Clock.Now().UTC().Truncate(time.Second)
	creds, err := r.credentials()
	if err != nil {
		r.o.Log.Info("gitsource sync failed", "gitsource", name, "err", err)
		return gitsync.NewStatus(src, prev, gitsync.Result{}, err, now)
	}
	st, err := gitsync.Sync(ctx, r.s, src, prev, filepath.Join(r.o.CacheDir, name), now, gitsync.WithCredentials(creds))
	if err != nil {
		r.o.Log.Info("gitsource sync failed", "gitsource", name, "err", err)
	}
	return st
}

// forget removes the status and the cache of a GitSource that is gone.
func (r *runner) forget(ctx context.Context, name string) error {
	if _, err := r.s.Delete(ctx, StatusKey(name)); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(r.o.CacheDir, name)); err != nil {
		return fmt.Errorf("gitsource %s: remove cache: %w", name, err)
	}
	return nil
}

// writeStatus stores st if the status key is still at modRev (0: must not
// exist).
func (r *runner) writeStatus(ctx context.Context, name string, st v1.GitSourceStatus, modRev int64) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := r.s.Txn(ctx, []store.Op{{Key: StatusKey(name), Value: b, ExpectRev: modRev}}); err != nil {
		return fmt.Errorf("gitsource %s: write status: %w", name, err)
	}
	return nil
}

// waitPoll is how soon a GitSource with spec.wait whose Units are still
// progressing is synced again (its interval when shorter).
const waitPoll = 5 * time.Second

// credentials reads the credentials file (nil when none is configured);
// its error is the sync's, as a fetch without them would fail.
func (r *runner) credentials() (*gitsync.Credentials, error) {
	if r.o.CredentialsFile == "" {
		return nil, nil
	}
	creds, err := gitsync.LoadCredentials(r.o.CredentialsFile)
	if err != nil {
		return nil, &gitsync.Error{Reason: v1.ReasonArtifactFailed, Err: err}
	}
	return creds, nil
}

// status reads the stored status, nil when there is none or it does not
// decode (said in the log; the sync writes it again).
func (r *runner) status(ctx context.Context, name string) (*v1.GitSourceStatus, store.KV, error) {
	kv, err := r.s.Get(ctx, StatusKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.KV{}, nil
	}
	if err != nil {
		return nil, store.KV{}, err
	}
	st, err := store.DecodeJSON[v1.GitSourceStatus](kv)
	if err != nil {
		r.o.Log.Warn("gitsource status does not decode; writing it again", "gitsource", name, "err", err)
		return nil, kv, nil
	}
	return &st, kv, nil
}

// changed reports whether b differs from a in more than the sync time.
func changed(a, b v1.GitSourceStatus) bool {
	a.LastSyncTime, b.LastSyncTime = time.Time{}, time.Time{}
	return !reflect.DeepEqual(a, b)
}
