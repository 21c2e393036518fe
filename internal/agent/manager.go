package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// A runnable is a component of the controller process, in the shape of
// controller-runtime's manager.Runnable: Start runs it until ctx ends and
// then returns nil. An error returned before ctx ends stops the controller,
// and Run returns it; components that retry what fails (etcd, Docker) never
// return one.
type runnable interface {
	Start(ctx context.Context) error
}

// group is where a component stands in the start and shutdown order.
type group int

const (
	// groupAPI is the HTTP server: it serves from the start, so that
	// /healthz and /readyz answer while etcd is reached, with every route
	// mounted (those of components not yet started answer 503).
	groupAPI group = iota
	// groupEtcd is what reads and writes etcd for every other component:
	// the embedded etcd, the client and the events recorder.
	groupEtcd
	// groupHost is what this host runs: the catalog, DNS, the
	// registrator, the units controller, the dashboard, the heartbeat.
	groupHost
	// groupLeader is the cluster-wide loops, which run only while this
	// host leads, as controller-runtime's runnables whose
	// NeedLeaderElection is true.
	groupLeader
)

// shutdownOrder is the order in which the groups stop; within a group,
// the components stop one after another, the last started first. The HTTP
// server stops accepting requests and finishes those under way; the
// cluster-wide loops stop and leadership is given up, so that another
// controller takes over at once; this host's components stop, the
// heartbeat first (it revokes the host's lease: the host shows DOWN at
// once); the events recorder, the etcd client and the embedded etcd stop
// last, its data intact.
var shutdownOrder = [...]group{groupAPI, groupLeader, groupHost, groupEtcd}

// component is a runnable the manager knows by name and group.
type component struct {
	name  string
	group group
	run   func(ctx context.Context) error
	// started, when set, is closed once the component serves: the
	// components added after it start only then, and an error before
	// then is an error of Run's start (a port in use, etcd refusing the
	// client's certificate).
	started <-chan struct{}
}

// Start runs the component until ctx ends.
func (c component) Start(ctx context.Context) error { return c.run(ctx) }

// NeedLeaderElection reports whether the component runs only while this
// host leads the cluster-wide loops.
func (c component) NeedLeaderElection() bool { return c.group == groupLeader }

var _ runnable = component{}

// returns adapts a function that returns nothing to a component's run.
func returns(f func(context.Context)) func(context.Context) error {
	return func(ctx context.Context) error { f(ctx); return nil }
}

// elector runs lead while this process leads, as store.Election does:
// lead's context ends when leadership is lost, and Run campaigns again
// once lead has returned.
type elector interface {
	Run(ctx context.Context, lead func(ctx context.Context)) error
}

// manager starts the controller's components in the order they are added
// and stops them in shutdownOrder, as controller-runtime's manager does
// its runnables. The components of groupLeader run on every term of the
// election, from its start to its end; the others from start until
// stop. It is used by one goroutine: Run's.
type manager struct {
	log      *slog.Logger
	election elector
	onLead   func(leading bool)

	added    []component
	running  []*running
	leaders  []component
	campaign bool // the election's runner is among running
	failed   chan error
	stopOnce sync.Once
}

// running is a started component.
type running struct {
	component
	cancel context.CancelFunc
	done   chan struct{}
}

func newManager(log *slog.Logger) *manager {
	return &manager{log: log, failed: make(chan error, 1)}
}

// lead has the components of groupLeader run while e says this process
// leads; onLead is told when a term starts and ends.
func (m *manager) lead(e elector, onLead func(leading bool)) {
	m.election, m.onLead = e, onLead
}

// add adds components; they start at the next call of start.
func (m *manager) add(cs ...component) { m.added = append(m.added, cs...) }

// start starts the components added since the last call, in order,
// waiting for each that says when it has started; then, once there are
// components of groupLeader, the election, which runs those added until
// then. It returns the error of a component that failed or returned
// before it started, or nil when ctx ended first (the caller returns
// then); stop stops what was started.
func (m *manager) start(ctx context.Context) error {
	added := m.added
	m.added = nil
	for _, c := range added {
		if c.NeedLeaderElection() {
			m.leaders = append(m.leaders, c)
			continue
		}
		r := m.run(ctx, c)
		if c.started == nil {
			continue
		}
		select {
		case <-c.started:
		case <-r.done:
			select {
			case err := <-m.failed:
				return err
			default:
				return fmt.Errorf("%s stopped before it started", c.name)
			}
		case <-ctx.Done():
			return nil
		}
	}
	if len(m.leaders) > 0 && m.election != nil && !m.campaign {
		m.campaign = true
		leaders := slices.Clone(m.leaders)
		m.run(ctx, component{name: "election", group: groupLeader, run: func(ctx context.Context) error {
			return m.campaignLoop(ctx, leaders)
		}})
	}
	return nil
}

// run starts c in a goroutine of its own, with a context that ends when
// stop stops it (not when ctx does: stop keeps to shutdownOrder).
func (m *manager) run(ctx context.Context, c component) *running {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &running{component: c, cancel: cancel, done: make(chan struct{})}
	m.running = append(m.running, r)
	go func() {
		defer close(r.done)
		m.watch(cctx, c)
	}()
	return r
}

// watch runs c until ctx ends, and reports an error it returns before.
func (m *manager) watch(ctx context.Context, c component) {
	err := c.Start(ctx)
	if err == nil || ctx.Err() != nil {
		return
	}
	select {
	case m.failed <- err: // the first error is the one Run returns
	default:
		m.log.Error("component stopped", "component", c.name, "err", err)
	}
}

// campaignLoop campaigns until ctx ends; each term runs every one of
// leaders until it ends.
func (m *manager) campaignLoop(ctx context.Context, leaders []component) error {
	err := m.election.Run(ctx, func(lctx context.Context) {
		m.onLead(true)
		defer m.onLead(false)
		m.log.Info("leading the cluster-wide loops")
		var wg sync.WaitGroup
		for _, c := range leaders {
			wg.Go(func() { m.watch(lctx, c) })
		}
		wg.Wait()
		m.log.Info("no longer leading")
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("leader election: %w", err)
	}
	return nil
}

// wait returns when ctx ends, with nil, or when a component fails, with
// its error; stop then stops every component.
func (m *manager) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-m.failed:
		return err
	}
}

// stop stops every started component in shutdownOrder and waits for
// each; calls after the first do nothing.
func (m *manager) stop() {
	m.stopOnce.Do(func() {
		m.log.Info("shutting down")
		for _, g := range shutdownOrder {
			for _, r := range slices.Backward(m.running) {
				if r.group == g {
					r.cancel()
					<-r.done
				}
			}
		}
	})
}
