package metrics

import (
	"context"
	"errors"
	"io"
	"time"

	"berth.dev/berth/internal/runtime"
)

// Runtime returns rt with its errors counted in
// berth_docker_api_errors_total by operation; with a nil m it returns rt.
// Answers that are part of the contract (ErrNotFound, ErrConflict, a
// registry's ErrUnauthorized) and
// calls cancelled by their caller are not errors of the engine.
func (m *Metrics) Runtime(rt runtime.Runtime) runtime.Runtime {
	if m == nil {
		return rt
	}
	return &countingRuntime{rt: rt, m: m}
}

type countingRuntime struct {
	rt runtime.Runtime
	m  *Metrics
}

var _ runtime.Runtime = (*countingRuntime)(nil)

func (c *countingRuntime) count(op string, err error) {
	if err == nil || errors.Is(err, runtime.ErrNotFound) || errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrUnauthorized) || errors.Is(err, context.Canceled) {
		return
	}
	c.m.dockerErrors.WithLabelValues(op).Inc()
}

func (c *countingRuntime) Ping(ctx context.Context) error {
	err := c.rt.Ping(ctx)
	c.count("ping", err)
	return err
}

func (c *countingRuntime) Version(ctx context.Context) (string, error) {
	v, err := c.rt.Version(ctx)
	c.count("version", err)
	return v, err
}

func (c *countingRuntime) List(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	l, err := c.rt.List(ctx, opts)
	c.count("list", err)
	return l, err
}

func (c *countingRuntime) Inspect(ctx context.Context, id string) (runtime.Container, error) {
	ctr, err := c.rt.Inspect(ctx, id)
	c.count("inspect", err)
	return ctr, err
}

func (c *countingRuntime) ImageExists(ctx context.Context, ref string) (bool, error) {
	ok, err := c.rt.ImageExists(ctx, ref)
	c.count("image_exists", err)
	return ok, err
}

func (c *countingRuntime) Pull(ctx context.Context, ref string, opts runtime.PullOptions) error {
	err := c.rt.Pull(ctx, ref, opts)
	c.count("pull", err)
	return err
}

func (c *countingRuntime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	img, err := c.rt.InspectImage(ctx, ref)
	c.count("inspect_image", err)
	return img, err
}

func (c *countingRuntime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	l, err := c.rt.ListImages(ctx)
	c.count("list_images", err)
	return l, err
}

func (c *countingRuntime) RemoveImage(ctx context.Context, ref string) error {
	err := c.rt.RemoveImage(ctx, ref)
	c.count("remove_image", err)
	return err
}

func (c *countingRuntime) Create(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	id, err := c.rt.Create(ctx, spec)
	c.count("create", err)
	return id, err
}

func (c *countingRuntime) Start(ctx context.Context, id string) error {
	err := c.rt.Start(ctx, id)
	c.count("start", err)
	return err
}

func (c *countingRuntime) Stop(ctx context.Context, id string, signal string, timeout time.Duration) error {
	err := c.rt.Stop(ctx, id, signal, timeout)
	c.count("stop", err)
	return err
}

func (c *countingRuntime) Remove(ctx context.Context, id string) error {
	err := c.rt.Remove(ctx, id)
	c.count("remove", err)
	return err
}

func (c *countingRuntime) Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error) {
	r, err := c.rt.Exec(ctx, id, cmd)
	c.count("exec", err)
	return r, err
}

func (c *countingRuntime) Logs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	r, err := c.rt.Logs(ctx, id, opts)
	c.count("logs", err)
	return r, err
}

// Events counts a broken stream as one error. The error channel is passed
// through a goroutine that ends when the runtime closes it (at the latest
// when ctx ends).
func (c *countingRuntime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	evs, errs := c.rt.Events(ctx)
	out := make(chan error, 1)
	go func() {
		defer close(out)
		for err := range errs {
			if ctx.Err() == nil {
				c.count("events", err)
			}
			select {
			case out <- err:
			case <-ctx.Done():
				// The caller stopped listening; drain what is left.
			}
		}
	}()
	return evs, out
}

func (c *countingRuntime) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	err := c.rt.EnsureNetwork(ctx, name, labels)
	c.count("ensure_network", err)
	return err
}

func (c *countingRuntime) InspectNetwork(ctx context.Context, name string) (runtime.Network, error) {
	n, err := c.rt.InspectNetwork(ctx, name)
	c.count("inspect_network", err)
	return n, err
}

func (c *countingRuntime) InspectVolume(ctx context.Context, name string) (runtime.Volume, error) {
	v, err := c.rt.InspectVolume(ctx, name)
	c.count("inspect_volume", err)
	return v, err
}

func (c *countingRuntime) EnsureVolume(ctx context.Context, name string, labels map[string]string) (runtime.Volume, error) {
	v, err := c.rt.EnsureVolume(ctx, name, labels)
	c.count("ensure_volume", err)
	return v, err
}
