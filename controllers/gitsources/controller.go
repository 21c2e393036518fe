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
	"strings"
	"sync"
	"time"

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
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// CredentialsFile is the controller's Git credentials file
	// (gitsync.LoadCredentials), "" for none. It is read again at every
	// sync, so a rotated token is used without a restart.
	CredentialsFile string
}

// Controller syncs GitSources. Run it on the leading controller only.
type Controller struct {
	s       *store.Store
	o       Options
	loop    *reconcile.Controller
	sources *store.Cache
}

// New returns a Controller; call Run (again after leadership returns).
func New(s *store.Store, o Options) *Controller {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Controller{s: s, o: o}
}

// Run syncs GitSources until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.o.CacheDir == "" {
		return fmt.Errorf("gitsources: no cache directory")
	}
	c.loop = reconcile.New("gitsource", reconcile.Func(c.reconcile), reconcile.Options{Workers: 2, Metrics: c.o.Metrics, Log: c.o.Log})
	prefix := store.ObjectPrefix(v1.KindGitSource)
	c.sources = store.NewCache(c.s, prefix, func(k string) { c.loop.Enqueue(strings.TrimPrefix(k, prefix)) })
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = c.sources.Run(ctx) }()
	go func() { defer wg.Done(); _ = c.loop.Start(ctx) }()
	wg.Wait()
	return nil
}

func (c *Controller) reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	workdir := filepath.Join(c.o.CacheDir, name)
	kv, ok := c.sources.Get(store.ObjectKey(v1.KindGitSource, name))
	if !ok {
		if _, err := c.s.Delete(ctx, StatusKey(name)); err != nil {
			return reconcile.Result{}, err
		}
		if err := os.RemoveAll(workdir); err != nil {
			return reconcile.Result{}, fmt.Errorf("gitsource %s: remove cache: %w", name, err)
		}
		return reconcile.Result{}, nil
	}
	src := &v1.GitSource{}
	if err := json.Unmarshal(kv.Value, src); err != nil {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("decode gitsource %s: %w", name, err))
	}
	v1.Default(src)
	prev, prevKV, err := c.status(ctx, name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if src.Spec.Suspend {
		// Left alone until resumed (a change of the spec enqueues it
		// again); the status says the suspension was seen.
		if prev != nil && prev.ObservedGeneration != src.Metadata.Generation {
			st := *prev
			st.ObservedGeneration = src.Metadata.Generation
			b, err := json.Marshal(st)
			if err != nil {
				return reconcile.Result{}, err
			}
			if _, err := c.s.Txn(ctx, []store.Op{{Key: StatusKey(name), Value: b, ExpectRev: prevKV.ModRevision}}); err != nil {
				return reconcile.Result{}, fmt.Errorf("gitsource %s: write status: %w", name, err)
			}
		}
		return reconcile.Result{}, nil
	}
	now := c.o.Now().UTC().Truncate(time.Second)
	var st v1.GitSourceStatus
	creds, syncErr := c.credentials()
	if syncErr != nil {
		st = gitsync.NewStatus(src, prev, gitsync.Result{}, syncErr, now)
	} else {
		st, syncErr = gitsync.Sync(ctx, c.s, src, prev, workdir, now, gitsync.WithCredentials(creds))
	}
	if syncErr != nil {
		c.o.Log.Info("gitsource sync failed", "gitsource", name, "err", syncErr)
	}
	if prev == nil || changed(*prev, st) {
		b, err := json.Marshal(st)
		if err != nil {
			return reconcile.Result{}, err
		}
		op := store.Op{Key: StatusKey(name), Value: b, ExpectRev: prevKV.ModRevision}
		if _, err := c.s.Txn(ctx, []store.Op{op}); err != nil {
			return reconcile.Result{}, fmt.Errorf("gitsource %s: write status: %w", name, err)
		}
	}
	after := src.Spec.Interval.Duration
	if c := v1.FindCondition(st.Conditions, v1.ConditionReady); c != nil && c.Reason == v1.ReasonProgressing {
		after = min(after, waitPoll)
	}
	return reconcile.Result{RequeueAfter: after}, nil
}

// waitPoll is how soon a GitSource with spec.wait whose Units are still
// progressing is synced again (its interval when shorter).
const waitPoll = 5 * time.Second

// credentials reads the credentials file (nil when none is configured);
// its error is the sync's, as a fetch without them would fail.
func (c *Controller) credentials() (*gitsync.Credentials, error) {
	if c.o.CredentialsFile == "" {
		return nil, nil
	}
	creds, err := gitsync.LoadCredentials(c.o.CredentialsFile)
	if err != nil {
		return nil, &gitsync.Error{Reason: v1.ReasonArtifactFailed, Err: err}
	}
	return creds, nil
}

// status reads the stored status, nil when there is none.
func (c *Controller) status(ctx context.Context, name string) (*v1.GitSourceStatus, store.KV, error) {
	kv, err := c.s.Get(ctx, StatusKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.KV{}, nil
	}
	if err != nil {
		return nil, store.KV{}, err
	}
	var st v1.GitSourceStatus
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return nil, kv, nil // rewritten below
	}
	return &st, kv, nil
}

// changed reports whether b differs from a in more than the sync time.
func changed(a, b v1.GitSourceStatus) bool {
	a.LastSyncTime, b.LastSyncTime = time.Time{}, time.Time{}
	return !reflect.DeepEqual(a, b)
}
