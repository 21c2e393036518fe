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
	"k8s.io/utils/clock"
)

// Result says when a key is reconciled again. The zero Result: only when
// it changes (or at the next resync). An error reconciles it again after
// the key's backoff.
type Result struct {
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

// The result label of controller_runtime_reconcile_total. "requeue",
// controller-runtime's for a retry without an error, stays at zero: it is
// exported so that dashboards find every series they expect.
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
	// Resync, when positive, enqueues every key of the watched sources
	// again this often, as controller-runtime's SyncPeriod: what a missed
	// or mishandled change left behind is corrected within a period.
	Resync time.Duration
	// Clock times the resync and the keys' delays (RequeueAfter, backoff);
	// tests inject a fake one. Default: the real clock.
	Clock clock.WithTicker
}

// DefaultRateLimiter backs off failing keys from 100ms to 5m.
func DefaultRateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: newBucket()},
	)
}

// Controller runs a Reconciler on a work queue, fed by the sources it
// watches.
type Controller struct {
	name    string
	r       Reconciler
	queue   workqueue.TypedRateLimitingInterface[string]
	workers int
	metrics *Metrics
	log     *slog.Logger
	resync  time.Duration
	clock   clock.WithTicker

	sources []Source
	watches []watch   // the sources whose keys are enqueued at start and resync
	all     chan bool // a WatchAll source changed: enqueue every key

	mu      sync.Mutex
	failing map[string]bool // keys waiting out their backoff after a failed reconcile
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
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	cfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: name, Clock: o.Clock}
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
		resync:  o.Resync,
		clock:   o.Clock,
		all:     make(chan bool, 1),
		failing: map[string]bool{},
	}
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.name }

// Enqueue asks for key to be reconciled. Keys already waiting are merged.
func (c *Controller) Enqueue(key string) { c.queue.Add(key) }

// EnqueueAfter asks for key to be reconciled after d.
func (c *Controller) EnqueueAfter(key string, d time.Duration) { c.queue.AddAfter(key, d) }

// RetryFailing reconciles at once every key that is waiting out its
// backoff after a failed reconcile, and returns how many. Call it when
// what they failed on is back (etcd, after an outage): the backoff of a
// key grows while the outage lasts (to minutes), and the key need not
// wait it out once the outage is over. A key that fails again backs off
// from where it was.
func (c *Controller) RetryFailing() int {
	c.mu.Lock()
	keys := make([]string, 0, len(c.failing))
	for k := range c.failing {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.queue.Add(k)
	}
	return len(keys)
}

// setFailing records whether key waits out a backoff after a failure.
func (c *Controller) setFailing(key string, failing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if failing {
		c.failing[key] = true
	} else {
		delete(c.failing, key)
	}
}

// Len returns the number of keys waiting.
func (c *Controller) Len() int { return c.queue.Len() }

// Start runs the sources and, once every one has listed, enqueues every
// key of the watched ones and runs the workers, until ctx ends; then it
// stops taking keys, waits for the reconciles under way and for the
// sources, and returns nil. Every Options.Resync, and on every change of a
// WatchAll source, it enqueues every key of the watched sources again. A
// Controller is started once; a loop that runs again (after leadership
// returns) is built again, with its sources.
func (c *Controller) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, src := range c.sources {
		wg.Go(func() { _ = src.Run(ctx) }) // a source's Run returns when ctx ends
	}
	if !c.waitSynced(ctx) {
		return nil
	}
	c.EnqueueAll()
	wg.Go(func() { c.resyncLoop(ctx) })
	c.work(ctx)
	return nil
}

// work runs the workers until ctx ends, then shuts the queue down and
// waits for the reconciles under way.
func (c *Controller) work(ctx context.Context) {
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
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
		c.setFailing(key, false)
		c.log.Error("reconcile failed; not retrying", "key", key, "err", err)
	case err != nil:
		c.count(resultError)
		if c.metrics != nil {
			c.metrics.reconcileErrors.WithLabelValues(c.name).Inc()
		}
		retries := c.queue.NumRequeues(key)
		c.setFailing(key, true)
		c.queue.AddRateLimited(key)
		c.log.Warn("reconcile failed; retrying", "key", key, "err", err, "retries", retries)
	case res.RequeueAfter > 0:
		c.count(resultRequeueAfter)
		c.queue.Forget(key)
		c.setFailing(key, false)
		c.queue.AddAfter(key, res.RequeueAfter)
	default:
		c.count(resultSuccess)
		c.queue.Forget(key)
		c.setFailing(key, false)
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
