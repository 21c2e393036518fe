package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"berth.dev/berth/internal/runtime"
)

// DefaultHost is the engine's usual socket.
const DefaultHost = "unix:///var/run/docker.sock"

// defaultStopTimeout is Docker's own default grace period.
const defaultStopTimeout = 10 * time.Second

var _ runtime.Runtime = (*Client)(nil)

// Client is a runtime.Runtime on a Docker engine. It is safe for concurrent
// use. Make one with New and Close it when done.
type Client struct {
	api      *client.Client
	host     string
	netLocks sync.Map // network name -> *sync.Mutex, see EnsureNetwork
}

// New returns a Client for host ("unix:///var/run/docker.sock",
// "tcp://127.0.0.1:2375"; "" means DefaultHost). It does not contact the
// engine: the API version is negotiated on the first call, so a controller
// can start while Docker is down.
func New(host string) (*Client, error) {
	host = cmp.Or(host, DefaultHost)
	api, err := client.New(client.WithHost(host))
	if err != nil {
		return nil, fmt.Errorf("docker: client for %s: %w", host, err)
	}
	return &Client{api: api, host: host}, nil
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.api.Close() }

// APIVersion is the negotiated API version ("" before the first call).
func (c *Client) APIVersion() string { return c.api.ClientVersion() }

// wrap turns an engine error into ours: "docker: <op> <id>: ..." wrapping
// runtime.ErrNotFound, ErrConflict or ErrUnavailable where they apply.
func wrap(op, id string, err error) error {
	if err == nil {
		return nil
	}
	what := op
	if id != "" {
		what += " " + id
	}
	var sentinel error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
	case client.IsErrConnectionFailed(err):
		sentinel = runtime.ErrUnavailable
	case cerrdefs.IsNotFound(err):
		sentinel = runtime.ErrNotFound
	case cerrdefs.IsConflict(err):
		sentinel = runtime.ErrConflict
	case portAllocated(err.Error()):
		sentinel = runtime.ErrPortAllocated
	}
	if sentinel == nil {
		return fmt.Errorf("docker: %s: %w", what, err)
	}
	return fmt.Errorf("docker: %s: %w: %w", what, sentinel, err)
}

// portAllocated reports whether the engine's error says a host port was
// taken: by its own allocator ("Bind for 0.0.0.0:8080 failed: port is
// already allocated"), or when its proxy could not listen ("Error starting
// userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use").
func portAllocated(msg string) bool {
	return strings.Contains(msg, "port is already allocated") ||
		strings.Contains(msg, "userland proxy") && strings.Contains(msg, "address already in use")
}

// Ping implements runtime.Runtime.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return wrap("ping", c.host, err)
}

// Version implements runtime.Runtime.
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", wrap("version", "", err)
	}
	return v.Version, nil
}

