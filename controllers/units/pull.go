package units

import (
	"context"
	"fmt"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// pullTimeout bounds one image pull.
const pullTimeout = 10 * time.Minute

// ensureImage pulls the image when the pull policy asks for it:
// PULLING_IMAGE while it pulls, throttled (as Helios shows it) when the
// image is missing and may not be pulled, or the pull fails.
func (r *run) ensureImage(ctx context.Context) error {
	c, t := r.c, &r.u.Spec.Container
	r.state = v1.StatePullingImage
	present, err := c.o.Runtime.ImageExists(ctx, t.Image)
	if err != nil {
		return fmt.Errorf("look for image %s: %w", t.Image, err)
	}
	switch {
	case t.PullPolicy == v1.PullNever && !present:
		r.throttle = v1.ThrottleImageMissing
		r.event(ctx, v1.EventWarning, "ErrImageNeverPull", "image %s is not present on this host and pullPolicy is Never", t.Image)
		return fmt.Errorf("image %s is not present on this host and pullPolicy is Never", t.Image)
	case t.PullPolicy == v1.PullAlways || !present:
		if err := r.enter(ctx, v1.StatePullingImage, "pulling "+t.Image); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, pullTimeout)
		defer cancel()
		start := time.Now()
		err := c.o.Runtime.Pull(pctx, t.Image, runtime.PullOptions{})
		c.o.BerthMetrics.ImagePulled(time.Since(start), err)
		if err != nil {
			r.throttle = v1.ThrottleImagePullFailed
			r.event(ctx, v1.EventWarning, "Failed", "pull %s: %v", t.Image, err)
			return fmt.Errorf("pull %s: %w", t.Image, err)
		}
		r.event(ctx, v1.EventNormal, "Pulled", "image %s pulled in %s", t.Image, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
