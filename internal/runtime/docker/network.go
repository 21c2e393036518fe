package docker

import (
	"context"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"berth.dev/berth/internal/runtime"
)

// EnsureNetwork implements runtime.Runtime. Engines before API 1.44 (and
// before 25.0) do not refuse a second network with the same name, so calls
// for one name are serialised within this Client, and a call that creates a
// network (or finds the name ambiguous) then keeps the oldest of the
// networks with that name and removes the others it can. Two processes
// racing on one engine are thus repaired by their next call.
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	mu, _ := c.netLocks.LoadOrStore(name, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	_, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	switch {
	case err == nil:
		return nil
	case !cerrdefs.IsNotFound(err):
		// An ambiguous name (duplicates) is repaired, here or by another
		// process meanwhile; anything else is an error.
		if n, lerr := c.dedupeNetworks(ctx, name); lerr != nil || n == 0 {
			return wrap("ensure network", name, err)
		}
		return nil
	}
	_, err = c.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	if err != nil && !cerrdefs.IsConflict(err) { // conflict: created by someone else meanwhile
		return wrap("ensure network", name, err)
	}
	if _, err := c.dedupeNetworks(ctx, name); err != nil {
		return wrap("ensure network", name, err)
	}
	return nil
}

// dedupeNetworks keeps the oldest network named name (ties: lowest ID) and
// removes the others, skipping those still in use. It returns how many
// networks had the name.
func (c *Client) dedupeNetworks(ctx context.Context, name string) (int, error) {
	list, err := c.api.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", name)})
	if err != nil {
		return 0, err
	}
	same := slices.DeleteFunc(list.Items, func(n network.Summary) bool { return n.Name != name })
	if len(same) < 2 {
		return len(same), nil
	}
	slices.SortFunc(same, func(a, b network.Summary) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, n := range same[1:] {
		_, err := c.api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) && !cerrdefs.IsPermissionDenied(err) {
			return len(same), err
		}
	}
	return len(same), nil
}

// RemoveNetwork removes a network by name or ID (not part of
// runtime.Runtime: berth never removes networks while running; tests do).
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	_, err := c.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	return wrap("remove network", name, err)
}

// InspectNetwork implements runtime.Runtime.
func (c *Client) InspectNetwork(ctx context.Context, name string) (runtime.Network, error) {
	res, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return runtime.Network{}, wrap("inspect network", name, err)
	}
	n := runtime.Network{ID: res.Network.ID, Name: res.Network.Name, Labels: res.Network.Labels}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			n.Gateway = c.Gateway.String()
			break
		}
	}
	return n, nil
}
