package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"

	"berth.dev/berth/internal/testenv"
)

// A key whose reconcile keeps failing is retried with backoff, not in a
// tight loop, and each failure is one log line, written by the loop: the
// delays asked for double from 100ms, and the lines and the error counter
// agree with the attempts. Time is a fake clock, stepped by the test.
func TestFailingReconcileLogsOncePerAttemptWithBackoff(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int64
	var buf testenv.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	fake := testingclock.NewFakeClock(time.Now())
	limiter := &recordingLimiter{TypedRateLimiter: DefaultRateLimiter()}
	c := New("failing", Func(func(context.Context, string) (Result, error) {
		attempts.Add(1)
		return Result{}, errors.New("etcd said no")
	}), Options{Workers: 4, Metrics: NewMetrics(reg), Log: log, Clock: fake, RateLimiter: limiter})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Start(ctx) }()
	c.Enqueue("k")
	testenv.Eventually(t, 10*time.Second, "five attempts", func() (bool, string) {
		fake.Step(100 * time.Millisecond)
		return attempts.Load() >= 5, fmt.Sprint(attempts.Load())
	})
	cancel()
	<-done

	n := attempts.Load()
	if got, want := limiter.delays(), []time.Duration{100, 200, 400, 800}; len(got) < 4 || !slices.Equal(got[:4], want) {
		t.Errorf("delays asked for: %v (ms), want %v first", got, want)
	}
	lines := strings.Count(buf.String(), "reconcile failed")
	if int64(lines) != n {
		t.Errorf("%d log lines for %d failed attempts; want one each:\n%s", lines, n, buf.String())
	}
	if got := counter(t, reg, "controller_runtime_reconcile_errors_total"); int64(got) != n {
		t.Errorf("controller_runtime_reconcile_errors_total = %v, want %d", got, n)
	}
}

// recordingLimiter remembers the delays its limiter gave, in milliseconds.
type recordingLimiter struct {
	workqueue.TypedRateLimiter[string]
	mu   sync.Mutex
	said []time.Duration
}

func (l *recordingLimiter) When(key string) time.Duration {
	d := l.TypedRateLimiter.When(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.said = append(l.said, d/time.Millisecond)
	return d
}

func (l *recordingLimiter) delays() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.said)
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// RetryFailing reconciles at once the keys waiting out their backoff after
// a failure (etcd is back), without the clock moving on; a key that
// succeeded since, or never failed, is not among them.
func TestRetryFailingSkipsTheBackoff(t *testing.T) {
	t.Parallel()
	fake := testingclock.NewFakeClock(time.Now())
	var down atomic.Bool
	down.Store(true)
	var attempts sync.Map // key -> *atomic.Int64
	tries := func(key string) *atomic.Int64 {
		n, _ := attempts.LoadOrStore(key, new(atomic.Int64))
		return n.(*atomic.Int64)
	}
	c := New("retry", Func(func(_ context.Context, key string) (Result, error) {
		tries(key).Add(1)
		if key == "k" && down.Load() {
			return Result{}, errors.New("etcd unavailable")
		}
		return Result{}, nil
	}), Options{Clock: fake})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c.Enqueue("k")
	c.Enqueue("fine")
	// Three failures: the next attempt waits 400ms of the fake clock.
	testenv.Eventually(t, 10*time.Second, "three failures of k", func() (bool, string) {
		fake.Step(100 * time.Millisecond)
		return tries("k").Load() >= 3 && tries("fine").Load() == 1, fmt.Sprint(tries("k").Load())
	})
	testenv.Eventually(t, 10*time.Second, "k waiting out its backoff", func() (bool, string) {
		return c.Len() == 0, fmt.Sprint(c.Len(), " keys queued")
	})
	before := tries("k").Load()
	down.Store(false)
	if n := c.RetryFailing(); n != 1 {
		t.Fatalf("RetryFailing retried %d keys, want 1 (k)", n)
	}
	testenv.Eventually(t, 10*time.Second, "k reconciled again with the clock stopped", func() (bool, string) {
		return tries("k").Load() > before, fmt.Sprint(tries("k").Load())
	})
	if n := c.RetryFailing(); n != 0 {
		t.Errorf("RetryFailing after k succeeded retried %d keys, want 0", n)
	}
	if n := tries("fine").Load(); n != 1 {
		t.Errorf("fine, which never failed, reconciled %d times, want once", n)
	}
}
