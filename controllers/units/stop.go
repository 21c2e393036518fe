package units

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// stopBudget bounds a stop: the unit's stop timeout and some slack.
func stopBudget(u *v1.Unit) time.Duration {
	d := v1.DefaultStopTimeout
	if u != nil && u.Spec.Container.StopTimeout != nil {
		d = u.Spec.Container.StopTimeout.Duration
	}
	return d + 30*time.Second
}

// stopContainer stops a container with its stop signal and timeout
// (the engine's, as the container was created with), within stopBudget.
// A container that is gone is stopped.
func (r *run) stopContainer(ctx context.Context, id string) error {
	sctx, cancel := context.WithTimeout(ctx, stopBudget(r.u))
	defer cancel()
	if err := r.c.o.Runtime.Stop(sctx, id, "", 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("stop %s: %w", short(id), err)
	}
	return nil
}

// stop stops the container of a Unit whose goal is stop, and keeps it:
// STOPPING while it stops, then STOPPED with its exit.
func (r *run) stop(ctx context.Context, a action) error {
	r.enter(ctx, v1.StateStopping, a.why())
	if err := r.stopContainer(ctx, a.id); err != nil {
		return err
	}
	if ctr, err := r.c.o.Runtime.Inspect(ctx, a.id); err == nil {
		r.cur = &ctr
		code := ctr.ExitCode
		r.in.mem.LastExitCode, r.in.mem.LastExitTime, r.in.mem.SeenExit = &code, ctr.FinishedAt, ctr.FinishedAt
	}
	r.state, r.msg = v1.StateStopped, ""
	r.event(ctx, v1.EventNormal, "Stopped", "container %s stopped: %s", short(a.id), a.why())
	return nil
}

// depStop stops the container of a Unit that a unit it requires went
// down: not a crash, it starts again when its dependencies allow.
func (r *run) depStop(ctx context.Context, a action) error {
	if err := r.stopContainer(ctx, a.id); err != nil {
		return err
	}
	r.c.probers.stop(r.w.key)
	if ctr, err := r.c.o.Runtime.Inspect(ctx, a.id); err == nil {
		r.cur = &ctr
		r.in.mem.SeenExit = ctr.FinishedAt
	}
	r.event(ctx, v1.EventNormal, "Stopped", "container %s stopped: %s", short(a.id), a.why())
	return nil
}

// kill stops a container that fails its health check. The exit is seen
// by the next reconcile, which restarts the container as its restart
// policy says.
func (r *run) kill(ctx context.Context, a action) error {
	r.event(ctx, v1.EventWarning, "Unhealthy", "container %s failed its health check: %s; restarting it", short(a.id), a.why())
	if err := r.stopContainer(ctx, a.id); err != nil {
		return err
	}
	r.c.probers.stop(r.w.key)
	return nil
}
