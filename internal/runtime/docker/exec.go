package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"berth.dev/berth/internal/runtime"
)

// Exec implements runtime.Runtime. Output beyond runtime.MaxExecOutput is
// read and discarded so the process never blocks on a full pipe.
func (c *Client) Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error) {
	created, err := c.api.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return runtime.ExecResult{}, wrap("exec", id, err)
	}
	att, err := c.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return runtime.ExecResult{}, wrap("exec", id, err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close) // unblock the read when ctx ends
	defer stop()

	var out cappedBuffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		if ctx.Err() != nil {
			return runtime.ExecResult{}, wrap("exec", id, ctx.Err())
		}
		return runtime.ExecResult{}, wrap("exec", id, fmt.Errorf("reading output: %w", err))
	}
	// The stream ends when the process does; the engine may record the exit
	// code a moment later.
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		st, err := c.api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
		if err != nil {
			return runtime.ExecResult{}, wrap("exec", id, err)
		}
		if !st.Running {
			return runtime.ExecResult{ExitCode: st.ExitCode, Output: out.b}, nil
		}
		select {
		case <-ctx.Done():
			return runtime.ExecResult{}, wrap("exec", id, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// cappedBuffer keeps the first runtime.MaxExecOutput bytes written to it.
type cappedBuffer struct{ b []byte }

func (w *cappedBuffer) Write(p []byte) (int, error) {
	if room := runtime.MaxExecOutput - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
