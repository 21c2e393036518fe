package docker

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"berth.dev/berth/internal/runtime"
)

// fromInspect translates Docker's view of a container into ours.
func fromInspect(in container.InspectResponse) runtime.Container {
	out := runtime.Container{
		ID:      in.ID,
		Name:    strings.TrimPrefix(in.Name, "/"),
		ImageID: in.Image,
		Created: parseTime(in.Created),
		Health:  runtime.HealthNone,
		Labels:  map[string]string{},
	}
	if cfg := in.Config; cfg != nil {
		out.Image = cfg.Image
		out.Env = slices.Clone(cfg.Env)
		for k, v := range cfg.Labels {
			out.Labels[k] = v
		}
	}
	if s := in.State; s != nil {
		out.State = state(s.Status)
		out.ExitCode = s.ExitCode
		out.OOMKilled = s.OOMKilled
		out.StartedAt = parseTime(s.StartedAt)
		out.FinishedAt = parseTime(s.FinishedAt)
		if s.Health != nil {
			out.Health = health(s.Health.Status)
		}
		if out.State == runtime.StateRunning && !out.FinishedAt.Before(out.StartedAt) {
			out.FinishedAt = time.Time{}
		}
	}
	if hc := in.HostConfig; hc != nil {
		out.Security = security(hc)
		out.NetworkMode = networkMode(hc.NetworkMode)
		out.DNS = dnsConfig(hc)
	}
	if ns := in.NetworkSettings; ns != nil {
		out.Ports = ports(ns.Ports)
		mode := ""
		if in.HostConfig != nil {
			mode = string(in.HostConfig.NetworkMode)
		}
		out.IPAddress = ipAddress(ns, mode)
	}
	return out
}

// networkMode reads back the network mode; Docker keeps "default" for a
// container created without one.
func networkMode(m container.NetworkMode) string {
	if m == "default" {
		return ""
	}
	return string(m)
}

// dnsConfig reads back the resolver configuration.
func dnsConfig(hc *container.HostConfig) runtime.DNS {
	var d runtime.DNS
	for _, ip := range hc.DNS {
		d.Nameservers = append(d.Nameservers, ip.String())
	}
	if len(hc.DNSSearch) > 0 {
		d.Searches = slices.Clone(hc.DNSSearch)
	}
	if len(hc.DNSOptions) > 0 {
		d.Options = slices.Clone(hc.DNSOptions)
	}
	return d
}

// security reads back what the engine applied. Engines write capabilities
// with or without CAP_ and no-new-privileges as "no-new-privileges",
// "no-new-privileges:true" or "no-new-privileges=true".
func security(hc *container.HostConfig) runtime.Security {
	s := runtime.Security{Privileged: hc.Privileged, ReadOnlyRootfs: hc.ReadonlyRootfs,
		CapAdd: capNames(hc.CapAdd), CapDrop: capNames(hc.CapDrop)}
	for _, opt := range hc.SecurityOpt {
		k, v, _ := strings.Cut(strings.Replace(opt, "=", ":", 1), ":")
		if k == noNewPrivileges {
			s.NoNewPrivileges = v == "" || v == "true"
		}
	}
	return s
}

func capNames(caps []string) []string {
	if len(caps) == 0 {
		return nil
	}
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
	}
	return out
}

func state(s container.ContainerState) runtime.ContainerState {
	switch s {
	case container.StateCreated:
		return runtime.StateCreated
	case container.StateRunning:
		return runtime.StateRunning
	case container.StatePaused:
		return runtime.StatePaused
	case container.StateRestarting:
		return runtime.StateRestarting
	case container.StateRemoving:
		return runtime.StateRemoving
	case container.StateExited:
		return runtime.StateExited
	case container.StateDead:
		return runtime.StateDead
	}
	return runtime.ContainerState(s)
}

func health(s container.HealthStatus) runtime.Health {
	switch s {
	case container.Starting:
		return runtime.HealthStarting
	case container.Healthy:
		return runtime.HealthHealthy
	case container.Unhealthy:
		return runtime.HealthUnhealthy
	}
	return runtime.HealthNone
}

// parseTime reads Docker's RFC 3339 times; Docker's "0001-01-01T00:00:00Z"
// and garbage both become the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// ports lists the published bindings, one per container port, protocol and
// host port (Docker reports an IPv4 and an IPv6 binding for the same port).
func ports(pm map[network.Port][]network.PortBinding) []runtime.PortBinding {
	var out []runtime.PortBinding
	seen := map[[3]int]bool{}
	keys := make([]network.Port, 0, len(pm))
	for p := range pm {
		keys = append(keys, p)
	}
	// IPv4 bindings first, so they win over their IPv6 twins.
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, p := range keys {
		bindings := slices.Clone(pm[p])
		slices.SortStableFunc(bindings, func(a, b network.PortBinding) int {
			return boolInt(a.HostIP.Is6()) - boolInt(b.HostIP.Is6())
		})
		for _, b := range bindings {
			hp, err := strconv.Atoi(b.HostPort)
			if err != nil || hp == 0 {
				continue
			}
			proto := string(p.Proto())
			key := [3]int{int(p.Num()), boolInt(proto == runtime.UDP), hp}
			if seen[key] {
				continue
			}
			seen[key] = true
			pb := runtime.PortBinding{ContainerPort: int(p.Num()), HostPort: hp, Protocol: proto}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				pb.HostIP = b.HostIP.String()
			}
			out = append(out, pb)
		}
	}
	slices.SortFunc(out, func(a, b runtime.PortBinding) int {
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort - b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return strings.Compare(a.Protocol, b.Protocol)
		}
		return a.HostPort - b.HostPort
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ipAddress is the container's address on the network of its network mode,
// else on the first network (by name) that gave it one.
func ipAddress(ns *container.NetworkSettings, mode string) string {
	if ep := ns.Networks[mode]; ep != nil && ep.IPAddress.IsValid() {
		return ep.IPAddress.String()
	}
	names := make([]string, 0, len(ns.Networks))
	for n := range ns.Networks {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if ep := ns.Networks[n]; ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress.String()
		}
	}
	return ""
}

func parseAddr(s string) (netip.Addr, error) {
	return netip.ParseAddr(s)
}
