package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Implementations wrap them (test with errors.Is) together
// with the engine's own message.
var (
	// ErrNotFound: the container, image or network does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the engine's state, e.g. a
	// container name already in use.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the engine cannot be reached. Callers report not-ready
	// and retry with backoff.
	ErrUnavailable = errors.New("container engine unavailable")
	// ErrPortAllocated: the engine could not publish a host port of the
	// container because something else holds it (another container, or a
	// process listening on it), so the container did not start.
	ErrPortAllocated = errors.New("host port already allocated")
)

// ContainerState is the lifecycle state of a container.
type ContainerState string

// Container states, as the engine reports them.
const (
	StateCreated    ContainerState = "created"
	StateRunning    ContainerState = "running"
	StatePaused     ContainerState = "paused"
	StateRestarting ContainerState = "restarting"
	StateRemoving   ContainerState = "removing"
	StateExited     ContainerState = "exited"
	StateDead       ContainerState = "dead"
)

// Health is the status of the image's own health check (Docker's HEALTHCHECK).
type Health string

// Health states. HealthNone means the container has no health check.
const (
	HealthNone      Health = "none"
	HealthStarting  Health = "starting"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Port protocols.
const (
	TCP = "tcp"
	UDP = "udp"
)

// PortBinding publishes a container port on the host.
type PortBinding struct {
	ContainerPort int
	HostPort      int    // 0: the engine picks a free port (read it back with Inspect)
	HostIP        string // "": all addresses
	Protocol      string // TCP or UDP; "" means TCP
}

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
)

// Mount is a bind mount of a host path or a named volume.
type Mount struct {
	Type     string // MountBind or MountVolume; "" means bind when Source is an absolute path, else volume
	Source   string // absolute host path (bind, must exist) or volume name (created when missing)
	Target   string // absolute path in the container
	ReadOnly bool
}

// Volume is a named volume as the engine reports it.
type Volume struct {
	Name   string
	Labels map[string]string
}

// Network is a network as the engine reports it.
type Network struct {
	ID     string
	Name   string
	Labels map[string]string
	// Gateway is the host's IPv4 address on the network (the gateway of
	// its first IPv4 subnet that has one), which its containers reach;
	// "" when it has none (host, none).
	Gateway string
}

// ContainerSpec is what Create makes. No restart policy is ever set: berth is
// the process manager.
type ContainerSpec struct {
	Name       string
	Image      string
	Entrypoint []string // nil: the image's
	Cmd        []string // nil: the image's
	Env        []string // "KEY=value"
	Labels     map[string]string
	Ports      []PortBinding
	Mounts     []Mount
	WorkingDir string
	User       string
	Hostname   string
	// NetworkMode is "", "bridge", "host", "none", "container:<x>" or a
	// network name. "" means Network when it is set, else the engine's default.
	NetworkMode string
	// Network is a user-defined network (see EnsureNetwork) to attach to with
	// Aliases as extra DNS names. It must equal NetworkMode when both are set.
	Network     string
	Aliases     []string
	CPUs        float64 // 0: unlimited
	MemoryBytes int64   // 0: unlimited
	StopSignal  string  // "": SIGTERM
	StopTimeout time.Duration
	// Security is what the container may do beyond the engine's defaults.
	Security Security
	// DNS is what the container's /etc/resolv.conf says; the zero DNS
	// keeps the engine's default.
	DNS DNS
}

// DNS is a container's resolver configuration: Docker's --dns,
// --dns-search and --dns-option. On a user-defined network the engine's
// embedded DNS (127.0.0.11) stays the container's nameserver, answers the
// names of the network's containers and forwards the others to
// Nameservers. The zero DNS keeps the engine's default: the host's
// resolvers, less those on loopback.
type DNS struct {
	Nameservers []string // IP addresses
	Searches    []string // search domains
	Options     []string // resolv.conf options: "ndots:2", "edns0"
}