// List implements runtime.Runtime. It lists by label on the engine, then
// inspects each container (skipping those removed meanwhile).
func (c *Client) List(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	f := client.Filters{}
	for k, v := range opts.Labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	res, err := c.api.ContainerList(ctx, client.ContainerListOptions{All: opts.All, Filters: f})
	if err != nil {
		return nil, wrap("list", "", err)
	}
	out := make([]runtime.Container, 0, len(res.Items))
	for _, s := range res.Items {
		ct, err := c.Inspect(ctx, s.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !opts.All && ct.State != runtime.StateRunning {
			continue
		}
		out = append(out, ct)
	}
	slices.SortFunc(out, func(a, b runtime.Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Inspect implements runtime.Runtime.
func (c *Client) Inspect(ctx context.Context, id string) (runtime.Container, error) {
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.Container{}, wrap("inspect", id, err)
	}
	return fromInspect(res.Container), nil
}

// ImageExists implements runtime.Runtime.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := c.api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("inspect image", ref, err)
	}
	return true, nil
}

// Create implements runtime.Runtime.
func (c *Client) Create(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	opts, err := createOptions(spec)
	if err != nil {
		return "", fmt.Errorf("docker: create %s: %w", spec.Name, err)
	}
	// Engines before 25.0 accept a missing network at create and fail at
	// start; check first so the error comes where the fake gives it.
	if n := string(opts.HostConfig.NetworkMode); userNetwork(n) {
		if _, err := c.api.NetworkInspect(ctx, n, client.NetworkInspectOptions{}); err != nil {
			return "", wrap("create", spec.Name, fmt.Errorf("network %s: %w", n, err))
		}
	}
	res, err := c.api.ContainerCreate(ctx, opts)
	if err != nil {
		return "", wrap("create", spec.Name, err)
	}
	return res.ID, nil
}

// createOptions translates our spec into Docker's; no restart policy is set.
func createOptions(spec runtime.ContainerSpec) (client.ContainerCreateOptions, error) {
	cfg := &container.Config{
		Image:      spec.Image,
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		Env:        spec.Env,
		Labels:     spec.Labels,
		WorkingDir: spec.WorkingDir,
		User:       spec.User,
		Hostname:   spec.Hostname,
		StopSignal: spec.StopSignal,
	}
	if spec.StopTimeout > 0 {
		secs := int(math.Ceil(spec.StopTimeout.Seconds()))
		cfg.StopTimeout = &secs
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(cmp.Or(spec.NetworkMode, spec.Network)),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			NanoCPUs: int64(math.Round(spec.CPUs * 1e9)),
			Memory:   spec.MemoryBytes,
		},
		Privileged:     spec.Security.Privileged,
		CapAdd:         slices.Clone(spec.Security.CapAdd),
		CapDrop:        slices.Clone(spec.Security.CapDrop),
		ReadonlyRootfs: spec.Security.ReadOnlyRootfs,
	}
	if spec.Security.NoNewPrivileges {
		host.SecurityOpt = []string{noNewPrivileges}
	}
	for _, ns := range spec.DNS.Nameservers {
		ip, err := parseAddr(ns)
		if err != nil {
			return client.ContainerCreateOptions{}, fmt.Errorf("dns nameserver: %w", err)
		}
		host.DNS = append(host.DNS, ip)
	}
	host.DNSSearch, host.DNSOptions = slices.Clone(spec.DNS.Searches), slices.Clone(spec.DNS.Options)
	if spec.Network != "" && spec.NetworkMode != "" && spec.NetworkMode != spec.Network {
		return client.ContainerCreateOptions{}, fmt.Errorf("network %q conflicts with network mode %q", spec.Network, spec.NetworkMode)
	}
	for _, p := range spec.Ports {
		proto := network.IPProtocol(cmp.Or(p.Protocol, runtime.TCP))
		if proto != network.TCP && proto != network.UDP {
			return client.ContainerCreateOptions{}, fmt.Errorf("port %d: protocol %q is neither tcp nor udp", p.ContainerPort, p.Protocol)
		}
		if p.ContainerPort <= 0 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			return client.ContainerCreateOptions{}, fmt.Errorf("port %d:%d out of range", p.HostPort, p.ContainerPort)
		}
		port, _ := network.PortFrom(uint16(p.ContainerPort), proto)
		b := network.PortBinding{}
		if p.HostPort != 0 {
			b.HostPort = fmt.Sprint(p.HostPort)
		}
		if p.HostIP != "" {
			ip, err := parseAddr(p.HostIP)
			if err != nil {
				return client.ContainerCreateOptions{}, fmt.Errorf("port %d: host IP: %w", p.ContainerPort, err)
			}
			b.HostIP = ip
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
			host.PortBindings = network.PortMap{}
		}
		cfg.ExposedPorts[port] = struct{}{}
		host.PortBindings[port] = append(host.PortBindings[port], b)
	}
	for _, m := range spec.Mounts {
		t := mount.Type(m.Type)
		if t == "" {
			t = mount.TypeVolume
			if strings.HasPrefix(m.Source, "/") {
				t = mount.TypeBind
			}
		}
		if t != mount.TypeBind && t != mount.TypeVolume {
			return client.ContainerCreateOptions{}, fmt.Errorf("mount %s: type %q is neither bind nor volume", m.Target, m.Type)
		}
		host.Mounts = append(host.Mounts, mount.Mount{Type: t, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	opts := client.ContainerCreateOptions{Name: spec.Name, Config: cfg, HostConfig: host}
	if spec.Network != "" {
		opts.NetworkingConfig = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			spec.Network: {Aliases: spec.Aliases},
		}}
	}
	return opts, nil
}

// noNewPrivileges is the security option that sets no_new_privs on the
// container's processes.
const noNewPrivileges = "no-new-privileges"

// userNetwork reports whether a network mode names a user-defined network.
func userNetwork(mode string) bool {
	switch mode {
	case "", "bridge", "host", "none", "default":
		return false
	}
	return !strings.HasPrefix(mode, "container:")
}

// Start implements runtime.Runtime.
func (c *Client) Start(ctx context.Context, id string) error {
	_, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return wrap("start", id, err)
}

// Remove implements runtime.Runtime.
func (c *Client) Remove(ctx context.Context, id string) error {
	_, err := c.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return wrap("remove", id, err)
}
