package registrator

import (
	"context"
	"encoding/json"
	"time"

	"berth.dev/berth/internal/catalog"
)

// withResults starts the runners of new checks, stops those of checks
// gone, fills in each check's verdict, and drops endpoints critical for
// longer than their checks' DeregisterCriticalAfter (an agent's
// registration with them, and its checks' runners). Every check's
// interval, timeout and TTL are raised to berth's floors first (and shown
// so in the catalog); it returns the checks whose runner it started with
// raised durations, to warn about. A Docker health status runs nothing: desired filled it in.
func (r *Registrator) withResults(eps []catalog.Endpoint) ([]catalog.Endpoint, []floored) {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := map[string]bool{}
	out := eps[:0]
	var drop []string
	var floors []floored
	for _, e := range eps {
		gone := false
		for i := range e.Checks {
			c := &e.Checks[i]
			if c.Type == catalog.CheckDocker {
				continue
			}
			key := runnerKey(e.ID, c.ID)
			live[key] = true
			raised := floorCheck(c)
			rn, started := r.ensureRunner(key, e, *c)
			if started && len(raised) > 0 {
				floors = append(floors, floored{endpoint: e, check: c.ID, raised: raised})
			}
			if rn.fill(c) {
				gone = true
			}
		}
		if !gone {
			out = append(out, e)
		} else if e.Source == catalog.SourceAgent {
			// Deregistered with its checks, as Consul's agent does; any
			// other endpoint's runners go on, so that it comes back when
			// its checks pass again.
			drop = append(drop, e.ID)
			for _, c := range e.Checks {
				delete(live, runnerKey(e.ID, c.ID))
			}
		}
	}
	for key, rn := range r.runners {
		if !live[key] {
			rn.cancel()
			delete(r.runners, key)
		}
	}
	if len(drop) > 0 {
		for _, id := range drop {
			delete(r.agent, id)
		}
		r.saved.save(r.agent)
	}
	return out, floors
}

// ensureRunner returns the runner of check c of endpoint e (under key),
// and starts one when there is none or c's definition changed (started
// true). Call with r.mu held.
func (r *Registrator) ensureRunner(key string, e catalog.Endpoint, c catalog.Check) (rn *runner, started bool) {
	defKey := checkDefKey(&c, e.Container)
	old := r.runners[key]
	if old != nil && old.defKey == defKey {
		return old, false
	}
	if old != nil {
		old.cancel()
	}
	rn = newRunner(c, defKey, e.Container, r.o.Clock, r.o.BerthMetrics.CheckRan)
	if e.Source == catalog.SourceAgent && c.Type == catalog.CheckExec {
		// Asked before every run: what the API registered may run only in
		// this host's berth containers.
		rn.resolve = r.scriptContainer
	}
	ctx, cancel := context.WithCancel(r.runCtx)
	rn.cancel = cancel
	r.runners[key] = rn
	go rn.run(ctx, r.checker, func() { r.loop.Enqueue(syncKey) })
	return rn, true
}

// runnerKey is the key of the runner of check checkID of endpoint id.
func runnerKey(id, checkID string) string { return id + "\x00" + checkID }

// checkDefKey is what a runner runs: the check's definition without its
// results, and the container it runs in.
func checkDefKey(c *catalog.Check, container string) string {
	d := *c
	d.Status, d.Output, d.CriticalSince = "", "", time.Time{}
	b, _ := json.Marshal(d)
	return container + string(b)
}

// stopRunners stops every check's runner.
func (r *Registrator) stopRunners() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, rn := range r.runners {
		rn.cancel()
		delete(r.runners, key)
	}
}
