package v1

import "time"

// EventType is Normal or Warning, as in Kubernetes.
type EventType string

// Values of EventType.
const (
	EventNormal  EventType = "Normal"
	EventWarning EventType = "Warning"
)

// ObjectReference names an object.
type ObjectReference struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Event is something an operator would want to read in describe: a
// container pulled, started, died, restarted, backed off. Events are stored
// under events/<kind>/<name>/<id> on a lease of an hour; a repeat of the
// same reason and message raises Count instead of adding an event.
type Event struct {
	Object         ObjectReference `json:"object"`
	Type           EventType       `json:"type"`
	Reason         string          `json:"reason"`
	Message        string          `json:"message"`
	Host           string          `json:"host,omitempty"`
	Count          int             `json:"count"`
	FirstTimestamp time.Time       `json:"firstTimestamp"`
	LastTimestamp  time.Time       `json:"lastTimestamp"`
}
