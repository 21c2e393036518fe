package units

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// Labels berth puts on the Docker networks and named volumes it creates.
// Unless the operator lists them (--allowed-networks, --allowed-volumes),
// a container may use only networks and volumes that carry them: a Docker
// volume or network of another application on the host holds that
// application's data and traffic.
const (
	labelNetwork = v1.Group + "/network"
	labelVolume  = v1.Group + "/volume"
)

// allowAny, in --allowed-volumes or --allowed-networks, allows every one.
const allowAny = "*"

func listed(allowed []string, name string) bool {
	return slices.Contains(allowed, name) || slices.Contains(allowed, allowAny)
}

// userNetwork reports whether a network mode names a Docker network, as
// opposed to the engine's own modes (its bridge, none), the host's network
// and another container's, which have rules of their own.
func userNetwork(mode string) bool {
	switch mode {
	case "", "bridge", "default", "none", "host":
		return false
	}
	return !strings.HasPrefix(mode, "container:")
}

// refuseForeign returns why this host refuses the named volumes and the
// network a template asks for, or nil: a volume or network that exists,
// that berth did not create and that the operator does not list. A volume
// that does not exist yet is not refused: berth creates it (admit). It
// only asks the engine; an engine that does not answer is an error.
func (c *Controller) refuseForeign(ctx context.Context, t *v1.ContainerTemplate) (*refusal, error) {
	for i, v := range t.Volumes {
		if v.Name == "" || listed(c.o.Policy.AllowedVolumes, v.Name) {
			continue
		}
		vol, err := c.o.Runtime.InspectVolume(ctx, v.Name)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		case vol.Labels[labelVolume] == "":
			return c.foreignVolume(i, v.Name), nil
		}
	}
	return c.refuseNetwork(ctx, t.NetworkMode)
}

// refuseNetwork returns why this host refuses a networkMode naming a
// Docker network berth did not create, or nil. A network that does not
// exist is not refused: the create fails, and is tried again.
func (c *Controller) refuseNetwork(ctx context.Context, mode string) (*refusal, error) {
	if !userNetwork(mode) || listed(c.o.Policy.AllowedNetworks, mode) {
		return nil, nil
	}
	n, err := c.o.Runtime.InspectNetwork(ctx, mode)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("networkMode %s: %w", mode, err)
	case n.Name == "host" && !c.o.Policy.AllowHostNetwork:
		// The host's network named by its ID.
		return c.denied("networkMode %s is the host's network (controller --allow-host-network)", mode), nil
	case n.Name == "host", n.Name == "bridge", n.Name == "none", n.Labels[labelNetwork] != "":
		return nil, nil
	}
	return c.denied("networkMode %s is a Docker network berth did not create (controller --allowed-networks: %s)",
		mode, listOrNone(c.o.Policy.AllowedNetworks)), nil
}

func (c *Controller) foreignVolume(i int, name string) *refusal {
	return c.denied("volumes[%d].name %s is a Docker volume berth did not create (controller --allowed-volumes: %s)",
		i, name, listOrNone(c.o.Policy.AllowedVolumes))
}

// admit makes ready, when a container is about to be created, what the
// template asks of the engine beyond its image, as the policy allows: it
// creates the named volumes that do not exist yet, labelled as berth's,
// refuses a volume or network that berth did not create and that the
// operator does not list, and returns the network mode to create the
// container with (joinNetwork). Refusals are *refusal; an engine that does
// not answer is an error to retry.
func (c *Controller) admit(ctx context.Context, t *v1.ContainerTemplate) (string, error) {
	for i, v := range t.Volumes {
		if v.Name == "" || listed(c.o.Policy.AllowedVolumes, v.Name) {
			continue
		}
		// Made here rather than by the engine at create, which would make
		// it without labels: the answer says whether it was berth's.
		vol, err := c.o.Runtime.EnsureVolume(ctx, v.Name, map[string]string{labelVolume: "true", v1.LabelHost: c.o.Host})
		if err != nil {
			return "", fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if vol.Labels[labelVolume] == "" {
			return "", c.foreignVolume(i, v.Name)
		}
	}
	ref, err := c.refuseNetwork(ctx, t.NetworkMode)
	if err != nil {
		return "", err
	}
	if ref != nil {
		return "", ref
	}
	return c.joinNetwork(ctx, t.NetworkMode)
}
