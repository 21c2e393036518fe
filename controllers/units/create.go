package units

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// create makes the instance's container and starts it. What the host
// refuses or cannot provide (env files, volumes, network, image) stops it
// before anything is created; then it is CREATING while the container is
// made (containerSpec) and STARTING while it starts.
func (r *run) create(ctx context.Context) error {
	c, t := r.c, &r.u.Spec.Container
	previous := r.previousPorts() // before the status is rewritten without them
	facts, err := r.hostFacts(ctx)
	if err != nil {
		return err
	}
	r.laps.lap("hostFacts")
	if err := r.ensureImage(ctx); err != nil {
		return err
	}
	r.laps.lap("image")
	r.throttle = ""
	r.enter(ctx, v1.StateCreating, "")
	if t.NetworkMode == "" {
		if err := c.network.ensure(ctx); err != nil {
			return err
		}
	}
	if facts.Resolver, err = c.resolver(ctx); err != nil {
		return err
	}
	if publishes(t) {
		if facts.Ports, err = c.ports.assign(r.w.key, t.Ports, previous); err != nil {
			return err
		}
	}
	r.laps.lap("network")
	id, err := r.createContainer(ctx, containerSpec(r.w, facts))
	if err != nil {
		if t.NetworkMode == "" && errors.Is(err, runtime.ErrNotFound) {
			c.network.forget() // removed since it was made: made again at the next attempt
		}
		return err
	}
	r.laps.lap("create")
	c.instances.created(r.in, id)
	r.event(ctx, v1.EventNormal, "Created", "container %s created from %s", short(id), t.Image)
	r.enter(ctx, v1.StateStarting, "")
	noteStart(&r.in.mem, time.Now(), r.u, false)
	if err := c.o.Runtime.Start(ctx, id); err != nil {
		r.event(ctx, v1.EventWarning, "Failed", "start container %s: %v", short(id), err)
		return r.startFailed(ctx, id, fmt.Errorf("start container %s: %w", short(id), err))
	}
	r.laps.lap("start")
	r.started = true
	r.event(ctx, v1.EventNormal, "Started", "container %s started", short(id))
	return r.observe(ctx, id)
}

// startFailed handles a start the engine refused. When it refused a host
// port berth chose, held by something berth could not see (a container
// of another controller sharing the engine, or a port Docker publishes
// without its userland proxy, where nothing listens), the container is
// removed and its ports given up: the next attempt creates it on others,
// as Nomad places a task whose dynamic port was taken again, rather than
// starting the same container on the same port for ever.
func (r *run) startFailed(ctx context.Context, id string, err error) error {
	c := r.c
	if !errors.Is(err, runtime.ErrPortAllocated) || !c.ports.refuse(r.w.key, r.u.Spec.Container.Ports) {
		return err
	}
	if rerr := c.o.Runtime.Remove(ctx, id); rerr != nil && !errors.Is(rerr, runtime.ErrNotFound) {
		return fmt.Errorf("%w; remove it to choose other host ports: %w", err, rerr)
	}
	c.ports.release(r.w.key)
	if r.cur != nil && r.cur.ID == id {
		r.cur = nil
	}
	r.event(ctx, v1.EventWarning, "PortTaken", "container %s removed: a host port berth chose is taken; other ports are chosen", short(id))
	return fmt.Errorf("%w; the container is removed and made again on other host ports", err)
}

// hostFacts reads the template's env files, admits its volumes and
// network mode (a *refusal when the policy refuses them) and makes its
// hostPath volumes (a *hostProblem when the host cannot). Volumes come
// first, as kubelet mounts them before it pulls: an instance whose volume
// cannot be made stays CREATING with why, rather than showing CREATING
// without a message at every attempt in between.
func (r *run) hostFacts(ctx context.Context) (hostFacts, error) {
	c, t := r.c, &r.u.Spec.Container
	f := hostFacts{Host: c.o.Host}
	var ref *refusal
	if f.Env, ref = c.containerEnv(t); ref != nil {
		return f, ref
	}
	var err error
	if f.NetworkMode, err = c.admit(ctx, t); err != nil {
		return f, err
	}
	r.state = v1.StateCreating
	f.Mounts, err = c.volumeMounts(t.Volumes)
	return f, err
}

// createContainer creates the container, under its name or, when another
// host's instance on the same engine has the name, with this host's
// appended.
func (r *run) createContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	c := r.c
	id, err := c.o.Runtime.Create(ctx, spec)
	if errors.Is(err, runtime.ErrConflict) {
		ctr, ierr := c.o.Runtime.Inspect(ctx, spec.Name)
		switch {
		case ierr == nil && ctr.Labels[v1.LabelHost] != c.o.Host && ctr.Labels[v1.LabelHost] != "" &&
			ctr.Labels[v1.LabelKind] == r.w.kind && ctr.Labels[v1.LabelName] == r.name:
			// Several hosts share this engine (test rigs, hosts in network
			// namespaces): the instance of another host has the name, so
			// this host's takes the name with its host appended, which is as
			// unique, and as stable across crashes.
			spec.Name += "-" + c.o.Host
			id, err = c.o.Runtime.Create(ctx, spec)
			if errors.Is(err, runtime.ErrConflict) {
				return "", fmt.Errorf("create %s: the container exists already; looking again", spec.Name)
			}
		case ierr == nil && ctr.Labels[v1.LabelHost] != c.o.Host:
			return "", fmt.Errorf("container name %s is taken by a container berth does not own on this host: remove it", spec.Name)
		default:
			return "", fmt.Errorf("create %s: the container exists already; looking again", spec.Name)
		}
	}
	if err != nil {
		r.event(ctx, v1.EventWarning, "Failed", "create container: %v", err)
		return "", fmt.Errorf("create container: %w", err)
	}
	return id, nil
}

// previousPorts returns the host ports the instance had, to keep them.
func (r *run) previousPorts() map[string]int {
	out := map[string]int{}
	if r.in.status != nil {
		for _, p := range r.in.status.Ports {
			out[fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)] = p.HostPort
		}
	}
	return out
}

// network is berth's Docker network, made the first time a container
// needs it (and again after a failure).
type network struct {
	rt runtime.Runtime
	mu sync.Mutex
	ok bool
}

func (n *network) ensure(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ok {
		return nil
	}
	if err := n.rt.EnsureNetwork(ctx, v1.NetworkName, map[string]string{v1.Group + "/network": "true"}); err != nil {
		return fmt.Errorf("network %s: %w", v1.NetworkName, err)
	}
	n.ok = true
	return nil
}

// forget makes the next ensure ask the engine again.
func (n *network) forget() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ok = false
}
