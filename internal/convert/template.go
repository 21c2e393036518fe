package convert

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	v1 "berth.dev/berth/api/v1"
)

// What docker run and compose share: ports, volumes, restart policies and
// health checks as Docker's engine takes them, each turned into berth's
// form or into the reason it cannot be.

// dockerHealthDefaults are the engine's health check defaults, which
// docker run and compose keep when a setting is left out.
var dockerHealthDefaults = struct {
	interval, timeout time.Duration
	retries           int
}{30 * time.Second, 30 * time.Second, 3}

// portFrom turns one published port, as Docker's parser reads
// "[ip:][host:]container[/proto]", into berth's.
func portFrom(p types.ServicePortConfig) (v1.Port, string) {
	out := v1.Port{ContainerPort: int(p.Target), HostIP: p.HostIP, Name: p.Name}
	if out.HostIP == "0.0.0.0" || out.HostIP == "::" {
		out.HostIP = ""
	}
	if p.Name != "" && v1.ValidName(p.Name) != "" {
		out.Name = ""
	}
	switch strings.ToLower(p.Protocol) {
	case "", "tcp":
	case "udp":
		out.Protocol = v1.ProtocolUDP
	default:
		return out, fmt.Sprintf("protocol %s: berth publishes tcp and udp only", p.Protocol)
	}
	if p.Target == 0 || p.Target > 65535 {
		return out, fmt.Sprintf("container port %d is not a port number", p.Target)
	}
	if p.Published != "" {
		if strings.Contains(p.Published, "-") {
			return out, fmt.Sprintf("host port range %s: berth publishes a container port on one host port", p.Published)
		}
		n, err := strconv.Atoi(p.Published)
		if err != nil || n < 0 || n > 65535 {
			return out, fmt.Sprintf("host port %q is not a port number", p.Published)
		}
		out.HostPort = n
	}
	if p.Mode == "host" && p.Published == "" {
		// Swarm's host mode without a published port: nothing changes here.
		return out, ""
	}
	return out, ""
}

// volumeFrom turns one mount, as Docker's parsers read -v, --mount and
// compose's volumes, into a berth volume. named maps a named volume's
// source to the name berth uses; anonymous names a volume for a mount
// without a source.
func volumeFrom(v types.ServiceVolumeConfig, host Host, named func(string) string, anonymous string) (v1.Volume, string) {
	out := v1.Volume{ContainerPath: v.Target, ReadOnly: v.ReadOnly}
	if !path.IsAbs(v.Target) {
		return out, fmt.Sprintf("container path %q is not absolute", v.Target)
	}
	switch v.Type {
	case types.VolumeTypeBind:
		if !path.IsAbs(v.Source) {
			return out, fmt.Sprintf("host path %q is not absolute: berth mounts absolute host paths only", v.Source)
		}
		out.HostPath = path.Clean(v.Source)
		create := v.Bind == nil || bool(v.Bind.CreateHostPath)
		out.Type = host.hostPathType(out.HostPath, create)
		if v.Bind != nil && v.Bind.Propagation != "" && v.Bind.Propagation != types.PropagationRPrivate {
			return out, fmt.Sprintf("bind propagation %s: berth mounts with the engine's default (rprivate)", v.Bind.Propagation)
		}
		if v.Bind != nil && v.Bind.SELinux != "" {
			return out, fmt.Sprintf("SELinux relabelling :%s: berth mounts without relabelling", v.Bind.SELinux)
		}
	case types.VolumeTypeVolume, "":
		if v.Source == "" {
			out.Name = anonymous
		} else {
			out.Name = named(v.Source)
		}
		if msg := v1.ValidName(out.Name); msg != "" {
			return out, fmt.Sprintf("volume name %s", msg)
		}
		if v.Volume != nil && v.Volume.Subpath != "" {
			return out, fmt.Sprintf("volume subpath %s: berth mounts the whole volume", v.Volume.Subpath)
		}
		if v.Volume != nil && v.Volume.NoCopy {
			return out, "volume nocopy: berth lets the engine copy the image's files into a new volume"
		}
	case types.VolumeTypeTmpfs:
		return out, "tmpfs mount: berth has no tmpfs volumes; use a named volume"
	default:
		return out, fmt.Sprintf("%s mount: berth mounts host paths and named volumes only", v.Type)
	}
	return out, ""
}

