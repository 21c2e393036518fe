package scheduler_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// The leading controller schedules; the others wait their turn.
func Example() {
	ctx := context.Background()
	s, err := store.New(ctx, store.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	sched := scheduler.New(s, scheduler.Options{
		Log:     slog.Default(),
		Metrics: reconcile.NewMetrics(prometheus.NewRegistry()),
	})
	el := s.NewElection("scheduler", "host-1", 10*time.Second)
	if err := el.Run(ctx, func(ctx context.Context) { _ = sched.Run(ctx) }); err != nil {
		log.Fatal(err)
	}
}
