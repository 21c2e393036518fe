package units

import (
	"context"
	"log/slog"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// EventRecorder records events about objects for describe.
type EventRecorder interface {
	Event(ctx context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any)
}

type noEvents struct{}

func (noEvents) Event(context.Context, string, string, v1.EventType, string, string, ...any) {}

// Options configure a Controller.
type Options struct {
	Store   *store.Store
	Runtime runtime.Runtime
	// Host is this host's name; Labels its labels, for placement.
	Host   string
	Labels map[string]string
	Events EventRecorder
	// Metrics are the loop's shared metrics (controller label "unit").
	Metrics *reconcile.Metrics
	// BerthMetrics, when set, receives berth's own metrics: instances by
	// state, restarts, time to RUNNING, image pulls.
	BerthMetrics *metrics.Metrics
	Log          *slog.Logger
	// Workers reconcile Units in parallel (default 8).
	Workers int
	// Resync is the period of a full reconcile (default 30s).
	Resync time.Duration
	// PortRange is where host ports left to berth are taken from
	// (default 20000-32767).
	PortRange [2]int
	// OnEngine, when set, is told whether the engine answers.
	OnEngine func(error)
	// Policy is what this host lets Units and Jobs ask for.
	Policy Policy
	// Drain, when set, takes a container's endpoints out of discovery; it
	// is called gracePeriod before a running container is stopped.
	Drain func(ctx context.Context, containerID string) error
	// Resolver, when set, is what containers resolve names with unless
	// their template says otherwise (see containerDNS); it is asked at
	// every create, and an error fails the create, which is retried.
	// Unset: the engine's default resolver.
	Resolver func(ctx context.Context) (Resolver, error)
	// Registry is where pulls find their credentials and how long they
	// may take.
	Registry Registry
	// StatusSettle is how long a state on the way to running or stopping
	// must last before its status is written (default
	// DefaultStatusSettle): steps that end sooner are one write.
	StatusSettle time.Duration
	// Pulled, when set, is told of every image this host pulled, by the
	// reference pulled and the image's ID (image garbage collection keeps
	// the record).
	Pulled func(ref, imageID string)
	// Units and Jobs, when set, are the host's caches of Units and Jobs,
	// shared with its other loops (the registrator): each change is then
	// received and decoded once per host. Nil: the controller makes its
	// own.
	Units *store.Typed[*v1.Unit]
	Jobs  *store.Typed[*v1.Job]
}

// Registry says how this host pulls images.
type Registry struct {
	// Config is the credentials file (Docker's config.json format) every
	// pull looks in after the workload's imagePullSecret; "" for none.
	Config string
	// ConfigRequired: Config was named by the operator, so a missing file
	// is an error; otherwise (docker's default path) it is no credentials.
	ConfigRequired bool
	// PullTimeout bounds one pull (default DefaultPullTimeout).
	PullTimeout time.Duration
}

// DefaultPullTimeout is how long a pull may take unless Registry says.
const DefaultPullTimeout = 10 * time.Minute

// Controller reconciles the Units and Jobs of one host. Its parts each
// keep their own state behind their own lock: the caches of etcd
// (caches.go, fed by sources.go), what it remembers of each instance
// (instance.go), the containers being drained (drain.go), the health
// probers (probers.go), the host ports (ports.go) and the history of Jobs
// (history.go). Reconcile (reconcile.go) runs one action per file:
// create.go, pull.go, start.go, stop.go, remove.go, restart.go.
type Controller struct {
	o         Options
	caches    *caches
	loop      *reconcile.Controller
	instances *instances
	drains    *drains
	probers   *probers
	ports     *portAllocator
	network   *network
	deps      *depIndex
	history   *historyWriter
}

// New returns a Controller; call Run.
func New(o Options) *Controller {
	if o.Workers < 1 {
		o.Workers = 8
	}
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.PortRange[0] == 0 {
		o.PortRange = [2]int{20000, 32767}
	}
	if o.Events == nil {
		o.Events = noEvents{}
	}
	if o.Registry.PullTimeout <= 0 {
		o.Registry.PullTimeout = DefaultPullTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.StatusSettle <= 0 {
		o.StatusSettle = DefaultStatusSettle
	}
	c := &Controller{
		o:         o,
		instances: newInstances(),
		drains:    newDrains(),
		ports:     newPortAllocator(o.PortRange),
		network:   &network{rt: o.Runtime},
		deps:      newDepIndex(),
		history:   newHistoryWriter(o.Store, o.Host),
	}
	c.probers = newProbers(c.runProber)
	c.loop = reconcile.New("unit", c, reconcile.Options{Workers: o.Workers, Metrics: o.Metrics, Log: o.Log, Resync: o.Resync})
	c.caches = newCaches(o.Store, o.Host, o.Log, o.Units, o.Jobs)
	c.watch()
	c.registerMetrics()
	c.checkPolicyFlags()
	return c
}

// Synced reports whether the caches have listed once.
func (c *Controller) Synced() bool { return c.loop.Synced() }

// Enqueue asks for a Unit to be reconciled.
func (c *Controller) Enqueue(name string) { c.loop.Enqueue(name) }

// RetryFailing reconciles at once every Unit and Job whose last reconcile
// failed and that waits out its backoff, and returns how many: call it
// when etcd is back after an outage, so that a container that died
// meanwhile is started again, and its status told, without waiting out a
// backoff that grew while etcd was away.
func (c *Controller) RetryFailing() int { return c.loop.RetryFailing() }

// Run reconciles until ctx ends: the loop runs its sources (sources.go)
// and reconciles once they have listed. Containers keep running when it
// returns; the health probers stop.
func (c *Controller) Run(ctx context.Context) error {
	c.makeAllowedDirs()
	c.probers.start(ctx)
	defer c.probers.wait()
	return c.loop.Start(ctx)
}
