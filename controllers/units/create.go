package units

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// pullTimeout bounds one image pull.
const pullTimeout = 10 * time.Minute

// create pulls the image when the pull policy says so, then creates and
// starts the Unit's container, reporting each step in the status.
func (r *run) create(ctx context.Context) error {
	c, u := r.c, r.u
	t := &u.Spec.Container
	previous := r.previousPorts() // before the status is rewritten without them
	env, ref := c.containerEnv(t)
	if ref != nil {
		return ref
	}
	networkMode, err := c.admit(ctx, t)
	if err != nil {
		return err
	}
	// Volumes first, as kubelet mounts them before it pulls: an instance
	// whose volume cannot be made stays CREATING with why, rather than
	// showing CREATING without a message at every attempt in between.
	r.state = v1.StateCreating
	mounts, err := c.volumeMounts(t.Volumes)
	if err != nil {
		return err
	}
	if err := r.ensureImage(ctx); err != nil {
		return err
	}
	r.throttle = ""
	r.state, r.msg = v1.StateCreating, ""
	if err := r.report(ctx); err != nil {
		return err
	}
	spec := runtime.ContainerSpec{
		Name:        v1.ContainerName(r.w.kind, u.Metadata.Name, r.w.version),
		Image:       t.Image,
		Entrypoint:  t.Command,
		Cmd:         t.Args,
		Labels:      map[string]string{},
		Mounts:      mounts,
		WorkingDir:  t.WorkingDir,
		User:        t.User,
		Hostname:    t.Hostname,
		NetworkMode: networkMode,
		StopSignal:  t.StopSignal,
		Env:         env,
		Security:    security(t),
	}
	if t.StopTimeout != nil {
		spec.StopTimeout = t.StopTimeout.Duration
	}
	spec.CPUs, _ = t.Resources.CPUs.Value()
	spec.MemoryBytes, _ = t.Resources.Memory.Bytes()
	for k, v := range t.Labels {
		spec.Labels[k] = v
	}
	spec.Labels[v1.LabelHost] = c.o.Host
	spec.Labels[v1.LabelKind] = r.w.kind
	if r.w.version != "" {
		spec.Labels[v1.LabelVersion] = r.w.version
	}
	spec.Labels[v1.LabelName] = u.Metadata.Name
	spec.Labels[v1.LabelSpecHash] = v1.TemplateHash(t)
	if u.Spec.GracePeriod != nil && u.Spec.GracePeriod.Duration > 0 {
		spec.Labels[LabelGracePeriod] = u.Spec.GracePeriod.Duration.String()
	}
	if t.NetworkMode == "" {
		if err := c.ensureNetwork(ctx); err != nil {
			return err
		}
		spec.Network = v1.NetworkName
		spec.Aliases = []string{u.Metadata.Name}
	}
	if err := c.setDNS(ctx, t, &spec); err != nil {
		return err
	}
	spec.Env = append(spec.Env, "BERTH_HOST="+c.o.Host)
	if r.w.kind == v1.KindJob {
		spec.Env = append(spec.Env, "BERTH_JOB="+u.Metadata.Name, "BERTH_JOB_VERSION="+r.w.version)
	} else {
		spec.Env = append(spec.Env, "BERTH_UNIT="+u.Metadata.Name)
	}
	if t.NetworkMode != "host" && !strings.HasPrefix(t.NetworkMode, "container:") && t.NetworkMode != "none" {
		ports, err := c.ports.assign(r.w.key, t.Ports, previous)
		if err != nil {
			return err
		}
		spec.Ports = ports
		for i, p := range ports {
			spec.Env = append(spec.Env, portEnv(t.Ports[i])+"="+strconv.Itoa(p.HostPort))
		}
	}

	id, err := c.o.Runtime.Create(ctx, spec)
	if errors.Is(err, runtime.ErrConflict) {
		ctr, ierr := c.o.Runtime.Inspect(ctx, spec.Name)
		switch {
		case ierr == nil && ctr.Labels[v1.LabelHost] != c.o.Host && ctr.Labels[v1.LabelHost] != "" &&
			ctr.Labels[v1.LabelKind] == r.w.kind && ctr.Labels[v1.LabelName] == u.Metadata.Name:
			// Several hosts share this engine (test rigs, hosts in network
			// namespaces): the instance of another host has the name, so
			// this host's takes the name with its host appended, which is as
			// unique, and as stable across crashes.
			spec.Name += "-" + c.o.Host
			id, err = c.o.Runtime.Create(ctx, spec)
			if errors.Is(err, runtime.ErrConflict) {
				return fmt.Errorf("create %s: the container exists already; looking again", spec.Name)
			}
		case ierr == nil && ctr.Labels[v1.LabelHost] != c.o.Host:
			return fmt.Errorf("container name %s is taken by a container berth does not own on this host: remove it", spec.Name)
		default:
			return fmt.Errorf("create %s: the container exists already; looking again", spec.Name)
		}
	}
	if err != nil {
		r.event(ctx, v1.EventWarning, "Failed", "create container: %v", err)
		return fmt.Errorf("create container: %w", err)
	}
	c.mu.Lock()
	r.in.createdID = id
	c.mu.Unlock()
	r.event(ctx, v1.EventNormal, "Created", "container %s created from %s", short(id), t.Image)
	r.state = v1.StateStarting
	if err := r.report(ctx); err != nil {
		return err
	}
	noteStart(&r.in.mem, time.Now(), u, false)
	if err := c.o.Runtime.Start(ctx, id); err != nil {
		r.event(ctx, v1.EventWarning, "Failed", "start container %s: %v", short(id), err)
		return fmt.Errorf("start container %s: %w", short(id), err)
	}
	r.event(ctx, v1.EventNormal, "Started", "container %s started", short(id))
	return r.observe(ctx, id)
}

