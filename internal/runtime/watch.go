package runtime

import (
	"context"
	"time"
)

// Watch follows the engine's container events until ctx ends: it calls
// subscribed after every (re)subscription, since events are not replayed
// and the caller must look at everything once, then onEvent for each
// event; when the stream breaks it calls broken (if set) with the error
// and subscribes again after a backoff of 0.5 s doubling to 10 s, reset by
// the first event of a stream.
func Watch(ctx context.Context, rt Runtime, subscribed func(), onEvent func(Event), broken func(err error, retryIn time.Duration)) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		events, errs := rt.Events(sctx)
		subscribed()
		for open := true; open; {
			select {
			case ev, ok := <-events:
				if !ok {
					open = false
					break
				}
				backoff = 500 * time.Millisecond
				onEvent(ev)
			case err, ok := <-errs:
				if ok && err != nil && broken != nil && ctx.Err() == nil {
					broken(err, backoff)
				}
				open = false
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
