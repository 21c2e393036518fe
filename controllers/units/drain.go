package units

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// LabelGracePeriod records a Unit's gracePeriod on its container, for the
// stop that follows its deletion.
const LabelGracePeriod = v1.Group + "/grace-period"

// gracePeriod of a container: the Unit's, or the one recorded on the
// container when the Unit is gone.
func gracePeriod(u *v1.Unit, c *runtime.Container) time.Duration {
	if u != nil && u.Spec.GracePeriod != nil {
		return u.Spec.GracePeriod.Duration
	}
	if d, err := time.ParseDuration(c.Labels[LabelGracePeriod]); err == nil {
		return d
	}
	return 0
}

// drains are the containers taken out of discovery, and since when.
type drains struct {
	mu sync.Mutex
	m  map[string]time.Time // container id -> when it was taken out of discovery
}

func newDrains() *drains { return &drains{m: map[string]time.Time{}} }

func (d *drains) since(id string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.m[id]
	return t, ok
}

func (d *drains) began(id string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[id] = at
}

func (d *drains) done(acts []action) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range acts {
		delete(d.m, a.id)
	}
}

// drainFirst takes out of discovery the running containers that the
// actions stop, gracePeriod before they are stopped: it returns how long
// to wait before stopping them (0: go ahead), and says so in the state.
func (r *run) drainFirst(ctx context.Context, ctrs []runtime.Container, acts []action) (time.Duration, error) {
	c := r.c
	if c.o.Drain == nil {
		return 0, nil
	}
	var wait time.Duration
	for _, a := range acts {
		if a.kind != actRemove && a.kind != actStop && a.kind != actDepStop {
			continue
		}
		ctr := containerOf(ctrs, a.id)
		if ctr == nil || ctr.State != runtime.StateRunning {
			continue
		}
		grace := gracePeriod(r.u, ctr)
		if grace <= 0 {
			continue
		}
		since, ok := c.drains.since(a.id)
		if !ok {
			if err := c.o.Drain(ctx, a.id); err != nil {
				return 0, fmt.Errorf("take %s out of discovery: %w", short(a.id), err)
			}
			since = time.Now()
			c.drains.began(a.id, since)
			r.event(ctx, v1.EventNormal, "Draining", "container %s taken out of discovery; stopping it in %s (gracePeriod)", short(a.id), grace)
		}
		wait = max(wait, grace-time.Since(since))
	}
	if wait > 0 {
		r.state, r.msg = v1.StateStopping, fmt.Sprintf("out of discovery; stopping in %s (gracePeriod)", roundUp(wait))
		return wait, nil
	}
	c.drains.done(acts)
	return 0, nil
}

// containerOf returns the container of ctrs with the ID, or nil.
func containerOf(ctrs []runtime.Container, id string) *runtime.Container {
	for i := range ctrs {
		if ctrs[i].ID == id {
			return &ctrs[i]
		}
	}
	return nil
}
