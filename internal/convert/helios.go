package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	v1 "berth.dev/berth/api/v1"
)

// HeliosJob is a Helios job as helios inspect --json prints it and helios
// create -f reads it (helios-client's descriptors/Job.java).
type HeliosJob struct {
	ID                      string                        `json:"id"`
	Image                   string                        `json:"image"`
	Hostname                string                        `json:"hostname,omitempty"`
	Created                 *int64                        `json:"created,omitempty"`
	Command                 []string                      `json:"command,omitempty"`
	Env                     map[string]string             `json:"env,omitempty"`
	Resources               *HeliosResources              `json:"resources,omitempty"`
	Ports                   map[string]HeliosPort         `json:"ports,omitempty"`
	Registration            map[string]HeliosServicePorts `json:"registration,omitempty"`
	GracePeriod             *int                          `json:"gracePeriod,omitempty"`
	Volumes                 map[string]string             `json:"volumes,omitempty"`
	Expires                 json.RawMessage               `json:"expires,omitempty"`
	RegistrationDomain      string                        `json:"registrationDomain,omitempty"`
	CreatingUser            string                        `json:"creatingUser,omitempty"`
	Token                   string                        `json:"token,omitempty"`
	HealthCheck             *HeliosHealthCheck            `json:"healthCheck,omitempty"`
	SecurityOpt             []string                      `json:"securityOpt,omitempty"`
	NetworkMode             string                        `json:"networkMode,omitempty"`
	Metadata                map[string]string             `json:"metadata,omitempty"`
	AddCapabilities         []string                      `json:"addCapabilities,omitempty"`
	DropCapabilities        []string                      `json:"dropCapabilities,omitempty"`
	Labels                  map[string]string             `json:"labels,omitempty"`
	SecondsToWaitBeforeKill *int                          `json:"secondsToWaitBeforeKill,omitempty"`
	Ramdisks                map[string]string             `json:"ramdisks,omitempty"`
	RolloutOptions          *HeliosRolloutOptions         `json:"rolloutOptions,omitempty"`
	Runtime                 string                        `json:"runtime,omitempty"`
}

// HeliosPort is one named port: internalPort in the container, published
// on externalPort (chosen by the engine when absent).
type HeliosPort struct {
	IP           string `json:"ip,omitempty"`
	InternalPort int    `json:"internalPort"`
	ExternalPort *int   `json:"externalPort,omitempty"`
	Protocol     string `json:"protocol,omitempty"`
}

// HeliosServicePorts are the ports, by name, a registration refers to.
type HeliosServicePorts struct {
	Ports map[string]HeliosServicePort `json:"ports"`
}

// HeliosServicePort carries the tags of one registered port.
type HeliosServicePort struct {
	Tags []string `json:"tags,omitempty"`
}

// HeliosHealthCheck is http (port name and path), tcp (port name) or exec.
type HeliosHealthCheck struct {
	Type    string   `json:"type"`
	Path    string   `json:"path,omitempty"`
	Port    string   `json:"port,omitempty"`
	Command []string `json:"command,omitempty"`
}

// HeliosResources are Docker's limits.
type HeliosResources struct {
	Memory     *int64 `json:"memory,omitempty"`
	MemorySwap *int64 `json:"memorySwap,omitempty"`
	CPUShares  *int64 `json:"cpuShares,omitempty"`
	CPUSet     string `json:"cpuset,omitempty"`
}

// HeliosRolloutOptions pace helios rolling-update.
type HeliosRolloutOptions struct {
	Timeout        *int64  `json:"timeout,omitempty"`
	Parallelism    *int    `json:"parallelism,omitempty"`
	Migrate        *bool   `json:"migrate,omitempty"`
	Overlap        *bool   `json:"overlap,omitempty"`
	Token          *string `json:"token,omitempty"`
	IgnoreFailures *bool   `json:"ignoreFailures,omitempty"`
}

// heliosDefaultKillWait is the agent's wait between SIGTERM and SIGKILL
// when secondsToWaitBeforeKill is not set.
const heliosDefaultKillWait = 120 * time.Second

