package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"

	"berth.dev/berth/internal/runtime"
)

// Stop implements runtime.Runtime. With API 1.42 and later the engine does
// it in one call (stop with a signal); older engines (Debian's 20.10 speaks
// 1.41 and ignores the signal of a stop) get kill(signal), a wait bounded by
// the timeout, then kill(SIGKILL).
func (c *Client) Stop(ctx context.Context, id, signal string, timeout time.Duration) error {
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return wrap("stop", id, err)
	}
	ct := fromInspect(res.Container)
	if ct.State != runtime.StateRunning && ct.State != runtime.StatePaused && ct.State != runtime.StateRestarting {
		return nil
	}
	if cfg := res.Container.Config; cfg != nil {
		signal = cmp.Or(signal, cfg.StopSignal)
		if timeout <= 0 && cfg.StopTimeout != nil && *cfg.StopTimeout > 0 {
			timeout = time.Duration(*cfg.StopTimeout) * time.Second
		}
	}
	signal = cmp.Or(signal, "SIGTERM")
	if timeout <= 0 {
		timeout = defaultStopTimeout
	}
	if !versions.LessThan(c.api.ClientVersion(), "1.42") {
		secs := int(math.Ceil(timeout.Seconds()))
		_, err := c.api.ContainerStop(ctx, id, client.ContainerStopOptions{Signal: signal, Timeout: &secs})
		return wrap("stop", id, err)
	}
	return c.killWaitKill(ctx, id, signal, timeout)
}

func (c *Client) killWaitKill(ctx context.Context, id, signal string, timeout time.Duration) error {
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Wait first so the exit cannot be missed; the call returns once the
	// engine has registered the wait.
	wait := c.api.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: "not-running"})

	if err := c.kill(ctx, id, signal); err != nil {
		if errors.Is(err, errNotRunning) {
			return nil
		}
		return wrap("stop", id, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-wait.Result:
		return nil
	case err := <-wait.Error:
		return wrap("stop", id, fmt.Errorf("waiting for exit: %w", err))
	case <-timer.C:
	}
	if err := c.kill(ctx, id, "SIGKILL"); err != nil && !errors.Is(err, errNotRunning) {
		return wrap("stop", id, err)
	}
	select {
	case <-wait.Result:
		return nil
	case err := <-wait.Error:
		return wrap("stop", id, fmt.Errorf("waiting for exit after SIGKILL: %w", err))
	}
}

var errNotRunning = errors.New("container is not running")

// kill sends signal; a container that is no longer running gives errNotRunning.
func (c *Client) kill(ctx context.Context, id, signal string) error {
	_, err := c.api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal})
	if err != nil && cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "is not running") {
		return errNotRunning
	}
	return err
}
