package v1

import "time"

// Host is a machine that runs a berth controller. It is written by that
// controller, never applied.
type Host struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Status   HostStatus `json:"status"`
}

// HeaderHost carries a host's name in requests to a controller's HTTP API
// and in its answers: a client names the host it means to reach (as its
// Host record names it), a controller of another host answers 421
// Misdirected Request, and every answer of the logs names the host that
// gave it. Two hosts whose records give the same loopback address (each
// on its own machine) are thus never mistaken for each other.
const HeaderHost = "X-Berth-Host"

// HostState says whether a host's controller is alive.
type HostState string

// Values of HostState.
const (
	HostUp   HostState = "UP"
	HostDown HostState = "DOWN"
)

// HostStatus is what a controller reports about its host.
type HostStatus struct {
	// State is computed when read: Up while the host's lease lives.
	State         HostState  `json:"state,omitempty"`
	Addresses     []string   `json:"addresses,omitempty"`
	HTTPAddress   string     `json:"httpAddress,omitempty"`
	HTTPScheme    string     `json:"httpScheme,omitempty"` // of HTTPAddress: "https" under TLS, else "http" (or empty)
	DNSAddress    string     `json:"dnsAddress,omitempty"`
	CPUs          int        `json:"cpus"`
	MemoryBytes   int64      `json:"memoryBytes"`
	MemoryUsed    int64      `json:"memoryUsedBytes"`
	LoadAverage   [3]float64 `json:"loadAverage"`
	OS            string     `json:"os,omitempty"`
	Kernel        string     `json:"kernel,omitempty"`
	Arch          string     `json:"arch,omitempty"`
	BerthVersion  string     `json:"berthVersion,omitempty"`
	DockerVersion string     `json:"dockerVersion,omitempty"`
	StartedAt     time.Time  `json:"startedAt,omitzero"`
	Heartbeat     time.Time  `json:"heartbeat,omitzero"`

	// ReservedCPUs and ReservedMemory are what the controller's
	// --reserved-cpus and --reserved-memory keep for the system: the
	// scheduler places replicas in CPUs and MemoryBytes less these.
	ReservedCPUs   float64 `json:"reservedCpus,omitempty"`
	ReservedMemory int64   `json:"reservedMemoryBytes,omitempty"`
}

func (h *Host) GetTypeMeta() *TypeMeta     { return &h.TypeMeta }
func (h *Host) GetObjectMeta() *ObjectMeta { return &h.Metadata }
func (h *Host) DeepCopyObject() Object     { return deepCopy(h) }
