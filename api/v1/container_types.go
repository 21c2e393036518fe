package v1

import "strings"

// PullPolicy says when the image is pulled.
type PullPolicy string

// Values of PullPolicy.
const (
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullAlways       PullPolicy = "Always"
	PullNever        PullPolicy = "Never"
)

// Protocol of a port.
type Protocol string

// Values of Protocol.
const (
	ProtocolTCP Protocol = "tcp"
	ProtocolUDP Protocol = "udp"
)

// HostPathType says what is checked, or created, at a hostPath before the
// container starts, as Kubernetes' hostPath types do.
type HostPathType string

// Values of HostPathType.
const (
	HostPathDirectoryOrCreate HostPathType = "DirectoryOrCreate"
	HostPathDirectory         HostPathType = "Directory"
	HostPathFileOrCreate      HostPathType = "FileOrCreate"
	HostPathFile              HostPathType = "File"
)

// ContainerTemplate is what Units and Jobs run: one container.
type ContainerTemplate struct {
	Image       string            `json:"image"`
	PullPolicy  PullPolicy        `json:"pullPolicy,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Args        []string          `json:"args,omitempty"`
	Env         []EnvVar          `json:"env,omitempty"`
	Ports       []Port            `json:"ports,omitempty"`
	Volumes     []Volume          `json:"volumes,omitempty"`
	WorkingDir  string            `json:"workingDir,omitempty"`
	User        string            `json:"user,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	NetworkMode string            `json:"networkMode,omitempty"`
	Resources   Resources         `json:"resources,omitzero"`
	StopSignal  string            `json:"stopSignal,omitempty"`
	StopTimeout *Duration         `json:"stopTimeout,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	HealthCheck *HealthCheck      `json:"healthCheck,omitempty"`
	// SecurityContext asks for privileges beyond the engine's defaults;
	// each host grants them only as its controller's flags allow.
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
	// DNS is the container's resolver configuration (see DNSConfig);
	// without it the container resolves through its host's controller.
	DNS *DNSConfig `json:"dns,omitempty"`
	// ImagePullSecret names the credentials the image is pulled with (see
	// ImagePullSecret); without it, or when it has no entry for the
	// image's registry, the host's controller --registry-config.
	ImagePullSecret *ImagePullSecret `json:"imagePullSecret,omitempty"`
}

// ImagePullSecret names a file of registry credentials on the host that
// pulls the image: a name relative to the host's secrets directory (the
// controller's --secrets-dir), or an absolute path under it, holding
// Docker's config.json format ({"auths": {"registry:5000": {"auth":
// "..."}}}), as docker login writes it. The host reads it at each pull;
// only its name is ever stored in etcd.
type ImagePullSecret struct {
	File string `json:"file"`
}

// EnvVar is one environment variable of the container: Value, or the
// content of a file on the host (ValueFrom), never both.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource says where an environment variable's value comes from.
//
// File names a file on the host that runs the container: a name relative
// to the host's secrets directory (the controller's --secrets-dir,
// /etc/berth/secrets by default), or an absolute path under it. The host
// reads it each time it creates the container, so the value is never
// stored in etcd, in status or in events; only the name is. One trailing
// newline ("\n" or "\r\n") is dropped, as "echo secret > file" adds one; a
// file larger than MaxEnvFileBytes or holding a NUL byte is refused.
type EnvVarSource struct {
	File string `json:"file"`
}

// MaxEnvFileBytes is the largest file an environment variable is read from:
// the kernel refuses a single "NAME=value" string longer than 128 KiB.
const MaxEnvFileBytes = 64 << 10

// SecurityContext is the privileges a container asks for, in Kubernetes'
// shape. A host refuses to run a container that asks for more than its
// policy allows, and says so in the instance's status.
type SecurityContext struct {
	// Privileged runs the container with every capability and access to
	// the host's devices (controller --allow-privileged).
	Privileged bool `json:"privileged,omitempty"`
	// Capabilities adds and drops Linux capabilities; names are written
	// without CAP_ in upper case (NET_ADMIN), or ALL.
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// AllowPrivilegeEscalation true lets processes gain privileges (setuid
	// binaries, file capabilities): the container runs without
	// no-new-privileges (controller --allow-privilege-escalation). Unset
	// or false: no-new-privileges.
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation,omitempty"`
	// ReadOnlyRootFilesystem mounts the image's file system read-only.
	ReadOnlyRootFilesystem bool `json:"readOnlyRootFilesystem,omitempty"`
}