// anonymousVolume names the volume berth uses where Docker would create an
// anonymous one: it outlives the container, as compose keeps an
// anonymous volume across recreation.
func anonymousVolume(owner, target string) string {
	n := objectName(owner + "-" + strings.ReplaceAll(strings.Trim(target, "/"), "/", "-"))
	if n == "" {
		n = "volume"
	}
	return n
}

// restartFrom reads a Docker restart policy: no, always, unless-stopped,
// on-failure[:max-retries].
func restartFrom(s string) (v1.RestartPolicyType, string) {
	policy, retries, hasRetries := strings.Cut(s, ":")
	switch policy {
	case "no", "":
		return v1.RestartNever, ""
	case "always":
		return v1.RestartAlways, ""
	case "unless-stopped":
		// berth's goal stop is what "stopped by hand" means.
		return v1.RestartAlways, ""
	case "on-failure":
		if hasRetries {
			if n, err := strconv.Atoi(retries); err != nil || n < 0 {
				return v1.RestartOnFailure, fmt.Sprintf("restart %s: %q is not a number of retries", s, retries)
			} else if n > 0 {
				return v1.RestartOnFailure, fmt.Sprintf("restart %s: berth does not count retries; its start limit (spec.restart.startLimit) ends a restart loop", s)
			}
		}
		return v1.RestartOnFailure, ""
	}
	return "", fmt.Sprintf("restart %q: use no, always, unless-stopped or on-failure[:N]", s)
}

// healthTest turns a Docker health check test (["CMD", args...],
// ["CMD-SHELL", "cmd"], ["NONE"]) into the command berth runs inside the
// container: CMD-SHELL runs with /bin/sh -c, as the engine does. none
// reports a test that disables the image's check.
func healthTest(test []string) (cmd []string, none bool, problem string) {
	if len(test) == 0 {
		return nil, false, ""
	}
	switch test[0] {
	case "NONE":
		return nil, true, ""
	case "CMD":
		if len(test) < 2 {
			return nil, false, "healthcheck test CMD without a command"
		}
		return append([]string(nil), test[1:]...), false, ""
	case "CMD-SHELL":
		if len(test) != 2 {
			return nil, false, "healthcheck test CMD-SHELL takes one command line"
		}
		return []string{"/bin/sh", "-c", test[1]}, false, ""
	}
	return nil, false, fmt.Sprintf("healthcheck test %q: use CMD, CMD-SHELL or NONE", test[0])
}

// healthCheck builds an exec check with Docker's defaults for what is
// left out (interval 30s, timeout 30s, 3 retries, no start period).
func healthCheck(cmd []string, interval, timeout, startPeriod *time.Duration, retries *int) *v1.HealthCheck {
	h := &v1.HealthCheck{Exec: &v1.ExecCheck{Command: cmd}}
	pick := func(p *time.Duration, def time.Duration) *v1.Duration {
		if p != nil && *p > 0 {
			return dur(v1.D(*p))
		}
		if def == 0 {
			return nil
		}
		return dur(v1.D(def))
	}
	h.Interval = pick(interval, dockerHealthDefaults.interval)
	h.Timeout = pick(timeout, dockerHealthDefaults.timeout)
	h.StartPeriod = pick(startPeriod, 0)
	h.Retries = dockerHealthDefaults.retries
	if retries != nil && *retries > 0 {
		h.Retries = *retries
	}
	return h
}

// capabilities reads the capabilities to add and drop as berth writes
// them; bad is told of each name that is not a Linux capability, with
// whether it was to be added.
func capabilities(add, drop []string, bad func(added bool, name string)) *v1.Capabilities {
	var out v1.Capabilities
	for _, l := range []struct {
		in    []string
		out   *[]string
		added bool
	}{{add, &out.Add, true}, {drop, &out.Drop, false}} {
		for _, c := range l.in {
			if n := v1.NormalizeCapability(c); v1.KnownCapability(n) {
				*l.out = append(*l.out, n)
			} else {
				bad(l.added, c)
			}
		}
	}
	if len(out.Add)+len(out.Drop) == 0 {
		return nil
	}
	return &out
}
