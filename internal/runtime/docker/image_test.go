package docker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/moby/moby/api/types/jsonstream"

	"berth.dev/berth/internal/runtime"
)

// The messages are those Debian's dockerd 20.10 sends while pulling an
// image of two layers, one of which it has.
func TestPullProgress(t *testing.T) {
	msg := func(id, status string, cur, total int64) jsonstream.Message {
		m := jsonstream.Message{ID: id, Status: status}
		if cur > 0 || total > 0 {
			m.Progress = &jsonstream.Progress{Current: cur, Total: total}
		}
		return m
	}
	steps := []struct {
		msg     jsonstream.Message
		changed bool
		want    runtime.PullProgress
	}{
		{msg("1", "Pulling from app", 0, 0), false, runtime.PullProgress{}},
		{msg("a1", "Already exists", 0, 0), true, runtime.PullProgress{Layers: 1, LayersDone: 1}},
		{msg("b2", "Pulling fs layer", 0, 0), true, runtime.PullProgress{Layers: 2, LayersDone: 1}},
		{msg("b2", "Waiting", 0, 0), false, runtime.PullProgress{Layers: 2, LayersDone: 1}},
		{msg("b2", "Downloading", 1000, 4000), true, runtime.PullProgress{Layers: 2, LayersDone: 1, BytesDone: 1000, BytesTotal: 4000}},
		{msg("b2", "Downloading", 3000, 4000), true, runtime.PullProgress{Layers: 2, LayersDone: 1, BytesDone: 3000, BytesTotal: 4000}},
		{msg("b2", "Verifying Checksum", 0, 0), true, runtime.PullProgress{Layers: 2, LayersDone: 1, BytesDone: 4000, BytesTotal: 4000}},
		{msg("b2", "Download complete", 0, 0), false, runtime.PullProgress{Layers: 2, LayersDone: 1, BytesDone: 4000, BytesTotal: 4000}},
		{msg("b2", "Extracting", 32768, 4000), false, runtime.PullProgress{Layers: 2, LayersDone: 1, BytesDone: 4000, BytesTotal: 4000}},
		{msg("b2", "Pull complete", 0, 0), true, runtime.PullProgress{Layers: 2, LayersDone: 2, BytesDone: 4000, BytesTotal: 4000}},
		{msg("", "Digest: sha256:c7db", 0, 0), false, runtime.PullProgress{Layers: 2, LayersDone: 2, BytesDone: 4000, BytesTotal: 4000}},
		{msg("", "Status: Downloaded newer image for 127.0.0.1:5000/app:1", 0, 0), false, runtime.PullProgress{Layers: 2, LayersDone: 2, BytesDone: 4000, BytesTotal: 4000}},
	}
	var p pullProgress
	for i, s := range steps {
		if got := p.observe(s.msg); got != s.changed {
			t.Errorf("step %d (%s %q): changed = %v, want %v", i, s.msg.ID, s.msg.Status, got, s.changed)
		}
		if got := p.report(); got != s.want {
			t.Errorf("step %d (%s %q): progress = %+v, want %+v", i, s.msg.ID, s.msg.Status, got, s.want)
		}
	}
}

func TestPullError(t *testing.T) {
	const ref = "127.0.0.1:5000/app:1.2"
	for _, tc := range []struct {
		engine string
		want   error
	}{
		{`Head "https://10.1.2.2:5000/v2/app/manifests/1.2": no basic auth credentials`, runtime.ErrUnauthorized},
		{"unauthorized: authentication required", runtime.ErrUnauthorized},
		{"pull access denied for app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", runtime.ErrUnauthorized},
		{"manifest for 127.0.0.1:5000/app:1.2 not found: manifest unknown: manifest unknown", runtime.ErrNotFound},
		{"Get \"https://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused", nil},
	} {
		err := pullError(ref, errors.New(tc.engine))
		want := fmt.Sprintf("docker: pull %s: image could not be pulled: ", ref)
		if tc.want != nil {
			want += tc.want.Error() + ": "
		}
		if want += tc.engine; err.Error() != want {
			t.Errorf("pullError(%q) = %q, want %q", tc.engine, err, want)
		}
		for _, s := range []error{runtime.ErrUnauthorized, runtime.ErrNotFound} {
			if errors.Is(err, s) != (s == tc.want) {
				t.Errorf("pullError(%q) is %v: %v, want %v", tc.engine, s, errors.Is(err, s), s == tc.want)
			}
		}
	}
	if err := pullError(ref, context.DeadlineExceeded); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("pullError(deadline) = %v", err)
	}
}
