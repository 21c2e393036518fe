package scheduler

import (
	"maps"
	"slices"
	"strings"
	"sync"
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

// sources are the caches the scheduler's state is built from.
type sources struct {
	units       *store.Typed[*v1.Unit]
	bindings    *store.Typed[*v1.Binding]
	hosts       *store.Typed[v1.Host]
	alive       *store.Cache
	jobs        *store.Typed[*v1.Job]
	jobBindings *store.Typed[v1.JobBinding]
}

// changes are the names of units, bindings and hosts (their records or
// alive keys) whose keys changed since the state last read them. Safe for
// concurrent use.
type changes struct {
	mu                     sync.Mutex
	units, bindings, hosts map[string]bool
}

func (c *changes) add(set *map[string]bool, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[name] = true
}

// take returns the names that changed and starts over.
func (c *changes) take() (units, bindings, hosts map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	units, bindings, hosts = c.units, c.bindings, c.hosts
	c.units, c.bindings, c.hosts = nil, nil, nil
	return units, bindings, hosts
}

// state is the scheduler's picture of the cluster: units, bindings, hosts
// and what the placed Units and Jobs take of every host. It is built
// whole from the caches once, then kept up to date one key at a time: the
// caches tell it which keys changed (track), and each refresh reads those
// again, so that a decision costs the same however many Units there are.
// The bindings this scheduler wrote (or is writing) are laid over what the
// bindings cache shows, so that decisions made one after the other see
// each other's load even before the watch delivers them. Its fields are
// guarded by runner.mu.
type state struct {
	revs  [6]int64 // of the units, bindings, hosts, alive, jobs and job bindings caches
	valid bool
	// changed are the keys to read again at the next refresh.
	changed changes

	units    map[string]store.Entry[*v1.Unit] // by name; one that does not decode has Err set
	bindings map[string]bound
	// hosts are the hosts whose records decode, sorted by name; hostInfo
	// the same by name.
	hosts    []HostInfo
	hostInfo map[string]HostInfo
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
	return &state{units: map[string]store.Entry[*v1.Unit]{}, bindings: map[string]bound{}, hostInfo: map[string]HostInfo{},
		mine: map[string]written{}, downSince: map[string]time.Time{}, clock: c,
		load: NewLoad(), reqs: map[string]unitRequest{}, jobs: map[string]placement{}, pending: map[string]bool{}}
}

// unitRequest is what one instance of a unit asks, at a mod revision.
type unitRequest struct {
	modRev int64
	req    Request
}

// track makes the caches of src tell the state which keys change. Call it
// before the caches run, and before anything else watches them, so that
// a reconcile enqueued by a change finds it noted.
func (st *state) track(src *sources) {
	onChange := func(prefix string, set *map[string]bool) func(string) {
		return func(key string) {
			if name, ok := strings.CutPrefix(key, prefix); ok && name != "" {
				st.changed.add(set, name)
			}
		}
	}
	src.units.OnChange(onChange(src.units.Prefix(), &st.changed.units))
	src.bindings.OnChange(onChange(bindingPrefix, &st.changed.bindings))
	src.hosts.OnChange(onChange(store.HostsPrefix, &st.changed.hosts))
	src.alive.OnChange(onChange(store.AlivePrefix, &st.changed.hosts))
}

// refresh brings the state in line with the caches: whole the first time
// (and after a write failed), then by reading again only the keys that
// changed.
func (st *state) refresh(src *sources) {
	// What changed is taken before the revisions are read, and they before
	// the content: a change noted after this is read again next time, and
	// content at least as new as the revision recorded only makes the next
	// refresh read a key once more.
	units, bindings, hosts := st.changed.take()
	revs := [6]int64{src.units.Revision(), src.bindings.Revision(), src.hosts.Revision(), src.alive.Revision(),
		src.jobs.Revision(), src.jobBindings.Revision()}
	if !st.valid {
		st.rebuild(src, revs)
		return
	}
	hostsMoved := st.refreshHostsOf(src, hosts)
	if st.revs[4] != revs[4] || st.revs[5] != revs[5] {
		st.refreshJobs(src)
	}

	names := map[string]bool{}
	for name := range units {
		names[name] = true
		if e, ok := src.units.Get(src.units.Prefix() + name); ok {
			st.units[name] = e
		} else {
			delete(st.units, name)
			delete(st.reqs, name)
		}
	}
	for name := range bindings {
		names[name] = true
		st.setCached(src, name)
	}
	for name, w := range st.mine {
		switch {
		case w.rev != 0 && w.rev <= revs[1]:
			delete(st.mine, name) // the cache has it, or something newer
			st.setCached(src, name)
			names[name] = true
		case names[name]:
			st.overlay(name, w)
		}
	}
	for name := range names {
		st.account(name)
	}
	if hostsMoved {
		for name, e := range st.units { // global Units follow the hosts' labels
			if e.Value != nil && e.Value.Spec.Placement.Global {
				st.account(name)
			}
		}
	}
	st.revs = revs
}

// rebuild builds the whole state from the caches, at revs.
func (st *state) rebuild(src *sources, revs [6]int64) {
	st.revs, st.valid = revs, true
	st.refreshHosts(src)
	st.refreshJobs(src)
	st.units = map[string]store.Entry[*v1.Unit]{}
	for _, key := range src.units.Keys() {
		if e, ok := src.units.Get(key); ok {
			st.units[strings.TrimPrefix(key, src.units.Prefix())] = e
		}
	}
	st.bindings = map[string]bound{}
	for _, key := range src.bindings.Keys() {
		st.setCached(src, strings.TrimPrefix(key, bindingPrefix))
	}
	for name, w := range st.mine {
		if w.rev != 0 && w.rev <= revs[1] {
			delete(st.mine, name) // the cache has it, or something newer
			continue
		}
		st.overlay(name, w)
	}
	for name := range st.reqs {
		if _, ok := st.units[name]; !ok {
			delete(st.reqs, name)
		}
	}
	st.placeAll()
}

// setCached sets unit name's binding to what the bindings cache holds.
func (st *state) setCached(src *sources, name string) {
	e, ok := src.bindings.Get(bindingPrefix + name)
	switch {
	case !ok:
		delete(st.bindings, name)
	case e.Err != nil || e.Value == nil:
		st.bindings[name] = bound{b: &v1.Binding{}, modRev: e.ModRevision, invalid: true}
	default:
		st.bindings[name] = bound{b: e.Value, modRev: e.ModRevision}
	}
}

// overlay lays a write of this scheduler over unit name's binding.
func (st *state) overlay(name string, w written) {
	if w.b == nil {
		delete(st.bindings, name)
	} else {
		st.bindings[name] = bound{b: w.b, modRev: w.rev}
	}
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
	for name := range st.jobs {
		owners[JobOwner(name)] = true
	}
	for _, o := range st.load.Owners() {
		if !owners[o] {
			st.load.Place(o, nil, Request{})
		}
	}
}

// refreshJobs rebuilds the Jobs' placements from the caches of Jobs and
// their bindings, and what they take of the hosts. A Job counts with its
// current version's resources wherever its binding places it.
func (st *state) refreshJobs(src *sources) {
	jbPrefix := src.jobBindings.Prefix()
	old := st.jobs
	st.jobs = map[string]placement{}
	for _, e := range src.jobBindings.List() {
		name := strings.TrimPrefix(e.Key, jbPrefix)
		var req Request
		if j, ok := src.jobs.Get(store.ObjectKey(v1.KindJob, name)); ok && j.Err == nil {
			req = RequestOf(&j.Value.Spec.Container)
		}
		st.jobs[name] = placement{hosts: JobHosts(&e.Value), req: req}
		st.load.Place(JobOwner(name), st.jobs[name].hosts, req)
	}
	for name := range old {
		if _, ok := st.jobs[name]; !ok {
			st.load.Place(JobOwner(name), nil, Request{})
		}
	}
}

// refreshHosts rebuilds the hosts from the caches of host records and
// alive keys.
func (st *state) refreshHosts(src *sources) {
	up := map[string]bool{}
	for _, kv := range src.alive.List() {
		up[strings.TrimPrefix(kv.Key, store.AlivePrefix)] = true
	}
	st.hosts = nil
	st.hostInfo = map[string]HostInfo{}
	for _, e := range src.hosts.List() { // a record that does not decode is no candidate
		name := strings.TrimPrefix(e.Key, store.HostsPrefix)
		hi := st.hostInfoOf(name, e.Value, up[name])
		st.hosts = append(st.hosts, hi)
		st.hostInfo[name] = hi
	}
}

// refreshHostsOf reads again the hosts named (their records or alive keys
// changed), and every Down host once it may have become Lost. It reports
// whether what Schedule sees of any host changed.
func (st *state) refreshHostsOf(src *sources, names map[string]bool) bool {
	if st.becameLost() {
		if names == nil {
			names = map[string]bool{}
		}
		for _, h := range st.hosts {
			if !h.Up {
				names[h.Name] = true
			}
		}
	}
	moved := false
	for name := range names {
		old, had := st.hostInfo[name]
		e, ok := src.hosts.Get(store.HostsPrefix + name)
		if !ok || e.Err != nil {
			if had {
				delete(st.hostInfo, name)
				moved = true
			}
			continue
		}
		_, up := src.alive.Get(store.AlivePrefix + name)
		hi := st.hostInfoOf(name, e.Value, up)
		if !had || !sameHost(old, hi) {
			st.hostInfo[name] = hi
			moved = true
		}
	}
	if moved {
		st.hosts = slices.SortedFunc(maps.Values(st.hostInfo), func(a, b HostInfo) int { return strings.Compare(a.Name, b.Name) })
	}
	return moved
}

// hostInfoOf returns what Schedule sees of host name from its record,
// whether it is up, and since when this scheduler has seen it Down.
func (st *state) hostInfoOf(name string, h v1.Host, up bool) HostInfo {
	h.Metadata.Name = name
	hi := HostInfoOf(&h, up)
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
	return hi
}

// sameHost reports whether Schedule sees a and b alike.
func sameHost(a, b HostInfo) bool {
	return a.Name == b.Name && a.Up == b.Up && a.Lost == b.Lost && a.MilliCPUs == b.MilliCPUs && a.Memory == b.Memory &&
		a.ReservedMilliCPUs == b.ReservedMilliCPUs && a.ReservedMemory == b.ReservedMemory && maps.Equal(a.Labels, b.Labels)
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

// loadWithout returns what each host has taken but for unit name.
func (st *state) loadWithout(name string) func(host string) Usage {
	return st.load.without(UnitOwner(name))
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
