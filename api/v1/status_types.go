package v1

import (
	"strconv"
	"time"
)

// InstanceState is the observed state of one instance of a Unit or Job on
// one host.
type InstanceState string

// Values of InstanceState.
const (
	StatePullingImage   InstanceState = "PULLING_IMAGE"
	StateCreating       InstanceState = "CREATING"
	StateStarting       InstanceState = "STARTING"
	StateHealthchecking InstanceState = "HEALTHCHECKING"
	StateRunning        InstanceState = "RUNNING"
	StateExited         InstanceState = "EXITED"
	StateStopping       InstanceState = "STOPPING"
	StateStopped        InstanceState = "STOPPED"
	StateFailed         InstanceState = "FAILED"
	StateWaiting        InstanceState = "WAITING"
	StateUnknown        InstanceState = "UNKNOWN"
	// StatePending is a replica no host can take yet (v1.Binding.Pending):
	// applyctl shows it; no host reports it.
	StatePending InstanceState = "PENDING"
)

// ThrottleState says why restarts of an instance are held back.
type ThrottleState string

// Values of ThrottleState, as Helios names them.
const (
	ThrottleNo              ThrottleState = "NO"
	ThrottleFlapping        ThrottleState = "FLAPPING"
	ThrottleImageMissing    ThrottleState = "IMAGE_MISSING"
	ThrottleImagePullFailed ThrottleState = "IMAGE_PULL_FAILED"
)

// PortStatus is a port as published on the host.
type PortStatus struct {
	Name          string   `json:"name,omitempty"`
	ContainerPort int      `json:"containerPort"`
	HostPort      int      `json:"hostPort,omitempty"`
	Protocol      Protocol `json:"protocol,omitempty"`
}

// String is the port as tables show it: 8080->80/tcp when published on
// a host port, else 80/tcp.
func (p PortStatus) String() string {
	proto := p.Protocol
	if proto == "" {
		proto = ProtocolTCP
	}
	if p.HostPort > 0 {
		return strconv.Itoa(p.HostPort) + "->" + strconv.Itoa(p.ContainerPort) + "/" + string(proto)
	}
	return strconv.Itoa(p.ContainerPort) + "/" + string(proto)
}

// InstanceStatus is the status of one instance, written by the controller of
// the host that runs it, under status/<host>/<kind>/<name>.
type InstanceStatus struct {
	Host               string        `json:"host"`
	Goal               Goal          `json:"goal,omitempty"`
	State              InstanceState `json:"state"`
	Since              time.Time     `json:"since,omitzero"`
	ContainerID        string        `json:"containerID,omitempty"`
	Ports              []PortStatus  `json:"ports,omitempty"`
	Restarts           int           `json:"restarts"`
	LastExitCode       *int          `json:"lastExitCode,omitempty"`
	LastExitTime       time.Time     `json:"lastExitTime,omitzero"`
	Throttled          ThrottleState `json:"throttled,omitempty"`
	Message            string        `json:"message,omitempty"`
	ObservedGeneration int64         `json:"observedGeneration"`
	SpecHash           string        `json:"specHash,omitempty"`
	// ImageID is the image the container runs: "repo@sha256:<manifest
	// digest>" when it was pulled from a registry (the same on every host
	// that runs the same bytes), else the engine's image ID
	// "sha256:<hex>".
	ImageID string `json:"imageID,omitempty"`
	// Pull is how far the image's pull is, while the state is
	// PULLING_IMAGE.
	Pull       *PullStatus `json:"pull,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// PullStatus is how far an image pull is: layers as the engine reports
// them (one already present counts as done), bytes downloaded of those
// known so far.
type PullStatus struct {
	Layers     int   `json:"layers"`
	LayersDone int   `json:"layersDone"`
	BytesDone  int64 `json:"bytesDone"`
	BytesTotal int64 `json:"bytesTotal"`
}

// ObjectStatus gathers the instances of a Unit or Job across hosts.
type ObjectStatus struct {
	Instances []InstanceStatus `json:"instances"`
	// Pending is how many replicas of a Unit no host can take now, and
	// PendingReason why: what the scheduler wrote in the Unit's binding.
	Pending       int    `json:"pending,omitempty"`
	PendingReason string `json:"pendingReason,omitempty"`
}
