package reconcile

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkLoop measures the loop's own cost per reconcile (a reconciler
// that does nothing), with and without metrics: what the metrics add to
// every reconcile (BENCHMARKS.md, "Metrics: what they cost").
func BenchmarkLoop(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		name := "metrics=off"
		if withMetrics {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) {
			var m *Metrics
			if withMetrics {
				m = NewMetrics(prometheus.NewRegistry())
			}
			var wg sync.WaitGroup
			wg.Add(b.N)
			c := New("bench", Func(func(context.Context, string) (Result, error) {
				wg.Done()
				return Result{}, nil
			}), Options{Workers: 8, Metrics: m})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = c.Start(ctx) }()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Enqueue(strconv.Itoa(i))
			}
			wg.Wait()
			b.StopTimer()
			cancel()
			<-done
		})
	}
}
