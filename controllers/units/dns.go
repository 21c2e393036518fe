package units

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// Resolver is what this host's containers resolve names with: its
// controller's container DNS (controller --container-dns).
type Resolver struct {
	// Nameserver is the IP address where the controller answers DNS on
	// port 53, for its containers.
	Nameserver string
	// Search is the search domain, service.<domain> without the final
	// dot: "files" then names files.service.berth.
	Search string
	// HTTPAddress is where the controller's Consul-compatible API answers
	// its containers, host:port; "" when it does not.
	HTTPAddress string
}

// ConsulHTTPAddr is the variable that Consul's clients (its CLI, its Go
// API, most libraries) find their agent's HTTP API by. berth sets it in
// the containers its controller's container DNS serves, unless their
// template sets it.
const ConsulHTTPAddr = "CONSUL_HTTP_ADDR"

// containerDNS returns the resolver configuration, and the variables to
// add, of a container of t that resolves through r (nil: the host's
// controller serves no container DNS).
//
//   - networkMode host keeps the host's resolver, and none has no network:
//     r is not given to either; t.DNS still applies.
//   - networkMode container:<x> shares the resolver of the container it
//     joins: nothing is set (validation refuses t.DNS with it).
//   - Otherwise (berth's network, Docker's bridge, another network) the
//     container's nameserver is r's and its search domain r's, each unless
//     t.DNS gives its own; t.DNS's options are added either way; and
//     CONSUL_HTTP_ADDR names r's HTTP address unless t's env sets it.
func containerDNS(t *v1.ContainerTemplate, r *Resolver) (runtime.DNS, []string) {
	mode := t.NetworkMode
	if strings.HasPrefix(mode, "container:") {
		return runtime.DNS{}, nil
	}
	var d runtime.DNS
	var env []string
	if r != nil && mode != "host" && mode != "none" {
		d.Nameservers = []string{r.Nameserver}
		d.Searches = []string{r.Search}
		if r.HTTPAddress != "" && !slices.ContainsFunc(t.Env, func(e v1.EnvVar) bool { return e.Name == ConsulHTTPAddr }) {
			env = []string{ConsulHTTPAddr + "=" + r.HTTPAddress}
		}
	}
	if c := t.DNS; c != nil {
		if len(c.Nameservers) > 0 {
			d.Nameservers = slices.Clone(c.Nameservers)
		}
		if len(c.Searches) > 0 {
			d.Searches = slices.Clone(c.Searches)
		}
		for _, o := range c.Options {
			d.Options = append(d.Options, o.String())
		}
	}
	return d, env
}

// resolver returns what the host's containers resolve names with
// (Options.Resolver), nil when its controller serves no container DNS.
func (c *Controller) resolver(ctx context.Context) (*Resolver, error) {
	if c.o.Resolver == nil {
		return nil, nil
	}
	r, err := c.o.Resolver(ctx)
	if err != nil {
		return nil, fmt.Errorf("container DNS: %w", err)
	}
	return &r, nil
}