// IsZero reports whether d keeps the engine's default.
func (d DNS) IsZero() bool {
	return len(d.Nameservers) == 0 && len(d.Searches) == 0 && len(d.Options) == 0
}

// Security is what a container may do beyond the engine's defaults: the
// engine's HostConfig Privileged, CapAdd, CapDrop, SecurityOpt
// no-new-privileges and ReadonlyRootfs. The zero Security is the engine's
// default container.
type Security struct {
	// Privileged gives the container every capability and the host's
	// devices.
	Privileged bool
	// CapAdd and CapDrop name Linux capabilities without CAP_ ("NET_ADMIN"),
	// or "ALL".
	CapAdd  []string
	CapDrop []string
	// NoNewPrivileges keeps the container's processes from gaining
	// privileges (setuid binaries, file capabilities).
	NoNewPrivileges bool
	// ReadOnlyRootfs mounts the image's file system read-only.
	ReadOnlyRootfs bool
}

// Container is what the engine reports about a container.
type Container struct {
	ID    string
	Name  string // without Docker's leading '/'
	Image string // as requested at create
	// ImageID is the ID of the image it was created from, "sha256:<hex>".
	ImageID   string
	Labels    map[string]string
	Env       []string
	State     ContainerState
	ExitCode  int
	OOMKilled bool
	Health    Health

	Created, StartedAt, FinishedAt time.Time // zero when not (yet) known

	Ports     []PortBinding // as actually published (host ports filled in), sorted
	IPAddress string        // on its network, when known
	// NetworkMode is the container's network mode as the engine keeps it:
	// "" (the engine's default), "bridge", "host", "none", a network name,
	// or "container:<ID>" with the full ID of the container whose network
	// it joins (a name or ID prefix given at Create is resolved when that
	// container exists).
	NetworkMode string

	// Security is what the engine applied; capability names without CAP_.
	Security Security
	// DNS is the resolver configuration the container was created with.
	DNS DNS
}

// ExecResult is the outcome of Exec.
type ExecResult struct {
	ExitCode int
	Output   []byte // stdout and stderr interleaved, capped at MaxExecOutput bytes
}

// MaxExecOutput caps ExecResult.Output; the rest is discarded.
const MaxExecOutput = 64 << 10

// LogOptions selects what Logs returns.
type LogOptions struct {
	Follow     bool      // keep the stream open for new output until ctx ends or the reader is closed
	Tail       int       // last N lines; < 0 all (0 means none before following)
	Since      time.Time // zero: from the start
	Timestamps bool      // prefix every line with an RFC 3339 timestamp
}

// EventAction is what happened to a container.
type EventAction string

// Event actions. Exec events ("exec_create", ...) are reported with their
// action name and no suffix.
const (
	ActionCreate       EventAction = "create"
	ActionStart        EventAction = "start"
	ActionRestart      EventAction = "restart"
	ActionDie          EventAction = "die"
	ActionStop         EventAction = "stop"
	ActionKill         EventAction = "kill"
	ActionPause        EventAction = "pause"
	ActionUnpause      EventAction = "unpause"
	ActionOOM          EventAction = "oom"
	ActionDestroy      EventAction = "destroy"
	ActionRename       EventAction = "rename"
	ActionHealthStatus EventAction = "health_status"
	ActionExecCreate   EventAction = "exec_create"
	ActionExecStart    EventAction = "exec_start"
	ActionExecDie      EventAction = "exec_die"
)

// Event is a change to one container.
type Event struct {
	ID       string
	Name     string // container name, when the engine says
	Action   EventAction
	Labels   map[string]string // the container's labels
	ExitCode int               // for ActionDie
	Health   Health            // for ActionHealthStatus
	Time     time.Time
}

// ListOptions selects containers for List.
type ListOptions struct {
	Labels map[string]string // every label must match; value "" matches any value of that key
	All    bool              // include containers that are not running
}

