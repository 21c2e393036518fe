package units

import (
	"context"
	"fmt"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// start starts an existing container again: after a crash (counted as a
// restart and backed off), or one that was stopped by berth or created
// and never started.
func (r *run) start(ctx context.Context, a action) error {
	crash := a.crash()
	noteStart(&r.in.mem, time.Now(), r.u, crash)
	r.state, r.msg = v1.StateStarting, ""
	if err := r.startContainer(ctx, a.id); err != nil {
		return r.startFailed(ctx, a.id, err)
	}
	r.laps.lap("start")
	r.started = true
	if crash {
		r.c.o.BerthMetrics.ContainerRestarted(r.w.kind)
		r.event(ctx, v1.EventNormal, "Restarted", "container %s restarted (%s; restart %d)", short(a.id), a.why(), r.in.mem.Restarts)
	} else {
		r.event(ctx, v1.EventNormal, "Started", "container %s started", short(a.id))
	}
	return r.observe(ctx, a.id)
}

// startContainer asks the engine to start a container berth made before.
func (r *run) startContainer(ctx context.Context, id string) error {
	if err := r.c.o.Runtime.Start(ctx, id); err != nil {
		return fmt.Errorf("start %s: %w", short(id), err)
	}
	return nil
}

// observe reads the container back after a start: RUNNING, or
// HEALTHCHECKING with its prober started, or EXITED already.
func (r *run) observe(ctx context.Context, id string) error {
	ctr, err := r.c.o.Runtime.Inspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", short(id), err)
	}
	r.cur = &ctr
	r.laps.lap("inspect")
	switch ctr.State {
	case runtime.StateRunning:
		r.state, r.msg = v1.StateRunning, ""
		if r.u.Spec.Container.HealthCheck != nil {
			r.state = v1.StateHealthchecking
			r.c.probers.ensure(r.w.key, r.u, &ctr)
		}
	default:
		// It already exited: the next reconcile (its die event) handles it.
		r.state, r.msg = v1.StateExited, fmt.Sprintf("exited with code %d right after starting", ctr.ExitCode)
	}
	return nil
}
