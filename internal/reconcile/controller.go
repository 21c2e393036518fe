package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// Result says when a key is reconciled again.
type Result struct {
	// Requeue reconciles the key again after its backoff.
	Requeue bool
	// RequeueAfter reconciles the key again after this long.
	RequeueAfter time.Duration
}

// Reconciler brings the world in line with what is asked for one key.
// Reconcile must be safe to call concurrently for different keys; the loop
// never runs two reconciles of one key at once.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// Func adapts a function to Reconciler.
type Func func(ctx context.Context, key string) (Result, error)

// Reconcile calls f.
func (f Func) Reconcile(ctx context.Context, key string) (Result, error) { return f(ctx, key) }

type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

// Terminal marks an error that retrying will not fix: it is logged and
// counted, and the key is not requeued.
func Terminal(err error) error { return terminalError{err} }

const (
	resultSuccess      = "success"
	resultError        = "error"
	resultRequeue      = "requeue"
	resultRequeueAfter = "requeue_after"
)

// Options configure a Controller.
type Options struct {
	// Workers is the number of concurrent reconciles (default 1).
	Workers int
	// RateLimiter sets the per-key backoff (default: exponential from 100ms
	// to 5m per key, within an overall 10 qps burst 100 bucket).
	RateLimiter workqueue.TypedRateLimiter[string]
	// Metrics, when set, receives the loop's metrics.
	Metrics *Metrics
	// Log receives one line per failed reconcile.
	Log *slog.Logger
}

// DefaultRateLimiter backs off failing keys from 100ms to 5m.
func DefaultRateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: newBucket()},
	)
}

// Controller runs a Reconciler on a work queue.
type Controller struct {
	name    string
	r       Reconciler
	queue   workqueue.TypedRateLimitingInterface[string]
	workers int
	metrics *Metrics
	log     *slog.Logger
}

// New returns a Controller named name (the controller label of its
// metrics). Keys may be enqueued before Start.
func New(name string, r Reconciler, o Options) *Controller {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.RateLimiter == nil {
		o.RateLimiter = DefaultRateLimiter()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: name}
	if o.Metrics != nil {
		cfg.MetricsProvider = queueProvider{m: o.Metrics, name: name}
		o.Metrics.init(name, o.Workers)
	}
	return &Controller{
		name:    name,
		r:       r,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(o.RateLimiter, cfg),
		workers: o.Workers,
		metrics: o.Metrics,
		log:     o.Log.With("controller", name),
	}
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.name }

// Enqueue asks for key to be reconciled. Keys already waiting are merged.
func (c *Controller) Enqueue(key string) { c.queue.Add(key) }

// EnqueueAfter asks for key to be reconciled after d.
func (c *Controller) EnqueueAfter(key string, d time.Duration) { c.queue.AddAfter(key, d) }

// Len returns the number of keys waiting.
func (c *Controller) Len() int { return c.queue.Len() }

// Start runs the workers until ctx ends, then stops taking keys, waits for
// the reconciles under way and returns.
func (c *Controller) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := 0; i < c.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if ctx.Err() != nil {
		return true
	}
	if c.metrics != nil {
		c.metrics.activeWorkers.WithLabelValues(c.name).Inc()
		defer c.metrics.activeWorkers.WithLabelValues(c.name).Dec()
	}
	start := time.Now()
	res, err := c.reconcile(ctx, key)
	if c.metrics != nil {
		c.metrics.reconcileTime.WithLabelValues(c.name).Observe(time.Since(start).Seconds())
	}
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the reconcile was cut short, not failed.
	case err != nil && errors.As(err, new(terminalError)):
		c.count(resultError)
		if c.metrics != nil {
			c.metrics.reconcileErrors.WithLabelValues(c.name).Inc()
			c.metrics.terminalErrors.WithLabelValues(c.name).Inc()
		}
		c.queue.Forget(key)
		c.log.Error("reconcile failed; not retrying", "key", key, "err", err)
	case err != nil:
		c.count(resultError)
		if c.metrics != nil {
			c.metrics.reconcileErrors.WithLabelValues(c.name).Inc()
		}
		retries := c.queue.NumRequeues(key)
		c.queue.AddRateLimited(key)
		c.log.Warn("reconcile failed; retrying", "key", key, "err", err, "retries", retries)
	case res.RequeueAfter > 0:
		c.count(resultRequeueAfter)
		c.queue.Forget(key)
		c.queue.AddAfter(key, res.RequeueAfter)
	case res.Requeue:
		c.count(resultRequeue)
		c.queue.AddRateLimited(key)
	default:
		c.count(resultSuccess)
		c.queue.Forget(key)
	}
	c.log.Debug("reconciled", "key", key, "took", time.Since(start).Round(time.Microsecond), "requeueAfter", res.RequeueAfter, "err", err)
	return true
}

func (c *Controller) count(result string) {
	if c.metrics != nil {
		c.metrics.reconcileTotal.WithLabelValues(c.name, result).Inc()
	}
}

func (c *Controller) reconcile(ctx context.Context, key string) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			if c.metrics != nil {
				c.metrics.panics.WithLabelValues(c.name).Inc()
			}
			c.log.Error("reconcile panicked", "key", key, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.r.Reconcile(ctx, key)
}