// ensureImage pulls the image when the pull policy asks for it.
func (r *run) ensureImage(ctx context.Context) error {
	c, t := r.c, &r.u.Spec.Container
	r.state = v1.StatePullingImage // as Helios shows it: throttled until the image is there
	present, err := c.o.Runtime.ImageExists(ctx, t.Image)
	if err != nil {
		return fmt.Errorf("look for image %s: %w", t.Image, err)
	}
	switch {
	case t.PullPolicy == v1.PullNever && !present:
		r.throttle = v1.ThrottleImageMissing
		r.event(ctx, v1.EventWarning, "ErrImageNeverPull", "image %s is not present on this host and pullPolicy is Never", t.Image)
		return fmt.Errorf("image %s is not present on this host and pullPolicy is Never", t.Image)
	case t.PullPolicy == v1.PullAlways || !present:
		r.state, r.msg = v1.StatePullingImage, "pulling "+t.Image
		if err := r.report(ctx); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, pullTimeout)
		defer cancel()
		start := time.Now()
		err := c.o.Runtime.Pull(pctx, t.Image)
		c.o.BerthMetrics.ImagePulled(time.Since(start), err)
		if err != nil {
			r.throttle = v1.ThrottleImagePullFailed
			r.event(ctx, v1.EventWarning, "Failed", "pull %s: %v", t.Image, err)
			return fmt.Errorf("pull %s: %w", t.Image, err)
		}
		r.event(ctx, v1.EventNormal, "Pulled", "image %s pulled in %s", t.Image, time.Since(start).Round(time.Millisecond))
	}
	return nil
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

// portEnv is the variable that tells the container its published port:
// BERTH_PORT_<NAME>, or BERTH_PORT_<containerPort> for an unnamed port.
func portEnv(p v1.Port) string {
	n := p.Name
	if n == "" {
		n = strconv.Itoa(p.ContainerPort)
	}
	return "BERTH_PORT_" + strings.ToUpper(strings.ReplaceAll(n, "-", "_"))
}

func (c *Controller) ensureNetwork(ctx context.Context) error {
	c.networkOnce.Lock()
	defer c.networkOnce.Unlock()
	if c.networkOK {
		return nil
	}
	if err := c.o.Runtime.EnsureNetwork(ctx, v1.NetworkName, map[string]string{v1.Group + "/network": "true"}); err != nil {
		return fmt.Errorf("network %s: %w", v1.NetworkName, err)
	}
	c.networkOK = true
	return nil
}

