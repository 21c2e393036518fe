package scheduler

import (
	"strings"
	"time"

	"k8s.io/utils/clock"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// bound is a unit's binding as the scheduler knows it.
type bound struct {
	b *v1.Binding // nil: no binding
	// modRev is the binding key's mod revision, what a write compares.
	modRev int64
	// invalid marks a stored binding that does not decode: it is rewritten.
	invalid bool
}

// written is a binding this scheduler wrote that its cache may not show yet.
type written struct {
	b   *v1.Binding // nil: deleted
	rev int64       // revision of the write; 0 while it is in flight
}

// state is the scheduler's picture of the cluster: units, bindings, hosts
// and what the placed Units and Jobs take of every host. Each part is
// rebuilt from the caches it comes from whenever one of them moved, with
// the bindings this scheduler wrote (or is writing) laid over what the
// bindings cache shows, so that decisions made one after the other see
// each other's load even before the watch delivers them. Its fields are
// guarded by runner.mu.
type state struct {
	revs  [6]int64 // of the units, bindings, hosts, alive, jobs and job bindings caches
	valid bool

	units    map[string]store.Entry[*v1.Unit] // by name; one that does not decode has Err set
	bindings map[string]bound
	hosts    []HostInfo
	// load holds what every placed Unit and Job takes of each host, and
	// the host ports their instances report.
	load *Load
	// reqs is what one instance of each unit asks, by name, kept while
	// the unit's mod revision stays.
	reqs map[string]unitRequest
	// jobs are the Jobs' placements: where each runs and what it asks.
	jobs map[string]placement
	// pending are the units with replicas no host could take: they are
	// looked at again when room may have appeared.
	pending map[string]bool
	// mine are the writes of this scheduler not yet seen by the bindings
	// cache, by unit name.
	mine map[string]written
	// downSince is when this scheduler first saw each Down host down.
	downSince map[string]time.Time
	// rescheduleAfter and the clock decide which Down hosts are Lost.
	rescheduleAfter time.Duration
	clock           clock.PassiveClock
}

func newState(c clock.PassiveClock) *state {
	return &state{units: map[string]store.Entry[*v1.Unit]{}, mine: map[string]written{}, downSince: map[string]time.Time{}, clock: c,
		load: NewLoad(), reqs: map[string]unitRequest{}, jobs: map[string]placement{}, pending: map[string]bool{}}
}

// unitRequest is what one instance of a unit asks, at a mod revision.
type unitRequest struct {
	modRev int64
	req    Request
}

// refresh rebuilds the state when a cache moved since the last rebuild, or
// when it was invalidated.
func (st *state) refresh(r *runner) {
	// Revisions are read before the content: content at least as new as the
	// revision recorded makes the next refresh rebuild at worst once more.
	revs := [6]int64{r.units.Revision(), r.bindings.Revision(), r.hosts.Revision(), r.alive.Revision(),
		r.jobs.Revision(), r.jobBindings.Revision()}
	hostsMoved := st.revs[2] != revs[2] || st.revs[3] != revs[3] || !st.valid || st.becameLost()
	if hostsMoved {
		st.refreshHosts(r)
	}
	jobsMoved := st.revs[4] != revs[4] || st.revs[5] != revs[5] || !st.valid
	if jobsMoved {
		st.refreshJobs(r)
	}
	if st.valid && revs[0] == st.revs[0] && revs[1] == st.revs[1] {
		st.revs = revs
		if hostsMoved || jobsMoved {
			st.placeAll() // global Units follow the hosts' labels
		}
		return
	}
	st.revs, st.valid = revs, true

	st.units = map[string]store.Entry[*v1.Unit]{}
	for _, key := range r.units.Keys() {
		if e, ok := r.units.Get(key); ok {
			st.units[strings.TrimPrefix(key, r.units.Prefix())] = e
		}
	}
	st.bindings = map[string]bound{}
	for _, key := range r.bindings.Keys() {
		e, ok := r.bindings.Get(key)
		switch {
		case !ok:
		case e.Err != nil || e.Value == nil:
			st.bindings[strings.TrimPrefix(key, bindingPrefix)] = bound{b: &v1.Binding{}, modRev: e.ModRevision, invalid: true}
		default:
			st.bindings[strings.TrimPrefix(key, bindingPrefix)] = bound{b: e.Value, modRev: e.ModRevision}
		}
	}
	for name, w := range st.mine {
		if w.rev != 0 && w.rev <= revs[1] {
			delete(st.mine, name) // the cache has it, or something newer
			continue
		}
		if w.b == nil {
			delete(st.bindings, name)
		} else {
			st.bindings[name] = bound{b: w.b, modRev: w.rev}
		}
	}

	for name := range st.reqs {
		if _, ok := st.units[name]; !ok {
			delete(st.reqs, name)
		}
	}
	st.placeAll()
}

// placeAll brings the load in line with every unit, binding and Job.
func (st *state) placeAll() {
	owners := map[string]bool{}
	for name := range st.units {
		owners[UnitOwner(name)] = true
		st.account(name)
	}
	for name := range st.bindings {
		if _, ok := st.units[name]; !ok {
			owners[UnitOwner(name)] = true
			st.account(name) // a binding whose unit is gone still counts until removed
		}
	}
	for name, p := range st.jobs {
		owners[JobOwner(name)] = true
		st.load.Place(JobOwner(name), p.hosts, p.req)
	}
	for _, o := range st.load.Owners() {
		if !owners[o] {
			st.load.Place(o, nil, Request{})
		}
	}
}

// refreshJobs rebuilds the Jobs' placements from the caches of Jobs and
// their bindings. A Job counts with its current version's resources
// wherever its binding places it.
func (st *state) refreshJobs(r *runner) {
	jbPrefix := r.jobBindings.Prefix()
	st.jobs = map[string]placement{}
	for _, e := range r.jobBindings.List() {
		name := strings.TrimPrefix(e.Key, jbPrefix)
		var req Request
		if j, ok := r.jobs.Get(store.ObjectKey(v1.KindJob, name)); ok && j.Err == nil {
			req = RequestOf(&j.Value.Spec.Container)
		}
		st.jobs[name] = placement{hosts: JobHosts(&e.Value), req: req}
	}
}

// refreshHosts rebuilds the hosts from the caches of host records and
// alive keys.
func (st *state) refreshHosts(r *runner) {
	up := map[string]bool{}
	for _, kv := range r.alive.List() {
		up[strings.TrimPrefix(kv.Key, store.AlivePrefix)] = true
	}
	st.hosts = nil
	for _, e := range r.hosts.List() { // a record that does not decode is no candidate
		name := strings.TrimPrefix(e.Key, store.HostsPrefix)
		h := e.Value
		h.Metadata.Name = name
		hi := HostInfoOf(&h, up[name])
		if hi.Up {
			delete(st.downSince, name)
		} else {
			since, ok := st.downSince[name]
			if !ok {
				since = st.clock.Now()
				st.downSince[name] = since
			}
			hi.Lost = st.rescheduleAfter > 0 && st.clock.Since(since) >= st.rescheduleAfter
		}
		st.hosts = append(st.hosts, hi)
	}
}

// account brings what unit name takes of the hosts in line with its
// binding.
func (st *state) account(name string) {
	var b *v1.Binding
	if bd, ok := st.bindings[name]; ok {
		b = bd.b
	}
	e := st.units[name]
	if e.Value == nil {
		var hosts []string
		if b != nil {
			hosts = sorted(b.Hosts)
		}
		st.load.Place(UnitOwner(name), hosts, Request{})
		return
	}
	ur, ok := st.reqs[name]
	if !ok || ur.modRev != e.ModRevision {
		ur = unitRequest{modRev: e.ModRevision, req: RequestOf(&e.Value.Spec.Container)}
		st.reqs[name] = ur
	}
	st.load.Place(UnitOwner(name), UnitHosts(e.Value, b, st.hosts), ur.req)
}

// loadWithout returns what every host has taken but for unit name.
func (st *state) loadWithout(name string) map[string]Usage {
	return st.load.Without(UnitOwner(name))
}

// assume records that b (nil: no binding) is being written for unit name,
// so that other decisions count it before the write returns.
func (st *state) assume(name string, b *v1.Binding) {
	st.mine[name] = written{b: b}
	st.setBinding(name, bound{b: b})
}

// confirm records that the write of unit name's binding succeeded at rev.
func (st *state) confirm(name string, b *v1.Binding, rev int64) {
	st.mine[name] = written{b: b, rev: rev}
	st.setBinding(name, bound{b: b, modRev: rev})
}

// forget drops what assume recorded after the write failed: the next
// refresh rebuilds from the caches.
func (st *state) forget(name string) {
	delete(st.mine, name)
	st.valid = false
}

func (st *state) setBinding(name string, b bound) {
	if b.b == nil {
		delete(st.bindings, name)
	} else {
		st.bindings[name] = b
	}
	st.account(name)
}

// becameLost reports whether a Down host has been down for
// rescheduleAfter since the hosts were last rebuilt.
func (st *state) becameLost() bool {
	if st.rescheduleAfter <= 0 {
		return false
	}
	for _, h := range st.hosts {
		if !h.Up && !h.Lost {
			if since, ok := st.downSince[h.Name]; ok && st.clock.Since(since) >= st.rescheduleAfter {
				return true
			}
		}
	}
	return false
}

// nextLoss returns how long until a Down host among hosts becomes Lost
// (0: none will).
func (st *state) nextLoss(hosts []string) time.Duration {
	if st.rescheduleAfter <= 0 {
		return 0
	}
	var soonest time.Duration
	for _, name := range hosts {
		since, ok := st.downSince[name]
		if !ok {
			continue
		}
		left := st.rescheduleAfter - st.clock.Since(since)
		if left <= 0 {
			left = time.Millisecond
		}
		if soonest == 0 || left < soonest {
			soonest = left
		}
	}
	return soonest
}