// ParseHeliosJobs reads a Helios job file: one job, a map of job ids to
// jobs (helios jobs --json), or a list of jobs. Each job comes with the
// path of its JSON object in the file ("" for a lone job).
func ParseHeliosJobs(data []byte) ([]HeliosJob, []string, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil, fmt.Errorf("empty file")
	}
	if trimmed[0] == '[' {
		var list []HeliosJob
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, nil, jsonError(err)
		}
		paths := make([]string, len(list))
		for i := range list {
			paths[i] = fmt.Sprint(i)
		}
		return list, paths, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return nil, nil, jsonError(err)
	}
	_, hasImage := probe["image"]
	_, hasID := probe["id"]
	if hasImage || hasID || len(probe) == 0 {
		var j HeliosJob
		if err := json.Unmarshal(trimmed, &j); err != nil {
			return nil, nil, jsonError(err)
		}
		return []HeliosJob{j}, []string{""}, nil
	}
	var byID map[string]HeliosJob
	if err := json.Unmarshal(trimmed, &byID); err != nil {
		return nil, nil, jsonError(err)
	}
	ids := slices.Sorted(maps.Keys(byID))
	out := make([]HeliosJob, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
		if out[i].ID == "" {
			out[i].ID = id
		}
	}
	return out, ids, nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case asErr(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	case asErr(err, &te):
		return fmt.Errorf("%s: a %s where %s is expected", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// Helios converts a Helios job file into Jobs.
func Helios(f File) (Result, error) {
	jobs, paths, err := ParseHeliosJobs(f.Data)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %v", f.Name, err)
	}
	var root *yaml.Node
	var n yaml.Node
	if yaml.Unmarshal(f.Data, &n) == nil && len(n.Content) > 0 {
		root = n.Content[0]
	}
	var res Result
	for i, h := range jobs {
		var prefix []string
		if paths[i] != "" {
			prefix = []string{paths[i]}
		}
		job, issues := HeliosToJob(h)
		for _, is := range issues {
			res.Findings = append(res.Findings, Finding{File: f.Name, Line: lineOf(root, append(slices.Clone(prefix), is.Field...)), Severity: is.Severity, Msg: is.Msg})
		}
		if job != nil {
			res.Objects = append(res.Objects, Object{Source: f.Name, Object: job})
		}
	}
	fit(&res)
	return res, nil
}

// JobIssue is a problem with one field of a Helios job.
type JobIssue struct {
	Field    []string // JSON path, such as ["ports", "http"]
	Severity Severity
	Msg      string
}

// HeliosToJob converts one Helios job into a Job: nil, with the reason,
// when it has no usable id or image.
func HeliosToJob(h HeliosJob) (*v1.Job, []JobIssue) {
	var issues []JobIssue
	at := func(field []string, sev Severity, format string, a ...any) {
		issues = append(issues, JobIssue{field, sev, fmt.Sprintf(format, a...)})
	}
	drop := func(field string, format string, a ...any) { at([]string{field}, Dropped, format, a...) }
	parts := strings.Split(h.ID, ":")
	if h.ID == "" || len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		drop("id", "id %q: a job id is NAME:VERSION[:HASH]: the job is not converted", h.ID)
		return nil, issues
	}
	name := objectName(parts[0])
	if v1.ValidName(name) != "" {
		drop("id", "id %s: no job name can be made of %q: the job is not converted", h.ID, parts[0])
		return nil, issues
	}
	if name != parts[0] {
		at([]string{"id"}, Note, "id %s: the job is named %s", h.ID, name)
	}
	if len(parts) == 3 {
		at([]string{"id"}, Note, "id %s: the hash of a job id is berth's, of its container template", h.ID)
	}
	if strings.TrimSpace(h.Image) == "" {
		drop("image", "the job has no image: not converted")
		return nil, issues
	}
	j := newJob(name)
	j.Spec.Version = parts[1]
	t := &j.Spec.Container
	t.Image = h.Image
	t.Args = slices.Clone(h.Command)
	t.Env = envList(h.Env)
	t.Hostname = h.Hostname
	switch m := h.NetworkMode; {
	case m == "" || m == "bridge":
	case m == "host" || strings.HasPrefix(m, "container:"):
		t.NetworkMode = m
	default:
		drop("networkMode", "networkMode %s: not converted: use bridge, host or container:NAME", m)
	}

	portNames := map[string]string{} // Helios name -> berth name
	for _, pn := range slices.Sorted(maps.Keys(h.Ports)) {
		p := h.Ports[pn]
		n := objectName(pn)
		if v1.ValidName(n) != "" {
			at([]string{"ports", pn}, Dropped, "ports.%s: no port name can be made of %q: not converted", pn, pn)
			continue
		}
		port := v1.Port{Name: n, ContainerPort: p.InternalPort, HostIP: p.IP}
		if port.HostIP == "0.0.0.0" {
			port.HostIP = ""
		}
		if p.ExternalPort != nil {
			port.HostPort = *p.ExternalPort
		}
		switch strings.ToLower(p.Protocol) {
		case "", "tcp":
		case "udp":
			port.Protocol = v1.ProtocolUDP
		default:
			at([]string{"ports", pn}, Dropped, "ports.%s: protocol %s: not converted: berth publishes tcp and udp", pn, p.Protocol)
			continue
		}
		if p.InternalPort < 1 || p.InternalPort > 65535 {
			at([]string{"ports", pn}, Dropped, "ports.%s: internalPort %d is not a port number: not converted", pn, p.InternalPort)
			continue
		}
		portNames[pn] = n
		t.Ports = append(t.Ports, port)
	}

	for _, key := range slices.Sorted(maps.Keys(h.Registration)) {
		svc, proto, _ := strings.Cut(key, "/")
		sn := objectName(svc)
		if v1.ValidName(sn) != "" {
			at([]string{"registration", key}, Dropped, "registration %s: no service name can be made of %q: not converted", key, svc)
			continue
		}
		if proto != "" && proto != "tcp" {
			at([]string{"registration", key}, Note, "registration %s: the protocol %s is not kept: berth's DNS answers %s.service.<domain>", key, proto, sn)
		}
		ports := h.Registration[key].Ports
		if len(ports) == 0 && len(h.Ports) == 1 {
			for only := range h.Ports {
				ports = map[string]HeliosServicePort{only: {}}
			}
		}
		if len(ports) == 0 {
			at([]string{"registration", key}, Dropped, "registration %s names no port, and the job has %d: not converted", key, len(h.Ports))
		}
		for _, pn := range slices.Sorted(maps.Keys(ports)) {
			n, ok := portNames[pn]
			if !ok {
				at([]string{"registration", key}, Dropped, "registration %s: no port named %s: not converted", key, pn)
				continue
			}
			var tags []string
			for _, tag := range ports[pn].Tags {
				if tag == "" || strings.ContainsAny(tag, ". \t\n") || len(tag) > 63 {
					at([]string{"registration", key}, Dropped, "registration %s: tag %q: not converted: tags have no dots or spaces", key, tag)
					continue
				}
				tags = append(tags, tag)
			}
			j.Spec.Registration = append(j.Spec.Registration, v1.Registration{Port: n, Service: sn, Tags: tags})
		}
	}

	for _, key := range slices.Sorted(maps.Keys(h.Volumes)) {
		target, mode, _ := strings.Cut(key, ":")
		src := h.Volumes[key]
		vol := v1.Volume{ContainerPath: target}
		switch mode {
		case "", "rw":
		case "ro":
			vol.ReadOnly = true
		default:
			at([]string{"volumes", key}, Dropped, "volumes %s: mode %s: not converted: use ro or rw", key, mode)
			continue
		}
		if !path.IsAbs(target) {
			at([]string{"volumes", key}, Dropped, "volumes %s: the container path is not absolute: not converted", key)
			continue
		}
		switch {
		case src == "":
			vol.Name = anonymousVolume(name, target)
			at([]string{"volumes", key}, Note, "volumes %s: the new data volume becomes the named volume %s, kept across versions", key, vol.Name)
		case path.IsAbs(src):
			vol.HostPath = path.Clean(src)
			vol.Type = v1.HostPathDirectoryOrCreate
		default:
			vol.Name = objectName(src)
			if v1.ValidName(vol.Name) != "" {
				at([]string{"volumes", key}, Dropped, "volumes %s: no volume name can be made of %q: not converted", key, src)
				continue
			}
			if vol.Name != src {
				at([]string{"volumes", key}, Note, "volumes %s: the volume %s is mounted as %s: copy its data over to keep it", key, src, vol.Name)
			}
		}
		t.Volumes = append(t.Volumes, vol)
	}

	if hc := h.HealthCheck; hc != nil {
		check := &v1.HealthCheck{}
		port := func() (v1.IntOrString, bool) {
			n, ok := portNames[hc.Port]
			if !ok {
				at([]string{"healthCheck"}, Dropped, "healthCheck: no port named %q: not converted", hc.Port)
			}
			return v1.IntOrString{StrVal: n, IsStr: true}, ok
		}
		ok := true
		switch hc.Type {
		case "http":
			var p v1.IntOrString
			if p, ok = port(); ok {
				check.HTTP = &v1.HTTPCheck{Path: hc.Path, Port: p}
			}
		case "tcp":
			var p v1.IntOrString
			if p, ok = port(); ok {
				check.TCP = &v1.TCPCheck{Port: p}
			}
		case "exec":
			if len(hc.Command) == 0 {
				ok = false
				at([]string{"healthCheck"}, Dropped, "healthCheck: exec without a command: not converted")
			}
			check.Exec = &v1.ExecCheck{Command: slices.Clone(hc.Command)}
		default:
			ok = false
			at([]string{"healthCheck"}, Dropped, "healthCheck: type %q: not converted: use http, tcp or exec", hc.Type)
		}
		if ok {
			t.HealthCheck = check
		}
	}

	if h.GracePeriod != nil && *h.GracePeriod > 0 {
		j.Spec.GracePeriod = dur(v1.D(time.Duration(*h.GracePeriod) * time.Second))
	}
	wait := heliosDefaultKillWait
	if h.SecondsToWaitBeforeKill != nil && *h.SecondsToWaitBeforeKill >= 0 {
		wait = time.Duration(*h.SecondsToWaitBeforeKill) * time.Second
	}
	t.StopTimeout = dur(v1.D(wait))
	if exp := bytes.TrimSpace(h.Expires); len(exp) > 0 && string(exp) != "null" {
		if at2, err := heliosTime(exp); err != nil {
			drop("expires", "expires %s: %v: not converted", exp, err)
		} else {
			j.Spec.Expires = &at2
		}
	}
	if r := h.Resources; r != nil {
		if r.Memory != nil && *r.Memory > 0 {
			t.Resources.Memory = quantity(*r.Memory)
		}
		if r.MemorySwap != nil || r.CPUShares != nil || r.CPUSet != "" {
			drop("resources", "resources: memorySwap, cpuShares and cpuset are not converted: berth limits memory and cpus")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(h.Labels)) {
		if msg := validLabel(k, h.Labels[k]); msg != "" {
			drop("labels", "labels.%s: %s: not converted", k, msg)
			continue
		}
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[k] = h.Labels[k]
	}
	if len(h.Metadata) > 0 {
		j.Metadata.Annotations = maps.Clone(h.Metadata)
	}
	if caps := capabilities(h.AddCapabilities, h.DropCapabilities, func(added bool, name string) {
		field := "dropCapabilities"
		if added {
			field = "addCapabilities"
		}
		drop(field, "%s: %s: not a Linux capability", field, name)
	}); caps != nil {
		t.SecurityContext = &v1.SecurityContext{Capabilities: caps}
	}
	for _, o := range h.SecurityOpt {
		drop("securityOpt", "securityOpt %s: not converted: berth sets no-new-privileges and nothing else", o)
	}
	if len(h.Ramdisks) > 0 {
		drop("ramdisks", "ramdisks: not converted: berth has no tmpfs mounts; use a named volume")
	}
	if h.Runtime != "" {
		drop("runtime", "runtime %s: not converted: containers run with the engine's default runtime", h.Runtime)
	}
	if h.Token != "" {
		drop("token", "token: not converted: berth guards jobs with etcd's roles (SECURITY.md)")
	}
	if h.RegistrationDomain != "" {
		drop("registrationDomain", "registrationDomain %s: not converted: berth's DNS domain is the controllers' --dns-domain", h.RegistrationDomain)
	}
	if ro := h.RolloutOptions; ro != nil {
		if ro.Parallelism != nil && *ro.Parallelism > 0 {
			j.Spec.Rollout.Parallelism = *ro.Parallelism
		}
		if ro.Timeout != nil && *ro.Timeout > 0 {
			j.Spec.Rollout.Timeout = dur(v1.D(time.Duration(*ro.Timeout) * time.Second))
		}
		if ro.IgnoreFailures != nil && *ro.IgnoreFailures {
			j.Spec.Rollout.OnFailure = v1.RolloutContinue
		}
		if ro.Migrate != nil && *ro.Migrate || ro.Overlap != nil && *ro.Overlap {
			drop("rolloutOptions", "rolloutOptions: migrate and overlap are not converted: berth replaces a version host by host")
		}
		if ro.Token != nil && *ro.Token != "" {
			drop("rolloutOptions", "rolloutOptions.token: not converted: berth guards jobs with etcd's roles (SECURITY.md)")
		}
	}
	return j, issues
}

// heliosTime reads expires: an ISO-8601 string, or milliseconds since the
// epoch as Helios' JSON writes dates.
func heliosTime(raw json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z0700", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("not an ISO-8601 time such as 2026-06-01T12:00:00Z")
	}
	var ms int64
	if err := json.Unmarshal(raw, &ms); err != nil {
		return time.Time{}, fmt.Errorf("not a time")
	}
	return time.UnixMilli(ms).UTC(), nil
}
