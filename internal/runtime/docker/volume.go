package docker

import (
	"context"

	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"berth.dev/berth/internal/runtime"
)

// InspectVolume implements runtime.Runtime.
func (c *Client) InspectVolume(ctx context.Context, name string) (runtime.Volume, error) {
	res, err := c.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err != nil {
		return runtime.Volume{}, wrap("inspect volume", name, err)
	}
	return fromVolume(res.Volume), nil
}

// EnsureVolume implements runtime.Runtime. The engine answers a create of
// a name that exists with the volume that exists (its labels unchanged),
// so a race of two creates leaves one volume, and the answer says whose
// it is.
func (c *Client) EnsureVolume(ctx context.Context, name string, labels map[string]string) (runtime.Volume, error) {
	res, err := c.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Driver: "local", Labels: labels})
	if err != nil {
		return runtime.Volume{}, wrap("ensure volume", name, err)
	}
	return fromVolume(res.Volume), nil
}

// RemoveVolume removes a named volume (not part of runtime.Runtime: berth
// never removes volumes, whose data outlives containers; tests do).
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	_, err := c.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
	return wrap("remove volume", name, err)
}

func fromVolume(v volume.Volume) runtime.Volume {
	return runtime.Volume{Name: v.Name, Labels: v.Labels}
}
