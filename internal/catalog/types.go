package catalog

import (
	"context"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// Sources of an endpoint.
const (
	SourceContainer = "container" // a container publishing a port (Registrator's conventions, Service selectors)
	SourceStatic    = "static"    // a Service's static endpoints
	SourceAgent     = "agent"     // registered through PUT /v1/agent/service/register
)

// Check types.
const (
	CheckHTTP   = "http"
	CheckTCP    = "tcp"
	CheckExec   = "exec"   // run inside the endpoint's container
	CheckTTL    = "ttl"    // updated through the agent API
	CheckDocker = "docker" // the container's own HEALTHCHECK status
)

// Check is one health check of an endpoint and its last result.
type Check struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Status v1.CheckStatus `json:"status"`
	// Output of the last run, at most 4 KiB.
	Output string `json:"output,omitempty"`
	Notes  string `json:"notes,omitempty"`

	// What is checked.
	HTTP     string              `json:"http,omitempty"` // full URL
	Method   string              `json:"method,omitempty"`
	Header   map[string][]string `json:"header,omitempty"`
	TCP      string              `json:"tcp,omitempty"` // host:port
	Exec     []string            `json:"exec,omitempty"`
	Interval time.Duration       `json:"interval,omitempty"`
	Timeout  time.Duration       `json:"timeout,omitempty"`
	TTL      time.Duration       `json:"ttl,omitempty"`

	SuccessBeforePassing    int           `json:"successBeforePassing,omitempty"`
	FailuresBeforeCritical  int           `json:"failuresBeforeCritical,omitempty"`
	DeregisterCriticalAfter time.Duration `json:"deregisterCriticalAfter,omitempty"`
	// CriticalSince is when the check last became critical (zero if it is not).
	CriticalSince time.Time `json:"criticalSince,omitzero"`
}

// Endpoint is one instance of a service: an address and port, on a host,
// with its tags, meta and checks.
type Endpoint struct {
	// ID is unique within the service on its host (two hosts may register
	// the same ID, as two Consul nodes may): <host>:<container-name>:<port>[:udp]
	// for containers (Registrator's), SERVICE_ID or the agent's ID otherwise.
	ID       string            `json:"id"`
	Service  string            `json:"service"`
	Host     string            `json:"host"`    // the node that registered it
	Address  string            `json:"address"` // where clients connect
	Port     int               `json:"port"`
	Protocol v1.Protocol       `json:"protocol,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
	Source   string            `json:"source"`
	// Container is the container's id, for exec checks, when there is one.
	Container string `json:"container,omitempty"`
	// Kind and Name of the berth object whose container it is, if any.
	OwnerKind string  `json:"ownerKind,omitempty"`
	OwnerName string  `json:"ownerName,omitempty"`
	Checks    []Check `json:"checks,omitempty"`
	// Weights used in SRV answers, as Consul's.
	Weights Weights `json:"weights"`
	// OnlyPassing leaves it out of DNS answers unless every check passes.
	OnlyPassing bool `json:"onlyPassing,omitempty"`
	// DNSTTL of answers about it (0: not cached).
	DNSTTL time.Duration `json:"dnsTTL,omitempty"`

	// CreateIndex and ModifyIndex are the etcd revisions that created and
	// last changed it; set when read, not stored.
	CreateIndex int64 `json:"-"`
	ModifyIndex int64 `json:"-"`
}

// Weights of an endpoint in SRV answers, by its status.
type Weights struct {
	Passing int `json:"passing"`
	Warning int `json:"warning"`
}

// Status aggregates the checks: critical over warning over passing; an
// endpoint without checks is passing.
func (e *Endpoint) Status() v1.CheckStatus {
	st := v1.CheckPassing
	for _, c := range e.Checks {
		switch c.Status {
		case v1.CheckCritical:
			return v1.CheckCritical
		case v1.CheckWarning:
			st = v1.CheckWarning
		}
	}
	return st
}

// Routable reports whether DNS may answer with the endpoint: never when
// critical; when warning, unless it asks for passing only.
func (e *Endpoint) Routable() bool {
	switch e.Status() {
	case v1.CheckCritical:
		return false
	case v1.CheckWarning:
		return !e.OnlyPassing
	}
	return true
}

// HasTag reports whether the endpoint carries tag (case-insensitively, as
// DNS names are).
func (e *Endpoint) HasTag(tag string) bool {
	for _, t := range e.Tags {
		if equalFold(t, tag) {
			return true
		}
	}
	return false
}

// Node is a host as the catalog shows it.
type Node struct {
	Name    string            `json:"name"`
	Address string            `json:"address"`
	Up      bool              `json:"up"`
	Meta    map[string]string `json:"meta,omitempty"` // the host's labels
	// HTTPAddress is the node's controller API (--listen).
	HTTPAddress string `json:"httpAddress,omitempty"`
	// HTTPScheme is "https" when the controller serves its API over TLS.
	HTTPScheme  string `json:"httpScheme,omitempty"`
	CreateIndex int64  `json:"-"`
	ModifyIndex int64  `json:"-"`
}

// Reader reads the catalog from memory. Its methods are safe for
// concurrent use and return copies.
type Reader interface {
	// Index is the catalog's current index: it never goes backwards, and
	// rises with every change (including deletions).
	Index() int64
	// Services returns every service with the union of its endpoints' tags.
	Services() map[string][]string
	// Endpoints returns the endpoints of a service (nil when none), sorted
	// by host and id, with the index of the last change that touched them.
	Endpoints(service string) ([]Endpoint, int64)
	// Nodes returns every host, Up or not.
	Nodes() ([]Node, int64)
	// Node returns one host.
	Node(name string) (Node, bool)
	// Wait blocks until the index of what scope names passes index, or ctx
	// ends; it returns the current index. scope is a service name, or ""
	// for the whole catalog.
	Wait(ctx context.Context, scope string, index int64) int64
}

// RefusedError is what an Agent returns when its policy does not allow a
// registration (script checks are off, a container is not one berth runs
// on this host): the request is refused, the agent has not failed. Its
// text is for the client; the HTTP API answers it with 403.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// Agent is this host's side of the catalog: what the Consul agent API
// writes through. Endpoints it registers are this host's, on its lease.
// Register and RegisterCheck return a *RefusedError for what the host's
// policy does not allow.
type Agent interface {
	// NodeName is this host's name; Datacenter the catalog's ("dc1").
	NodeName() string
	Datacenter() string
	// Register adds or replaces an outside service on this host.
	Register(ctx context.Context, e Endpoint) error
	// Deregister removes one; no error when it is unknown.
	Deregister(ctx context.Context, id string) error
	// RegisterCheck adds a check to an endpoint of this host (serviceID ""
	// for a check of its own, which this catalog attaches to no service
	// and reports as a node check).
	RegisterCheck(ctx context.Context, serviceID string, c Check) error
	DeregisterCheck(ctx context.Context, checkID string) error
	// UpdateTTL sets a TTL check's status and output.
	UpdateTTL(ctx context.Context, checkID string, status v1.CheckStatus, output string) error
	// Local returns the endpoints registered on this host.
	Local() []Endpoint
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
