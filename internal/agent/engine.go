package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// engineWatch pings the container engine for /readyz and remembers its
// version for the host record.
type engineWatch struct {
	rt    runtime.Runtime
	log   *slog.Logger
	ready *readiness

	mu      sync.Mutex
	version string
	down    bool
}

func (e *engineWatch) run(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		v, err := e.rt.Version(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		e.report(err)
		if err == nil {
			e.mu.Lock()
			e.version = v
			e.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// report records whether the engine answered, logging changes only.
func (e *engineWatch) report(err error) {
	e.ready.set("docker", err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil && !e.down {
		e.log.Warn("container engine unreachable", "err", err)
	} else if err == nil && e.down {
		e.log.Info("container engine reachable again")
	}
	e.down = err != nil
}

func (e *engineWatch) fill(st *v1.HostStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st.DockerVersion = e.version
}
