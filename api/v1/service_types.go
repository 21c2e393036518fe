package v1

// Service names a set of endpoints for discovery: the containers of the
// Units and Jobs whose labels match Selector, plus static Endpoints, checked
// by Checks.
type Service struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta     `json:"metadata"`
	Spec     ServiceSpec    `json:"spec"`
	Status   *ServiceStatus `json:"status,omitempty"`
}

// ServiceSpec is what the user asks of a Service.
type ServiceSpec struct {
	// Selector matches the labels (metadata.labels) of Units and Jobs.
	Selector map[string]string `json:"selector,omitempty"`
	// Port is the container port, by name or number, that serves the service.
	Port      IntOrString       `json:"port,omitzero"`
	Tags      []string          `json:"tags,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	Endpoints []StaticEndpoint  `json:"endpoints,omitempty"`
	Checks    []Check           `json:"checks,omitempty"`
	// OnlyPassing leaves endpoints whose checks warn out of DNS answers.
	OnlyPassing bool `json:"onlyPassing,omitempty"`
	// TTL of DNS answers; 0 by default.
	TTL *Duration `json:"ttl,omitempty"`
}

// StaticEndpoint is an endpoint of something berth does not run.
type StaticEndpoint struct {
	ID      string            `json:"id,omitempty"`
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Host    string            `json:"host,omitempty"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
}

// CheckStatus is the status of a health check, as Consul names it.
type CheckStatus string

// Values of CheckStatus.
const (
	CheckPassing  CheckStatus = "passing"
	CheckWarning  CheckStatus = "warning"
	CheckCritical CheckStatus = "critical"
)

// Check is a health check of every endpoint of a Service. Exactly one of
// HTTP, TCP, Exec and TTL is set.
type Check struct {
	Name string `json:"name,omitempty"`
	// HTTP is a path ("/healthz") requested on the endpoint, or a full URL.
	HTTP   string              `json:"http,omitempty"`
	Method string              `json:"method,omitempty"`
	Header map[string][]string `json:"header,omitempty"`
	// TCP true connects to the endpoint's port; a "host:port" connects there.
	TCP string `json:"tcp,omitempty"`
	// Exec runs a command inside the container: 0 passing, 1 warning, else critical.
	Exec []string `json:"exec,omitempty"`
	// TTL: critical unless updated through the API within the TTL.
	TTL                     *Duration   `json:"ttl,omitempty"`
	Interval                *Duration   `json:"interval,omitempty"`
	Timeout                 *Duration   `json:"timeout,omitempty"`
	SuccessBeforePassing    int         `json:"successBeforePassing,omitempty"`
	FailuresBeforeCritical  int         `json:"failuresBeforeCritical,omitempty"`
	DeregisterCriticalAfter *Duration   `json:"deregisterCriticalAfter,omitempty"`
	InitialStatus           CheckStatus `json:"initialStatus,omitempty"`
}

// ServiceStatus is what the catalog holds for a Service.
type ServiceStatus struct {
	Endpoints int `json:"endpoints"`
	Passing   int `json:"passing"`
	Warning   int `json:"warning"`
	Critical  int `json:"critical"`
}

func (s *Service) GetTypeMeta() *TypeMeta     { return &s.TypeMeta }
func (s *Service) GetObjectMeta() *ObjectMeta { return &s.Metadata }
func (s *Service) DeepCopyObject() Object     { return deepCopy(s) }