// volumeMounts returns the mounts of the volumes, checking or creating
// each hostPath as its type asks. A hostPath is resolved and checked
// against the policy, its allowed directory created when missing, the
// path made inside that directory without ever leaving it (a link swapped
// in since cannot make it create anything elsewhere), checked again, and
// mounted where it leads then. A path the policy does not allow is a
// *refusal; one this host cannot make or use (its allowed directory cannot
// be created, a file is in the way) is a *hostProblem saying what to do.
//
// The engine follows the path again when it mounts it: a link swapped in
// between the last check and the mount, by a container that has a
// directory above the path mounted read-write, is still followed. That
// window is small; closing it would need the engine to mount an open
// directory rather than a path.
func (c *Controller) volumeMounts(vols []v1.Volume) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for i, v := range vols {
		if v.Name != "" {
			out = append(out, runtime.Mount{Type: runtime.MountVolume, Source: v.Name, Target: v.ContainerPath, ReadOnly: v.ReadOnly})
			continue
		}
		field := fmt.Sprintf("volumes[%d].hostPath", i)
		chk := c.o.Policy.checkHostPath(v.HostPath)
		if err := c.checked(field, v, chk, nil); err != nil {
			return nil, err
		}
		if _, err := makeDir(chk.dir); err != nil {
			return nil, c.allowedDirProblem(field, v, chk.dir, err)
		}
		err := prepareHostPath(chk.dir, chk.resolved, v.Type)
		// Checked again, whether or not that worked: a link swapped in
		// that leads out is what to report, rather than the error it
		// caused.
		again := c.o.Policy.checkHostPath(v.HostPath)
		if err := c.checked(field, v, again, err); err != nil {
			return nil, err
		}
		out = append(out, runtime.Mount{Type: runtime.MountBind, Source: again.resolved, Target: v.ContainerPath, ReadOnly: v.ReadOnly})
	}
	return out, nil
}

// checked returns the error of a hostPath volume (field names it) that chk
// found refused (a *refusal) or out of reach, or that preparing it failed
// with (prepared, a *hostProblem); nil when it may be mounted.
func (c *Controller) checked(field string, v v1.Volume, chk hostPathCheck, prepared error) error {
	switch {
	case chk.denied != "":
		return c.denied("%s %s", field, chk.denied)
	case chk.unreachable != nil:
		return c.hostPathProblem(field, v, chk.dir, chk.unreachable)
	case prepared != nil:
		return c.hostPathProblem(field, v, chk.dir, prepared)
	}
	return nil
}

// prepareHostPath creates path as typ asks, then checks it is what typ
// asks, through dir opened as an os.Root: path is inside dir, and what is
// made or looked at stays inside dir even when a symbolic link that leads
// out is swapped into path meanwhile.
func prepareHostPath(dir, path string, typ v1.HostPathType) error {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return unwrapPath(err)
	}
	defer root.Close()
	switch typ {
	case v1.HostPathDirectoryOrCreate:
		if err = root.MkdirAll(rel, 0o755); errors.Is(err, fs.ErrExist) {
			err = nil // something else is there: looked at below
		}
	case v1.HostPathFileOrCreate:
		if err = root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
			break
		}
		// O_EXCL: a file there already is not opened (it may be a pipe
		// that would block), only looked at below.
		var f *os.File
		if f, err = root.OpenFile(rel, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		} else if errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		return unwrapPath(err)
	}
	fi, err := root.Stat(rel)
	switch {
	case err != nil:
	case (typ == v1.HostPathDirectoryOrCreate || typ == v1.HostPathDirectory) && !fi.IsDir():
		err = errNotADirectory
	case (typ == v1.HostPathFileOrCreate || typ == v1.HostPathFile) && fi.IsDir():
		err = errNotAFile
	}
	return unwrapPath(err)
}
