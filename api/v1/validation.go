package v1

import (
	"encoding/json"
	"fmt"
	"net"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distribution/reference"
)

// FieldError is one problem with one field of an object.
type FieldError struct {
	// Field is the path of the field, such as spec.container.ports[1].hostPort.
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

type errs []FieldError

func (e *errs) add(field, format string, args ...any) {
	*e = append(*e, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func idx(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }

func key(p, k string) string {
	if validLabelKey(k) && !strings.ContainsAny(k, "./") {
		return p + "." + k
	}
	return p + "[" + strconv.Quote(k) + "]"
}

var (
	dnsLabelRe     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomainRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelValueRe   = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	labelNameRe    = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	versionRe      = regexp.MustCompile(`^[0-9A-Za-z_.-]+$`)
	envNameRe      = regexp.MustCompile(`^[^=\x00]+$`)
)

// ValidName reports why name is not a DNS label (lower case letters, digits
// and '-', starting and ending with a letter or digit, at most 63), or "".
func ValidName(name string) string {
	switch {
	case name == "":
		return "is required"
	case len(name) > 63:
		return fmt.Sprintf("%q is longer than 63 characters", name)
	case !dnsLabelRe.MatchString(name):
		return fmt.Sprintf("%q is not a DNS label: use lower case letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return ""
}

// ValidHostName reports why name is not a valid host name (a DNS subdomain
// of at most 253 characters), or "".
func ValidHostName(name string) string {
	switch {
	case name == "":
		return "is required"
	case len(name) > 253:
		return fmt.Sprintf("%q is longer than 253 characters", name)
	case !dnsSubdomainRe.MatchString(name):
		return fmt.Sprintf("%q is not a valid host name: use lower case letters, digits, '-' and '.'", name)
	}
	return ""
}

func validLabelKey(k string) bool {
	name := k
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if len(prefix) > 253 || !dnsSubdomainRe.MatchString(prefix) {
			return false
		}
	}
	return len(name) <= 63 && labelNameRe.MatchString(name)
}

func validateLabels(e *errs, p string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		if !validLabelKey(k) {
			e.add(key(p, k), "%q is not a valid label key: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.'", k)
		}
		if v := labels[k]; len(v) > 63 || !labelValueRe.MatchString(v) {
			e.add(key(p, k), "%q is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Validate checks one object on its own and returns every problem found,
// with field paths. It expects a defaulted object.
func Validate(o Object) []FieldError {
	var e errs
	tm := o.GetTypeMeta()
	if tm.APIVersion != APIVersion {
		e.add("apiVersion", "unsupported apiVersion %q: supported: %s", tm.APIVersion, APIVersion)
	}
	meta := o.GetObjectMeta()
	if msg := ValidName(meta.Name); msg != "" {
		e.add("metadata.name", "%s", msg)
	}
	validateLabels(&e, "metadata.labels", meta.Labels)
	switch v := o.(type) {
	case *Unit:
		validateUnit(&e, v)
	case *Job:
		validateJob(&e, v)
	case *Service:
		validateService(&e, v)
	case *GitSource:
		validateGitSource(&e, v)
	case *Timer:
		validateTimer(&e, v, time.Now())
	case *Host:
		if msg := ValidNewHostName(meta.Name); msg != "" {
			e = e[:0]
			e.add("metadata.name", "%s", msg)
		}
	}
	if b, err := json.Marshal(o); err == nil && len(b) > MaxObjectBytes {
		e.add("", "object is %d bytes once encoded, more than the limit of %d", len(b), MaxObjectBytes)
	}
	return e
}

// MaxObjectBytes is the largest object, encoded as stored, that is
// accepted: well under etcd's default request limit of 1.5 MiB, so that an
// object always fits in one write with its neighbours in a transaction.
const MaxObjectBytes = 512 << 10

// ReservedHostName names the writer of cluster-wide statuses
// (status/leader/...): no host may take it.
const ReservedHostName = "leader"

// ValidNewHostName is ValidHostName for the name a host takes: it may not
// be ReservedHostName.
func ValidNewHostName(name string) string {
	if name == ReservedHostName {
		return fmt.Sprintf("%q is reserved: it names the writer of cluster-wide statuses", name)
	}
	return ValidHostName(name)
}

func validateUnit(e *errs, u *Unit) {
	s := &u.Spec
	validateTemplate(e, "spec.container", &s.Container)
	switch s.Goal {
	case GoalStart, GoalStop:
	default:
		e.add("spec.goal", "unsupported value %q: supported: start, stop", s.Goal)
	}
	r := &s.Restart
	switch r.Policy {
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		e.add("spec.restart.policy", "unsupported value %q: supported: always, on-failure, never", r.Policy)
	}
	if r.Delay != nil && r.MaxDelay != nil && r.MaxDelay.Duration < r.Delay.Duration {
		e.add("spec.restart.maxDelay", "%s is shorter than delay %s", r.MaxDelay.Duration, r.Delay.Duration)
	}
	if r.StartLimit != nil {
		if r.StartLimit.Burst < 0 {
			e.add("spec.restart.startLimit.burst", "must not be negative")
		}
		if r.StartLimit.Interval != nil && r.StartLimit.Burst > 0 && r.StartLimit.Interval.Duration == 0 {
			e.add("spec.restart.startLimit.interval", "must be longer than 0 when burst is set")
		}
	}
	deps := map[string]bool{}
	for _, list := range []struct {
		field string
		names []string
	}{{"spec.requires", s.Requires}, {"spec.wants", s.Wants}, {"spec.after", s.After}} {
		seen := map[string]bool{}
		for i, n := range list.names {
			p := idx(list.field, i)
			if msg := ValidName(n); msg != "" {
				e.add(p, "%s", msg)
				continue
			}
			if n == u.Metadata.Name {
				e.add(p, "unit %q cannot depend on itself", n)
			}
			if seen[n] {
				e.add(p, "duplicate dependency %q", n)
			}
			seen[n] = true
			deps[n] = true
		}
	}
	for _, n := range sortedKeys(s.StartCondition) {
		p := key("spec.startCondition", n)
		if !deps[n] {
			e.add(p, "%q is not named in requires, wants or after", n)
		}
		switch c := s.StartCondition[n]; c {
		case StartConditionStarted, StartConditionHealthy, StartConditionCompleted:
		default:
			e.add(p, "unsupported condition %q: supported: started, healthy, completed", c)
		}
	}
	if s.StartCondition != nil {
		for _, n := range sortedKeys(s.StartCondition) {
			if s.StartCondition[n] == StartConditionHealthy && n == u.Metadata.Name {
				e.add(key("spec.startCondition", n), "a unit cannot wait for itself")
			}
		}
	}
	validatePlacement(e, &s.Placement)
	if s.GracePeriod != nil && s.GracePeriod.Duration < 0 {
		e.add("spec.gracePeriod", "must not be negative")
	}
}

func validatePlacement(e *errs, p *Placement) {
	seen := map[string]bool{}
	for i, h := range p.Hosts {
		if msg := ValidHostName(h); msg != "" {
			e.add(idx("spec.placement.hosts", i), "%s", msg)
		}
		if seen[h] {
			e.add(idx("spec.placement.hosts", i), "duplicate host %q", h)
		}
		seen[h] = true
	}
	validateLabels(e, "spec.placement.hostSelector", p.HostSelector)
	if p.Replicas < 0 {
		e.add("spec.placement.replicas", "must not be negative")
	}
	if p.Global && p.Replicas > 0 {
		e.add("spec.placement.replicas", "cannot be set with global: a global unit runs once on every matching host")
	}
	if p.Global && len(p.Hosts) > 0 {
		e.add("spec.placement.hosts", "cannot be set with global: use hostSelector to choose the hosts")
	}
	if len(p.Hosts) > 0 && p.Replicas > len(p.Hosts) {
		e.add("spec.placement.replicas", "%d replicas on %d hosts: at most one instance of a unit runs on a host", p.Replicas, len(p.Hosts))
	}
}

func validateJob(e *errs, j *Job) {
	s := &j.Spec
	switch {
	case s.Version == "":
		e.add("spec.version", "is required")
	case len(s.Version) > 63 || !versionRe.MatchString(s.Version):
		e.add("spec.version", "%q is not a valid version: use at most 63 letters, digits, '-', '_' or '.'", s.Version)
	}
	validateTemplate(e, "spec.container", &s.Container)
	seen := map[string]bool{}
	for i, d := range s.Deployments {
		p := idx("spec.deployments", i)
		if msg := ValidHostName(d.Host); msg != "" {
			e.add(p+".host", "%s", msg)
		} else if seen[d.Host] {
			e.add(p+".host", "duplicate deployment to host %q", d.Host)
		}
		seen[d.Host] = true
		switch d.Goal {
		case GoalStart, GoalStop:
		default:
			e.add(p+".goal", "unsupported value %q: supported: start, stop", d.Goal)
		}
	}
	validateLabels(e, "spec.hostSelector", s.HostSelector)
	if s.GracePeriod != nil && s.GracePeriod.Duration < 0 {
		e.add("spec.gracePeriod", "must not be negative")
	}
	ports := map[string]bool{}
	for _, p := range s.Container.Ports {
		if p.Name != "" {
			ports[p.Name] = true
		}
	}
	for i, r := range s.Registration {
		p := idx("spec.registration", i)
		if r.Port == "" {
			e.add(p+".port", "is required")
		} else if !ports[r.Port] {
			e.add(p+".port", "no port named %q in spec.container.ports", r.Port)
		}
		if msg := ValidName(r.Service); msg != "" {
			e.add(p+".service", "%s", msg)
		}
		validateTags(e, p+".tags", r.Tags)
	}
	if s.Rollout.Parallelism < 1 {
		e.add("spec.rollout.parallelism", "must be at least 1")
	}
	switch s.Rollout.OnFailure {
	case RolloutStop, RolloutContinue:
	default:
		e.add("spec.rollout.onFailure", "unsupported value %q: supported: stop, continue", s.Rollout.OnFailure)
	}
	validateRollout(e, &s.Rollout)
}

// validateRollout checks the canary and health fields of a Job's rollout:
// a deadline no host can meet, or autoPromote without canaries, is
// refused.
func validateRollout(e *errs, r *Rollout) {
	if r.Canary < 0 {
		e.add("spec.rollout.canary", "must not be negative")
	}
	if r.AutoPromote && r.Canary == 0 {
		e.add("spec.rollout.autoPromote", "needs canary: 1 or more (there is nothing to promote without canaries)")
	}
	if r.Timeout != nil && r.Timeout.Duration <= 0 {
		e.add("spec.rollout.timeout", "must be longer than 0")
	}
	if r.HealthyDeadline != nil {
		switch {
		case r.HealthyDeadline.Duration <= 0:
			e.add("spec.rollout.healthyDeadline", "must be longer than 0")
		case r.Timeout != nil && r.HealthyDeadline.Duration > r.Timeout.Duration:
			e.add("spec.rollout.healthyDeadline", "%s is longer than timeout %s, which would end the step first", r.HealthyDeadline.Duration, r.Timeout.Duration)
		}
	}
	if deadline, which := r.Deadline(); r.MinHealthy() > 0 && deadline > 0 && r.MinHealthy() >= deadline {
		e.add("spec.rollout.minHealthyTime", "%s is not shorter than %s %s: no host could become healthy in time", r.MinHealthy(), which, deadline)
	}
}

func validateTags(e *errs, p string, tags []string) {
	for i, t := range tags {
		if t == "" || strings.ContainsAny(t, ". \t\n") || len(t) > 63 {
			e.add(idx(p, i), "%q is not a valid tag: at most 63 characters, without dots or spaces", t)
		}
	}
}

func validateService(e *errs, s *Service) {
	sp := &s.Spec
	validateLabels(e, "spec.selector", sp.Selector)
	if !sp.Port.IsStr && (sp.Port.IntVal < 0 || sp.Port.IntVal > 65535) {
		e.add("spec.port", "%d is not a port number (1-65535)", sp.Port.IntVal)
	}
	if sp.Port.IsStr {
		if msg := ValidName(sp.Port.StrVal); msg != "" {
			e.add("spec.port", "port name %s", msg)
		}
	}
	validateTags(e, "spec.tags", sp.Tags)
	ids := map[string]bool{}
	for i, ep := range sp.Endpoints {
		p := idx("spec.endpoints", i)
		if ep.Address == "" {
			e.add(p+".address", "is required")
		} else if net.ParseIP(ep.Address) == nil && ValidHostName(ep.Address) != "" {
			e.add(p+".address", "%q is not an IP address or a host name", ep.Address)
		}
		if ep.Port < 1 || ep.Port > 65535 {
			e.add(p+".port", "%d is not a port number (1-65535)", ep.Port)
		}
		if ep.Host != "" {
			if msg := ValidHostName(ep.Host); msg != "" {
				e.add(p+".host", "%s", msg)
			}
		}
		if ep.ID != "" {
			if ids[ep.ID] {
				e.add(p+".id", "duplicate endpoint id %q", ep.ID)
			}
			ids[ep.ID] = true
		}
		validateTags(e, p+".tags", ep.Tags)
	}
	names := map[string]bool{}
	for i, c := range sp.Checks {
		p := idx("spec.checks", i)
		n := 0
		for _, set := range []bool{c.HTTP != "", c.TCP != "", len(c.Exec) > 0, c.TTL != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			e.add(p, "exactly one of http, tcp, exec and ttl must be set")
		}
		if c.Name != "" {
			if names[c.Name] {
				e.add(p+".name", "duplicate check name %q", c.Name)
			}
			names[c.Name] = true
		}
		if c.TTL != nil && c.TTL.Duration <= 0 {
			e.add(p+".ttl", "must be longer than 0")
		}
		if c.TTL == nil && c.Interval != nil && c.Interval.Duration <= 0 {
			e.add(p+".interval", "must be longer than 0")
		}
		if c.Timeout != nil && c.Timeout.Duration <= 0 {
			e.add(p+".timeout", "must be longer than 0")
		}
		if c.SuccessBeforePassing < 0 {
			e.add(p+".successBeforePassing", "must not be negative")
		}
		if c.FailuresBeforeCritical < 0 {
			e.add(p+".failuresBeforeCritical", "must not be negative")
		}
		switch c.InitialStatus {
		case CheckPassing, CheckWarning, CheckCritical:
		default:
			e.add(p+".initialStatus", "unsupported value %q: supported: passing, warning, critical", c.InitialStatus)
		}
		if c.HTTP != "" && !strings.HasPrefix(c.HTTP, "/") && !strings.HasPrefix(c.HTTP, "http://") && !strings.HasPrefix(c.HTTP, "https://") {
			e.add(p+".http", "%q is neither a path starting with '/' nor an http(s) URL", c.HTTP)
		}
	}
	if sp.TTL != nil && sp.TTL.Duration < 0 {
		e.add("spec.ttl", "must not be negative")
	}
}

func validateTemplate(e *errs, p string, t *ContainerTemplate) {
	if strings.TrimSpace(t.Image) == "" {
		e.add(p+".image", "is required")
	} else if _, err := reference.ParseNormalizedNamed(t.Image); err != nil {
		e.add(p+".image", "%q is not a valid image reference (repository[:tag] or repository@sha256:<64 hex digits>): %v", t.Image, err)
	}
	switch t.PullPolicy {
	case PullIfNotPresent, PullAlways, PullNever:
	default:
		e.add(p+".pullPolicy", "unsupported value %q: supported: IfNotPresent, Always, Never", t.PullPolicy)
	}
	envSeen := map[string]bool{}
	for i, v := range t.Env {
		ep := idx(p+".env", i)
		if !envNameRe.MatchString(v.Name) {
			e.add(ep+".name", "%q is not a valid environment variable name", v.Name)
		} else if envSeen[v.Name] {
			e.add(ep+".name", "duplicate environment variable %q", v.Name)
		}
		envSeen[v.Name] = true
		if v.ValueFrom != nil {
			if v.Value != "" {
				e.add(ep, "value and valueFrom cannot both be set")
			}
			validateSecretFile(e, ep+".valueFrom.file", v.ValueFrom.File)
		}
	}
	if t.ImagePullSecret != nil {
		validateSecretFile(e, p+".imagePullSecret.file", t.ImagePullSecret.File)
	}
	names := map[string]int{}
	hostPorts := map[string]int{}
	ctrPorts := map[string]int{}
	for i, port := range t.Ports {
		pp := idx(p+".ports", i)
		if port.Name != "" {
			if msg := ValidName(port.Name); msg != "" {
				e.add(pp+".name", "%s", msg)
			} else if j, dup := names[port.Name]; dup {
				e.add(pp+".name", "duplicate port name %q (also ports[%d])", port.Name, j)
			} else {
				names[port.Name] = i
			}
		}
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			e.add(pp+".containerPort", "%d is out of range (1-65535)", port.ContainerPort)
		}
		if port.HostPort < 0 || port.HostPort > 65535 {
			e.add(pp+".hostPort", "%d is out of range (1-65535, or 0 for a port chosen by the engine)", port.HostPort)
		}
		switch port.Protocol {
		case ProtocolTCP, ProtocolUDP:
		default:
			e.add(pp+".protocol", "unsupported value %q: supported: tcp, udp", port.Protocol)
		}
		if port.HostIP != "" && net.ParseIP(port.HostIP) == nil {
			e.add(pp+".hostIP", "%q is not an IP address", port.HostIP)
		}
		if port.HostPort > 0 {
			k := fmt.Sprintf("%s/%d/%s", port.HostIP, port.HostPort, port.Protocol)
			if j, dup := hostPorts[k]; dup {
				e.add(pp+".hostPort", "duplicate host port %d/%s (also ports[%d])", port.HostPort, port.Protocol, j)
			} else {
				hostPorts[k] = i
			}
		}
		ck := fmt.Sprintf("%d/%s", port.ContainerPort, port.Protocol)
		if j, dup := ctrPorts[ck]; dup && port.HostPort == t.Ports[j].HostPort {
			e.add(pp+".containerPort", "duplicate container port %d/%s (also ports[%d])", port.ContainerPort, port.Protocol, j)
		} else if !dup {
			ctrPorts[ck] = i
		}
	}
	mounts := map[string]int{}
	for i, v := range t.Volumes {
		vp := idx(p+".volumes", i)
		switch {
		case v.HostPath == "" && v.Name == "":
			e.add(vp, "one of hostPath and name is required")
		case v.HostPath != "" && v.Name != "":
			e.add(vp, "hostPath and name cannot both be set")
		case v.HostPath != "":
			if !path.IsAbs(v.HostPath) {
				e.add(vp+".hostPath", "%q is not an absolute path", v.HostPath)
			}
			switch v.Type {
			case HostPathDirectoryOrCreate, HostPathDirectory, HostPathFileOrCreate, HostPathFile:
			default:
				e.add(vp+".type", "unsupported value %q: supported: DirectoryOrCreate, Directory, FileOrCreate, File", v.Type)
			}
		case v.Name != "":
			if msg := ValidName(v.Name); msg != "" {
				e.add(vp+".name", "volume name %s", msg)
			}
			if v.Type != "" {
				e.add(vp+".type", "applies only to hostPath volumes")
			}
		}
		switch {
		case v.ContainerPath == "":
			e.add(vp+".containerPath", "is required")
		case !path.IsAbs(v.ContainerPath):
			e.add(vp+".containerPath", "%q is not an absolute path", v.ContainerPath)
		default:
			cp := path.Clean(v.ContainerPath)
			if j, dup := mounts[cp]; dup {
				e.add(vp+".containerPath", "%q is mounted twice (also volumes[%d])", cp, j)
			}
			mounts[cp] = i
		}
	}
	if t.WorkingDir != "" && !path.IsAbs(t.WorkingDir) {
		e.add(p+".workingDir", "%q is not an absolute path", t.WorkingDir)
	}
	if t.Hostname != "" {
		if msg := ValidHostName(t.Hostname); msg != "" {
			e.add(p+".hostname", "%s", msg)
		}
		if t.NetworkMode == "host" {
			e.add(p+".hostname", "cannot be set with networkMode host")
		}
	}
	if strings.HasPrefix(t.NetworkMode, "container:") && len(t.Ports) > 0 {
		e.add(p+".ports", "cannot publish ports with networkMode %s", t.NetworkMode)
	}
	validateDNS(e, p+".dns", t.DNS, t.NetworkMode)
	if c, err := t.Resources.CPUs.Value(); err != nil {
		e.add(p+".resources.cpus", "%v", err)
	} else if c < 0 {
		e.add(p+".resources.cpus", "must not be negative")
	}
	if m, err := t.Resources.Memory.Bytes(); err != nil {
		e.add(p+".resources.memory", "%v", err)
	} else if m > 0 && m < 6<<20 {
		e.add(p+".resources.memory", "%s is below the engine's minimum of 6Mi", t.Resources.Memory)
	}
	if t.StopSignal != "" {
		if _, err := ParseSignal(t.StopSignal); err != nil {
			e.add(p+".stopSignal", "%v", err)
		}
	}
	if sc := t.SecurityContext; sc != nil && sc.Capabilities != nil {
		validateCapabilities(e, p+".securityContext.capabilities.add", sc.Capabilities.Add)
		validateCapabilities(e, p+".securityContext.capabilities.drop", sc.Capabilities.Drop)
	}
	validateLabels(e, p+".labels", t.Labels)
	for k := range t.Labels {
		if strings.HasPrefix(k, Group+"/") {
			e.add(key(p+".labels", k), "labels under %s/ are set by berth", Group)
		}
	}
	if h := t.HealthCheck; h != nil {
		hp := p + ".healthCheck"
		n := 0
		for _, set := range []bool{h.HTTP != nil, h.TCP != nil, h.Exec != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			e.add(hp, "exactly one of http, tcp and exec must be set")
		}
		checkPort := func(fp string, port IntOrString) {
			switch {
			case port.IsZero():
				e.add(fp, "is required")
			case port.IsStr:
				if _, ok := names[port.StrVal]; !ok {
					e.add(fp, "no port named %q in %s.ports", port.StrVal, p)
				}
			case port.IntVal < 1 || port.IntVal > 65535:
				e.add(fp, "%d is out of range (1-65535)", port.IntVal)
			}
		}
		if h.HTTP != nil {
			checkPort(hp+".http.port", h.HTTP.Port)
			if h.HTTP.Path != "" && !strings.HasPrefix(h.HTTP.Path, "/") {
				e.add(hp+".http.path", "%q must start with '/'", h.HTTP.Path)
			}
			if s := h.HTTP.Scheme; s != "" && s != "http" && s != "https" {
				e.add(hp+".http.scheme", "unsupported value %q: supported: http, https", s)
			}
		}
		if h.TCP != nil {
			checkPort(hp+".tcp.port", h.TCP.Port)
		}
		if h.Exec != nil && len(h.Exec.Command) == 0 {
			e.add(hp+".exec.command", "is required")
		}
		if h.Interval != nil && h.Interval.Duration <= 0 {
			e.add(hp+".interval", "must be longer than 0")
		}
		if h.Timeout != nil && h.Timeout.Duration <= 0 {
			e.add(hp+".timeout", "must be longer than 0")
		}
		if h.StartInterval != nil && h.StartInterval.Duration <= 0 {
			e.add(hp+".startInterval", "must be longer than 0")
		}
		if h.Retries < 0 {
			e.add(hp+".retries", "must not be negative")
		}
	}
}

// validateSecretFile checks the name of a file in the host's secrets
// directory (an env valueFrom.file, an imagePullSecret.file): a path
// relative to that directory, or an absolute one (which the host accepts
// only under it), without "..".
func validateSecretFile(e *errs, p, file string) {
	switch {
	case file == "":
		e.add(p, "is required: name a file in the host's secrets directory (controller --secrets-dir)")
		return
	case strings.ContainsRune(file, 0):
		e.add(p, "must not contain a NUL byte")
		return
	}
	rel := strings.TrimPrefix(file, "/")
	for _, part := range strings.Split(rel, "/") {
		switch part {
		case "..":
			e.add(p, "%q must not contain '..': name a file in the host's secrets directory (controller --secrets-dir)", file)
			return
		case "", ".":
			if c := path.Clean(file); c == "." || c == "/" {
				e.add(p, "%q is not a file name", file)
			} else {
				e.add(p, "%q is not a clean file name: write it as %q", file, c)
			}
			return
		}
	}
}

// knownCapabilities are the Linux capabilities, without CAP_.
var knownCapabilities = map[string]bool{
	"CHOWN": true, "DAC_OVERRIDE": true, "DAC_READ_SEARCH": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "SETGID": true, "SETUID": true, "SETPCAP": true, "LINUX_IMMUTABLE": true,
	"NET_BIND_SERVICE": true, "NET_BROADCAST": true, "NET_ADMIN": true, "NET_RAW": true,
	"IPC_LOCK": true, "IPC_OWNER": true, "SYS_MODULE": true, "SYS_RAWIO": true, "SYS_CHROOT": true,
	"SYS_PTRACE": true, "SYS_PACCT": true, "SYS_ADMIN": true, "SYS_BOOT": true, "SYS_NICE": true,
	"SYS_RESOURCE": true, "SYS_TIME": true, "SYS_TTY_CONFIG": true, "MKNOD": true, "LEASE": true,
	"AUDIT_WRITE": true, "AUDIT_CONTROL": true, "SETFCAP": true, "MAC_OVERRIDE": true,
	"MAC_ADMIN": true, "SYSLOG": true, "WAKE_ALARM": true, "BLOCK_SUSPEND": true,
	"AUDIT_READ": true, "PERFMON": true, "BPF": true, "CHECKPOINT_RESTORE": true,
}

// KnownCapability reports whether name (normalized, see
// NormalizeCapability) is a Linux capability or ALL.
func KnownCapability(name string) bool {
	return name == CapabilityAll || knownCapabilities[name]
}

func validateCapabilities(e *errs, p string, caps []string) {
	seen := map[string]int{}
	for i, c := range caps {
		n := NormalizeCapability(c)
		switch {
		case n == "":
			e.add(idx(p, i), "is empty: name a capability such as NET_ADMIN, or ALL")
		case !KnownCapability(n):
			e.add(idx(p, i), "unknown capability %q: use a Linux capability name such as NET_ADMIN or SYS_TIME (CAP_ optional), or ALL", c)
		default:
			if j, dup := seen[n]; dup {
				e.add(idx(p, i), "duplicate capability %s (also [%d])", n, j)
			}
			seen[n] = i
		}
	}
}

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "STOP": syscall.SIGSTOP,
	"CONT": syscall.SIGCONT, "PWR": syscall.Signal(30), "WINCH": syscall.SIGWINCH, "ALRM": syscall.SIGALRM,
}

// ParseSignal parses a signal name ("SIGTERM", "TERM") or number ("15").
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range (1-64)", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signalNames[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: use a name such as SIGTERM, SIGINT or SIGQUIT, or a number", s)
}
