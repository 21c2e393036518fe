package units

import (
	"context"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// prober runs a container's health check for as long as the container
// runs, telling the controller about every change of verdict.
type prober struct {
	key    string // container id and start time: a restart gets a new prober
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	h  health
}

func (p *prober) get() health {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h
}

func proberKey(c *runtime.Container) string {
	return c.ID + "@" + c.StartedAt.UTC().Format(time.RFC3339Nano)
}

// probeFunc runs a prober until ctx ends (Controller.runProber).
type probeFunc func(ctx context.Context, p *prober, key string, u *v1.Unit, ctr runtime.Container)

// probers are the running probers by work-queue key. Their goroutines
// are children of the context start gives: none starts before it, and
// wait returns once that context ended and every prober returned.
type probers struct {
	probe probeFunc

	mu     sync.Mutex
	ctx    context.Context // nil until start
	closed bool            // wait was told ctx ended: no prober starts any more
	m      map[string]*prober
	wg     sync.WaitGroup
}

func newProbers(probe probeFunc) *probers {
	return &probers{probe: probe, m: map[string]*prober{}}
}

// start makes ctx the parent of the probers to come.
func (ps *probers) start(ctx context.Context) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.ctx = ctx
}

// wait returns once the context of start ended and the probers returned.
func (ps *probers) wait() {
	ps.mu.Lock()
	ctx := ps.ctx
	ps.mu.Unlock()
	if ctx != nil {
		<-ctx.Done()
	}
	ps.mu.Lock()
	ps.closed = true
	ps.mu.Unlock()
	ps.wg.Wait()
}

// ensure starts the prober of the unit's running container if it is not
// running yet, stops probers of other containers of the unit, and returns
// what the current one has seen.
func (ps *probers) ensure(key string, u *v1.Unit, ctr *runtime.Container) health {
	hc := u.Spec.Container.HealthCheck
	ps.mu.Lock()
	defer ps.mu.Unlock()
	old := ps.m[key]
	if hc == nil || ctr == nil || ctr.State != runtime.StateRunning {
		if old != nil {
			old.cancel()
			delete(ps.m, key)
		}
		return health{Configured: hc != nil}
	}
	pkey := proberKey(ctr) + "/" + v1.TemplateHash(&u.Spec.Container)
	if old != nil && old.key == pkey {
		return old.get()
	}
	if old != nil {
		old.cancel()
		delete(ps.m, key)
	}
	if ps.ctx == nil || ps.closed || ps.ctx.Err() != nil {
		return health{Configured: true} // not running, or shutting down
	}
	ctx, cancel := context.WithCancel(ps.ctx)
	p := &prober{key: pkey, cancel: cancel, done: make(chan struct{}), h: health{Configured: true}}
	ps.m[key] = p
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		ps.probe(ctx, p, key, u, *ctr)
	}()
	return p.get()
}

// stop stops the prober of key, if one runs.
func (ps *probers) stop(key string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.m[key]; p != nil {
		p.cancel()
		delete(ps.m, key)
	}
}
