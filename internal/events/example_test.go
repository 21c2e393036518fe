package events_test

import (
	"context"
	"log/slog"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/events"
	"berth.dev/berth/internal/store"
)

// A controller makes one Recorder and its reconcilers record what they do.
func ExampleRecorder_Event() {
	ctx := context.Background()
	st, err := store.New(ctx, store.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	if err != nil {
		return
	}
	defer st.Close()
	rec := events.NewRecorder(st, "host-a", slog.Default())
	defer rec.Close()

	rec.Event(ctx, v1.KindUnit, "todo", v1.EventNormal, "Pulled", "pulled image %s", "todo:1")
	// The same back-off five times is one event with Count 5.
	for range 5 {
		rec.Event(ctx, v1.KindUnit, "todo", v1.EventWarning, "BackOff", "back-off %s restarting failed container", 10*time.Second)
	}
}
