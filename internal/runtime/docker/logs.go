package docker

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"berth.dev/berth/internal/runtime"
)

// Logs implements runtime.Runtime. The engine's multiplexed stream (the
// container has no TTY) is split and interleaved into one plain-text stream.
func (c *Client) Logs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	o := client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Timestamps: opts.Timestamps,
		Tail:       "all",
	}
	if opts.Tail >= 0 {
		o.Tail = strconv.Itoa(opts.Tail)
	}
	if !opts.Since.IsZero() {
		o.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	rc, err := c.api.ContainerLogs(ctx, id, o)
	if err != nil {
		return nil, wrap("logs", id, err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		rc.Close()
		pw.CloseWithError(err) // nil: io.EOF for the reader
	}()
	return &logReader{PipeReader: pr, body: rc}, nil
}

// logReader closes the engine's stream along with the pipe.
type logReader struct {
	*io.PipeReader
	body io.Closer
}

func (r *logReader) Close() error {
	r.body.Close()
	return r.PipeReader.Close()
}
