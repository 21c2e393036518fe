package units

import (
	"context"
	"errors"
	"fmt"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// remove stops and removes a container: of another template (Recreating),
// of an object deleted or placed elsewhere, a duplicate, or one the
// host's policy refuses (Removed).
func (r *run) remove(ctx context.Context, a action) error {
	if err := r.stopContainer(ctx, a.id); err != nil {
		return err
	}
	if err := r.c.o.Runtime.Remove(ctx, a.id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("remove %s: %w", short(a.id), err)
	}
	reason := "Removed"
	if a.cause == causeTemplateChanged {
		reason = "Recreating"
	}
	r.event(ctx, v1.EventNormal, reason, "container %s removed: %s", short(a.id), a.why())
	if r.cur != nil && r.cur.ID == a.id {
		r.cur = nil
	}
	return nil
}

// gone forgets an instance that no longer runs on this host: its host
// ports, its prober, its status.
func (r *run) gone(ctx context.Context) error {
	c := r.c
	c.ports.release(r.w.key)
	c.probers.stop(r.w.key)
	if r.in.status != nil {
		if _, err := c.o.Store.Delete(ctx, r.w.statusKey); err != nil {
			return fmt.Errorf("delete status: %w", err)
		}
	}
	c.instances.forget(r.w.key)
	return nil
}
