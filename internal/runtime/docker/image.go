package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"berth.dev/berth/internal/runtime"
)

// Pull implements runtime.Runtime. The credentials go to the engine in its
// X-Registry-Auth header; the engine's progress stream is read for
// opts.Progress and for the error it may end with.
func (c *Client) Pull(ctx context.Context, ref string, opts runtime.PullOptions) error {
	auth, err := encodeAuth(opts.Auth)
	if err != nil {
		return fmt.Errorf("docker: pull %s: %w", ref, err)
	}
	resp, err := c.api.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return pullError(ref, err)
	}
	var p pullProgress
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return pullError(ref, err)
		}
		if msg.Error != nil {
			return pullError(ref, errors.New(msg.Error.Message))
		}
		if p.observe(msg) && opts.Progress != nil {
			opts.Progress(p.report())
		}
	}
	if err := ctx.Err(); err != nil {
		return pullError(ref, err)
	}
	return nil
}

// encodeAuth is the X-Registry-Auth value of a: base64url of Docker's
// AuthConfig in JSON; "" for nil.
func encodeAuth(a *runtime.RegistryAuth) (string, error) {
	if a == nil {
		return "", nil
	}
	b, err := json.Marshal(registry.AuthConfig{
		Username:      a.Username,
		Password:      a.Password,
		IdentityToken: a.IdentityToken,
		ServerAddress: a.ServerAddress,
	})
	if err != nil {
		return "", fmt.Errorf("encode credentials: %w", err)
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// pullError wraps what the engine said of a failed pull with the runtime's
// sentinels, found in its words:
//
//   - ErrUnauthorized: "unauthorized: authentication required" (credentials
//     refused), "no basic auth credentials" (none presented), "pull access
//     denied" (Docker Hub's answer for a private or missing repository);
//   - ErrNotFound: "manifest unknown", "name unknown", "not found".
func pullError(ref string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("docker: pull %s: %w", ref, err)
	}
	if client.IsErrConnectionFailed(err) {
		return wrap("pull", ref, err)
	}
	msg := err.Error()
	var sentinel error
	switch {
	case cerrdefs.IsUnauthorized(err), cerrdefs.IsPermissionDenied(err), unauthorized(msg):
		sentinel = runtime.ErrUnauthorized
	case cerrdefs.IsNotFound(err), manifestUnknown(msg):
		sentinel = runtime.ErrNotFound
	}
	if sentinel == nil {
		return fmt.Errorf("docker: pull %s: image could not be pulled: %w", ref, err)
	}
	return fmt.Errorf("docker: pull %s: image could not be pulled: %w: %w", ref, sentinel, err)
}

func unauthorized(msg string) bool {
	for _, s := range []string{"unauthorized", "no basic auth credentials", "pull access denied", "authentication required"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func manifestUnknown(msg string) bool {
	for _, s := range []string{"manifest unknown", "name unknown", "not found"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// pullProgress follows the engine's progress messages of one pull. Every
// message with a layer's ID is about that layer: "Pulling fs layer",
// "Waiting", "Downloading" (with bytes current/total), "Verifying
// Checksum", "Download complete", "Extracting", "Pull complete", or
// "Already exists"; the first message names the tag ("Pulling from
// <repo>", its ID the tag) and the last ones have no ID ("Digest: ...",
// "Status: ...").
type pullProgress struct {
	layers map[string]*layerProgress
	order  []string
}

type layerProgress struct {
	done         bool
	bytes, total int64
}

// observe takes one message and reports whether the progress changed.
func (p *pullProgress) observe(m jsonstream.Message) bool {
	if m.ID == "" || strings.HasPrefix(m.Status, "Pulling from ") {
		return false
	}
	if p.layers == nil {
		p.layers = map[string]*layerProgress{}
	}
	l, seen := p.layers[m.ID]
	if !seen {
		l = &layerProgress{}
		p.layers[m.ID] = l
		p.order = append(p.order, m.ID)
	}
	before := *l
	switch m.Status {
	case "Downloading":
		if d := m.Progress; d != nil {
			l.bytes = d.Current
			l.total = max(l.total, d.Total)
		}
	case "Download complete", "Verifying Checksum":
		if l.total > 0 {
			l.bytes = l.total
		}
	case "Pull complete":
		l.done = true
		if l.total > 0 {
			l.bytes = l.total
		}
	case "Already exists":
		l.done = true
	}
	return !seen || *l != before
}

// report sums the layers up.
func (p *pullProgress) report() runtime.PullProgress {
	r := runtime.PullProgress{Layers: len(p.order)}
	for _, id := range p.order {
		l := p.layers[id]
		if l.done {
			r.LayersDone++
		}
		r.BytesDone += l.bytes
		r.BytesTotal += l.total
	}
	return r
}

// InspectImage implements runtime.Runtime.
func (c *Client) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	res, err := c.api.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, wrap("inspect image", ref, err)
	}
	return runtime.Image{
		ID:          res.ID,
		RepoTags:    slices.Clone(res.RepoTags),
		RepoDigests: slices.Clone(res.RepoDigests),
		Size:        res.Size,
		Created:     parseTime(res.Created),
	}, nil
}

// ListImages implements runtime.Runtime.
func (c *Client) ListImages(ctx context.Context) ([]runtime.Image, error) {
	res, err := c.api.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return nil, wrap("list images", "", err)
	}
	out := make([]runtime.Image, 0, len(res.Items))
	for _, s := range res.Items {
		out = append(out, fromSummary(s))
	}
	slices.SortFunc(out, func(a, b runtime.Image) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func fromSummary(s image.Summary) runtime.Image {
	img := runtime.Image{ID: s.ID, Size: s.Size, Created: time.Unix(s.Created, 0)}
	// The engine lists "<none>:<none>" and "<none>@<none>" for an image
	// without tags or digests.
	for _, t := range s.RepoTags {
		if !strings.HasPrefix(t, "<none>") {
			img.RepoTags = append(img.RepoTags, t)
		}
	}
	for _, d := range s.RepoDigests {
		if !strings.HasPrefix(d, "<none>") {
			img.RepoDigests = append(img.RepoDigests, d)
		}
	}
	return img
}

// RemoveImage implements runtime.Runtime.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	return wrap("remove image", ref, err)
}
