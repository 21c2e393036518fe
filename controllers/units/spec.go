package units

import (
	"strconv"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// hostFacts are what this host decided or looked up for one container
// before it is created; containerSpec takes them as given.
type hostFacts struct {
	// Host is this host's name (BERTH_HOST, the host label).
	Host string
	// Env is the template's environment with valueFrom files read.
	Env []string
	// NetworkMode is the template's, as admit let it through (a
	// container:<x> names x by its ID).
	NetworkMode string
	// Mounts are the template's volumes, hostPaths resolved.
	Mounts []runtime.Mount
	// Ports are the template's ports with their host ports, one for each
	// of the template's ports in its order; nil when the network mode
	// publishes none (publishes).
	Ports []runtime.PortBinding
	// Resolver is what the host's containers resolve names with; nil when
	// its controller serves no container DNS (containerDNS).
	Resolver *Resolver
}

// containerSpec is the container berth creates for a workload on this
// host: the template, berth's labels (which win over the template's), the
// BERTH_* environment after the template's, berth's network with the
// object's name as an alias unless the template names a network mode, the
// resolver containerDNS says. It does no I/O.
func containerSpec(w *workload, f hostFacts) runtime.ContainerSpec {
	u := w.unit
	t := &u.Spec.Container
	dns, dnsEnv := containerDNS(t, f.Resolver)
	spec := runtime.ContainerSpec{
		Name:        v1.ContainerName(w.kind, u.Metadata.Name, w.version),
		Image:       t.Image,
		Entrypoint:  t.Command,
		Cmd:         t.Args,
		Labels:      containerLabels(w, f.Host),
		Mounts:      f.Mounts,
		WorkingDir:  t.WorkingDir,
		User:        t.User,
		Hostname:    t.Hostname,
		NetworkMode: f.NetworkMode,
		StopSignal:  t.StopSignal,
		Env:         containerEnviron(w, f, dnsEnv),
		Security:    security(t),
		Ports:       f.Ports,
		DNS:         dns,
	}
	if t.StopTimeout != nil {
		spec.StopTimeout = t.StopTimeout.Duration
	}
	spec.CPUs, _ = t.Resources.CPUs.Value()
	spec.MemoryBytes, _ = t.Resources.Memory.Bytes()
	if t.NetworkMode == "" {
		spec.Network = v1.NetworkName
		spec.Aliases = []string{u.Metadata.Name}
	}
	return spec
}

// containerLabels are the template's labels and berth's: the host, the
// object, its version, its template's hash and its grace period.
func containerLabels(w *workload, host string) map[string]string {
	u := w.unit
	labels := map[string]string{}
	for k, v := range u.Spec.Container.Labels {
		labels[k] = v
	}
	labels[v1.LabelHost] = host
	labels[v1.LabelKind] = w.kind
	if w.version != "" {
		labels[v1.LabelVersion] = w.version
	}
	labels[v1.LabelName] = u.Metadata.Name
	labels[v1.LabelSpecHash] = v1.TemplateHash(&u.Spec.Container)
	if u.Spec.GracePeriod != nil && u.Spec.GracePeriod.Duration > 0 {
		labels[LabelGracePeriod] = u.Spec.GracePeriod.Duration.String()
	}
	return labels
}

// containerEnviron is the template's environment, then the resolver's
// (dnsEnv), BERTH_HOST, BERTH_UNIT (or BERTH_JOB and BERTH_JOB_VERSION, or
// BERTH_TIMER and BERTH_TIMER_RUN)
// and a BERTH_PORT_<NAME> for each published port.
func containerEnviron(w *workload, f hostFacts, dnsEnv []string) []string {
	u := w.unit
	env := append([]string(nil), f.Env...)
	env = append(env, dnsEnv...)
	env = append(env, "BERTH_HOST="+f.Host)
	switch w.kind {
	case v1.KindJob:
		env = append(env, "BERTH_JOB="+u.Metadata.Name, "BERTH_JOB_VERSION="+w.version)
	case v1.KindTimer:
		env = append(env, "BERTH_TIMER="+u.Metadata.Name, "BERTH_TIMER_RUN="+w.version)
	default:
		env = append(env, "BERTH_UNIT="+u.Metadata.Name)
	}
	for i, p := range f.Ports {
		env = append(env, portEnv(u.Spec.Container.Ports[i])+"="+strconv.Itoa(p.HostPort))
	}
	return env
}

// publishes reports whether a container of the template publishes its
// ports on the host: not on the host's network, another container's or
// none.
func publishes(t *v1.ContainerTemplate) bool {
	return t.NetworkMode != "host" && !strings.HasPrefix(t.NetworkMode, "container:") && t.NetworkMode != "none"
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