// Runtime is the narrow seam between berth and a container engine. All
// methods are safe for concurrent use; every error wraps ErrUnavailable when
// the engine cannot be reached.
type Runtime interface {
	// Ping checks that the engine answers.
	Ping(ctx context.Context) error
	// Version is the engine's version, e.g. "20.10.24+dfsg1".
	Version(ctx context.Context) (string, error)
	// List returns the containers that match, sorted by name.
	List(ctx context.Context, opts ListOptions) ([]Container, error)
	// Inspect returns one container by ID or name, or ErrNotFound.
	Inspect(ctx context.Context, id string) (Container, error)
	// ImageExists reports whether ref is present locally.
	ImageExists(ctx context.Context, ref string) (bool, error)
	// Pull fetches ref ("repo:tag" or "repo@sha256:...") and returns once
	// it is present. Its error says why in the registry's words, wrapping
	// ErrUnauthorized when the registry refused or asked for credentials
	// and ErrNotFound when it has no such manifest; ctx ending stops the
	// pull.
	Pull(ctx context.Context, ref string, opts PullOptions) error
	// InspectImage returns the image ref (a reference or an image ID)
	// names, or ErrNotFound.
	InspectImage(ctx context.Context, ref string) (Image, error)
	// ListImages returns every image the engine has, by ID.
	ListImages(ctx context.Context) ([]Image, error)
	// RemoveImage removes ref: a tag or digest reference is untagged (the
	// image goes with its last reference), an image ID removes the image
	// with every reference of one repository. It is never forced:
	// ErrConflict when a container uses the image or an ID names one with
	// references in several repositories; ErrNotFound when there is no
	// such image.
	RemoveImage(ctx context.Context, ref string) error
	// Create makes a container and returns its ID: ErrConflict when the name
	// is taken, ErrNotFound when the image (or network) is missing.
	Create(ctx context.Context, spec ContainerSpec) (string, error)
	// Start starts a created or exited container; starting a running one is
	// not an error.
	Start(ctx context.Context, id string) error
	// Stop sends signal ("" : the container's StopSignal, else SIGTERM),
	// waits up to timeout (0: the container's StopTimeout, else 10s) and then
	// kills it. It returns once the container is not running; stopping a
	// container that is not running is not an error.
	Stop(ctx context.Context, id string, signal string, timeout time.Duration) error
	// Remove force-removes a container (killing it if running) with its
	// anonymous volumes. ErrNotFound when it does not exist.
	Remove(ctx context.Context, id string) error
	// Exec runs cmd in a running container and waits for it to exit; ctx
	// bounds it.
	Exec(ctx context.Context, id string, cmd []string) (ExecResult, error)
	// Logs streams the container's output as plain text, stdout and stderr
	// interleaved. The caller closes the reader.
	Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error)
	// Events streams container events until ctx ends, then closes both
	// channels. A broken stream sends one error and closes both channels:
	// callers re-subscribe and resync with List (events are not replayed).
	Events(ctx context.Context) (<-chan Event, <-chan error)
	// EnsureNetwork creates a user-defined bridge network named name with
	// labels unless one exists. It is idempotent and safe when callers race.
	EnsureNetwork(ctx context.Context, name string, labels map[string]string) error
	// InspectNetwork returns a network by name or ID, the predefined ones
	// (bridge, host, none) included, or ErrNotFound.
	InspectNetwork(ctx context.Context, name string) (Network, error)
	// InspectVolume returns a named volume, or ErrNotFound.
	InspectVolume(ctx context.Context, name string) (Volume, error)
	// EnsureVolume creates a named volume of the engine's local driver
	// with labels unless one of that name exists, and returns the volume
	// as the engine has it then: one that existed keeps its own labels,
	// whatever labels says. It is safe when callers race.
	EnsureVolume(ctx context.Context, name string, labels map[string]string) (Volume, error)
}
