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