// Capabilities are Linux capabilities added to and dropped from the
// engine's default set.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Reasons of the Ready and Progressing conditions of an instance whose
// container its host refuses to create; its state is FAILED.
const (
	// ReasonPolicyDenied: the template asks for more than the host's policy
	// allows (privileged, capabilities, host network, hostPath volumes,
	// privilege escalation, env files outside the secrets directory).
	ReasonPolicyDenied = "PolicyDenied"
	// ReasonEnvFileUnavailable: an env valueFrom.file cannot be read on
	// the host (missing, unreadable, too large).
	ReasonEnvFileUnavailable = "EnvFileUnavailable"
	// ReasonBindingRefused: the Job's binding gives the host a version the
	// Job's placement does not allow there, or one without a template an
	// operator stored, or with another template hash than the stored one.
	ReasonBindingRefused = "BindingRefused"
)

// Reasons of the Ready and Progressing conditions (Progressing False) of
// an instance that its host cannot create now, for a cause on the host
// that an operator must remove; the instance keeps the state it is stuck
// in (CREATING) and its host tries again with backoff.
const (
	// ReasonHostPathUnavailable: a hostPath volume cannot be made or used
	// on the host (its allowed directory cannot be created, a part of the
	// path is a file, permission denied, a Directory or File that is not
	// there).
	ReasonHostPathUnavailable = "HostPathUnavailable"
	// ReasonError: the last attempt failed with another error (the engine
	// refused to create or start the container) and is tried again with
	// backoff.
	ReasonError = "Error"
	// ReasonImagePullBackOff: the image's last pull failed (the message
	// says why, in the registry's words); the instance stays PULLING_IMAGE,
	// throttled IMAGE_PULL_FAILED, and its host pulls again after a delay
	// that doubles from restart.delay to restart.maxDelay.
	ReasonImagePullBackOff = "ImagePullBackOff"
	// ReasonPullSecretUnavailable: the imagePullSecret file cannot be
	// read or is not a Docker config.json; the instance is FAILED until
	// the file or the object changes (looked at again at every resync).
	ReasonPullSecretUnavailable = "PullSecretUnavailable"
)

// CapabilityAll names every capability, in Add or Drop.
const CapabilityAll = "ALL"

// NormalizeCapability returns a capability name as berth writes it: upper
// case, without the CAP_ prefix ("cap_net_admin" -> "NET_ADMIN").
func NormalizeCapability(name string) string {
	n := strings.ToUpper(strings.TrimSpace(name))
	return strings.TrimPrefix(n, "CAP_")
}

// PrivilegeEscalation reports whether the template asks to run without
// no-new-privileges.
func (t *ContainerTemplate) PrivilegeEscalation() bool {
	sc := t.SecurityContext
	return sc != nil && sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation
}

// Port is a container port, published on the host when HostPort is set or
// left to the engine (HostPort 0 with Publish unset means a dynamic port).
type Port struct {
	Name          string   `json:"name,omitempty"`
	ContainerPort int      `json:"containerPort"`
	HostPort      int      `json:"hostPort,omitempty"`
	HostIP        string   `json:"hostIP,omitempty"`
	Protocol      Protocol `json:"protocol,omitempty"`
}

// Volume mounts a host path or a named Docker volume at ContainerPath.
// Exactly one of HostPath and Name is set.
type Volume struct {
	HostPath      string       `json:"hostPath,omitempty"`
	Type          HostPathType `json:"type,omitempty"`
	Name          string       `json:"name,omitempty"`
	ContainerPath string       `json:"containerPath"`
	ReadOnly      bool         `json:"readOnly,omitempty"`
}

// Resources limits the container.
type Resources struct {
	CPUs   CPUs     `json:"cpus,omitempty"`
	Memory Quantity `json:"memory,omitempty"`
}

// HealthCheck probes the container for the life of the container. Exactly
// one of HTTP, TCP and Exec is set.
//
// StartInterval is how soon a probe that failed before the check first
// passed is followed (unset: DefaultHealthStartInterval, at least
// MinCheckStartInterval); each further failure doubles the wait, up to
// Interval. After the first pass probes come every Interval. It is not
// filled in by Default, so that a template's hash stays what it was
// before the field existed.
type HealthCheck struct {
	HTTP          *HTTPCheck `json:"http,omitempty"`
	TCP           *TCPCheck  `json:"tcp,omitempty"`
	Exec          *ExecCheck `json:"exec,omitempty"`
	Interval      *Duration  `json:"interval,omitempty"`
	Timeout       *Duration  `json:"timeout,omitempty"`
	Retries       int        `json:"retries,omitempty"`
	StartPeriod   *Duration  `json:"startPeriod,omitempty"`
	StartInterval *Duration  `json:"startInterval,omitempty"`
}

// HTTPCheck passes on a 2xx or 3xx answer to GET Path on Port.
type HTTPCheck struct {
	Path   string      `json:"path,omitempty"`
	Port   IntOrString `json:"port"`
	Scheme string      `json:"scheme,omitempty"`
}

// TCPCheck passes when Port accepts a connection.
type TCPCheck struct {
	Port IntOrString `json:"port"`
}

// ExecCheck runs Command inside the container; exit code 0 passes.
type ExecCheck struct {
	Command []string `json:"command"`
}
