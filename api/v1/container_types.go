package v1

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
}

// EnvVar is one environment variable of the container.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
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
type HealthCheck struct {
	HTTP        *HTTPCheck `json:"http,omitempty"`
	TCP         *TCPCheck  `json:"tcp,omitempty"`
	Exec        *ExecCheck `json:"exec,omitempty"`
	Interval    *Duration  `json:"interval,omitempty"`
	Timeout     *Duration  `json:"timeout,omitempty"`
	Retries     int        `json:"retries,omitempty"`
	StartPeriod *Duration  `json:"startPeriod,omitempty"`
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
