package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"berth.dev/berth/internal/testenv"
)

// A key whose reconcile keeps failing is retried with backoff, not in a
// tight loop, and each failure is one log line, written by the loop: over a
// second, a handful of lines, one per attempt, and the error counter agrees.
func TestFailingReconcileLogsOncePerAttemptWithBackoff(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int64
	var buf testenv.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c := New("failing", Func(func(context.Context, string) (Result, error) {
		attempts.Add(1)
		return Result{}, errors.New("etcd said no")
	}), Options{Workers: 4, Metrics: m, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Start(ctx) }()
	c.Enqueue("k")
	time.Sleep(time.Second) // the figure measured is what one second produces
	cancel()
	<-done

	n := attempts.Load()
	lines := strings.Count(buf.String(), "reconcile failed")
	// 100ms doubling: attempts at 0, 0.1, 0.3, 0.7 s (and maybe 1.5 s).
	if n < 3 || n > 6 {
		t.Errorf("%d attempts in a second; want 3 to 6 (backoff from 100ms)", n)
	}
	if int64(lines) != n {
		t.Errorf("%d log lines for %d failed attempts; want one each:\n%s", lines, n, buf.String())
	}
	if got := counter(t, reg, "controller_runtime_reconcile_errors_total"); int64(got) != n {
		t.Errorf("controller_runtime_reconcile_errors_total = %v, want %d", got, n)
	}
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
