package units

import (
	"context"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// restart stops and starts the container again (applyctl restart): not
// a crash, and a FAILED instance gets a new chance.
func (r *run) restart(ctx context.Context, a action) error {
	c := r.c
	if err := r.stopContainer(ctx, a.id); err != nil {
		return err
	}
	c.probers.stop(r.w.key)
	if ctr, err := c.o.Runtime.Inspect(ctx, a.id); err == nil {
		r.in.mem.SeenExit = ctr.FinishedAt
	}
	r.in.mem.Failed = ""
	noteStart(&r.in.mem, time.Now(), r.u, false)
	if err := r.startContainer(ctx, a.id); err != nil {
		return r.startFailed(ctx, a.id, err)
	}
	c.o.BerthMetrics.ContainerRestarted(r.w.kind)
	r.event(ctx, v1.EventNormal, "Restarted", "container %s restarted: %s", short(a.id), a.why())
	return r.observe(ctx, a.id)
}

// noteExit records an event for an exit seen the first time: a warning
// when the code is not 0.
func (r *run) noteExit(ctx context.Context, a action) {
	code := 0
	if r.in.mem.LastExitCode != nil {
		code = *r.in.mem.LastExitCode
	}
	typ := v1.EventNormal
	if code != 0 {
		typ = v1.EventWarning
	}
	oom := ""
	if r.cur != nil && r.cur.OOMKilled {
		oom = " (out of memory)"
	}
	r.event(ctx, typ, "Died", "container %s exited with code %d%s", short(a.id), code, oom)
}
