package units

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/distribution/reference"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/registryauth"
	"berth.dev/berth/internal/runtime"
)

// progressEvery is how often a pull under way writes its progress to the
// instance's status, at most.
const progressEvery = time.Second

// ensureImage pulls the image when the pull policy asks for it:
// PULLING_IMAGE while it pulls, throttled (as Helios shows it) when the
// image is missing and may not be pulled, or the pull fails. IfNotPresent
// pulls an image the engine does not have; Always pulls at every create
// (a container that is only started again does not pull); Never pulls
// nothing.
func (r *run) ensureImage(ctx context.Context) error {
	c, t := r.c, &r.u.Spec.Container
	r.state = v1.StatePullingImage
	img, err := c.o.Runtime.InspectImage(ctx, t.Image)
	present := err == nil
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("look for image %s: %w", t.Image, err)
	}
	if present {
		r.image = &img // what the container will run, for its status
	}
	switch {
	case t.PullPolicy == v1.PullNever && !present:
		r.throttle = v1.ThrottleImageMissing
		r.event(ctx, v1.EventWarning, "ErrImageNeverPull", "image %s is not present on this host and pullPolicy is Never", t.Image)
		return fmt.Errorf("image %s is not present on this host and pullPolicy is Never", t.Image)
	case t.PullPolicy == v1.PullAlways || !present:
		return r.pull(ctx)
	}
	return nil
}

// pullFailure is a pull that failed: reported, and tried again after
// wait rather than with the loop's backoff.
type pullFailure struct {
	err  error
	wait time.Duration
}

func (p *pullFailure) Error() string { return p.err.Error() }
func (p *pullFailure) Unwrap() error { return p.err }

// pull pulls the image with the credentials for its registry, reporting
// its progress, within the pull timeout.
func (r *run) pull(ctx context.Context) error {
	c, t := r.c, &r.u.Spec.Container
	keys, err := r.registryKeys()
	if err != nil {
		return err
	}
	cred, found := registryauth.Choose(t.Image, keys...)
	r.enter(ctx, v1.StatePullingImage, "pulling "+t.Image)
	opts := runtime.PullOptions{Progress: r.pullProgress(ctx)}
	if found {
		auth := cred.Auth
		opts.Auth = &auth
	}
	pctx, cancel := context.WithTimeout(ctx, c.o.Registry.PullTimeout)
	defer cancel()
	start := time.Now()
	err = c.o.Runtime.Pull(pctx, t.Image, opts)
	c.o.BerthMetrics.ImagePulled(time.Since(start), err)
	r.pulling = nil
	if err != nil {
		if errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("pull of %s did not finish within %s (controller --image-pull-timeout): %w", t.Image, c.o.Registry.PullTimeout, err)
		}
		if ctx.Err() != nil {
			return err // the controller stops: nothing to report
		}
		err = registryauth.Explain(t.Image, cred, found, keys, err)
		r.throttle = v1.ThrottleImagePullFailed
		r.event(ctx, v1.EventWarning, "Failed", "pull %s: %v", t.Image, err)
		wait := notePullFailure(&r.in.mem, r.u, time.Now(), err.Error())
		return &pullFailure{err: err, wait: wait}
	}
	mem := &r.in.mem
	mem.PullFailed, mem.PullFailedAt, mem.PullDelay = "", time.Time{}, 0
	r.event(ctx, v1.EventNormal, "Pulled", "image %s pulled in %s", t.Image, time.Since(start).Round(time.Millisecond))
	if img, err := c.o.Runtime.InspectImage(ctx, t.Image); err == nil {
		r.image = &img
		if c.o.Pulled != nil {
			c.o.Pulled(t.Image, img.ID)
		}
	}
	return nil
}

// registryKeys are the credentials files a pull looks in, in order: the
// workload's imagePullSecret, then the controller's --registry-config.
// An imagePullSecret that cannot be read is a refusal; a --registry-config
// the operator named that cannot be read is an error, tried again.
func (r *run) registryKeys() ([]*registryauth.Keys, error) {
	c, t := r.c, &r.u.Spec.Container
	var keys []*registryauth.Keys
	if s := t.ImagePullSecret; s != nil {
		const field = "imagePullSecret.file"
		b, ref := c.readSecretFile(field, s.File, registryauth.MaxFileBytes, v1.ReasonPullSecretUnavailable)
		if ref != nil {
			return nil, ref
		}
		k, err := registryauth.Parse(b, registryauth.SecretSource(s.File))
		if err != nil {
			return nil, c.secretUnavailable(v1.ReasonPullSecretUnavailable, field, s.File, "%v: write the credentials as docker login does in %s", err, c.secretPath(s.File))
		}
		k.Path = c.secretPath(s.File)
		keys = append(keys, k)
	}
	flag := &registryauth.Keys{Source: registryauth.FlagSource}
	if path := c.o.Registry.Config; path != "" {
		k, err := registryauth.Load(path, registryauth.FlagSource)
		switch {
		case err == nil:
			flag = k
		case errors.Is(err, fs.ErrNotExist) && !c.o.Registry.ConfigRequired:
		default:
			return nil, err
		}
	}
	return append(keys, flag), nil
}

// pullProgress returns what a pull reports its progress to: the status
// shows it, written at most every progressEvery, and when a layer is
// found or done.
func (r *run) pullProgress(ctx context.Context) func(runtime.PullProgress) {
	var written time.Time
	var layers, layersDone int
	return func(p runtime.PullProgress) {
		r.pulling = &v1.PullStatus{Layers: p.Layers, LayersDone: p.LayersDone, BytesDone: p.BytesDone, BytesTotal: p.BytesTotal}
		if time.Since(written) < progressEvery && p.Layers == layers && p.LayersDone == layersDone {
			return
		}
		written, layers, layersDone = time.Now(), p.Layers, p.LayersDone
		if err := r.report(ctx); err != nil {
			r.c.o.Log.Debug("report pull progress", "kind", r.w.kind, "name", r.name, "err", err)
		}
	}
}

// noteImage learns, once per container, the image the current container
// runs, as status shows it: the digest it was pulled by from the template
// image's repository ("repo@sha256:..."), else the engine's image ID. The
// image this reconcile looked up before it created the container answers
// when it is the one the container runs.
func (c *Controller) noteImage(ctx context.Context, r *run) {
	cur := r.cur
	if cur == nil || cur.ImageID == "" || r.in.imageIDOf(cur) != "" {
		return
	}
	id := cur.ImageID
	var img runtime.Image
	var err error
	if r.image != nil && r.image.ID == cur.ImageID {
		img = *r.image // looked up before the create: no need to ask again
	} else {
		img, err = c.o.Runtime.InspectImage(ctx, cur.ImageID)
	}
	if err == nil {
		if d := repoDigest(img.RepoDigests, cur.Image); d != "" {
			id = d
		}
	}
	c.instances.sawImage(r.in, cur.ID, id)
}

// repoDigest returns the one of digests ("repo@sha256:...") of image's
// repository, or "".
func repoDigest(digests []string, image string) string {
	repo := imageRepository(image)
	for _, d := range digests {
		if imageRepository(d) == repo {
			return d
		}
	}
	return ""
}

// imageRepository is the repository of an image reference as the engine
// lists it ("127.0.0.1:5000/app", "redis"); the reference itself when it
// does not parse.
func imageRepository(image string) string {
	n, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(n)
}

// ImagesInUse returns the images of the Units and Jobs placed on this
// host, whether or not a container of theirs exists now: image garbage
// collection keeps them. It is safe for concurrent use.
func (c *Controller) ImagesInUse() []string { return c.instances.wanted() }
