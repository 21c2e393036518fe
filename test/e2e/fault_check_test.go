package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// The checker of the fault test: every second it reads etcd and Docker
// into a faultSnapshot and judges it against what the test knows of the
// world it disturbs (faultFacts). judge is a function of those two and
// the checker's memory of the conditions it saw before, so that its
// rules are tested on made-up snapshots (TestFaultCheckerCatches).

// Bounds of the checker.
const (
	// faultReconcile is what "longer than a reconcile" means: a host that
	// is up, with etcd up, acts on a change within it (a reconcile takes
	// milliseconds; the rest is the watch, the queue's backoff and the
	// container's stop).
	faultReconcile = 10 * time.Second
	// faultCheckInterval is the Units' health-check interval.
	faultCheckInterval = time.Second
	// faultTick is how often the checker reads the world.
	faultTick = time.Second
)

// faultState is what the test knows of the world it disturbs: which
// hosts it took down and when, when it last touched etcd, which Units it
// stopped, and the revisions of the objects after its own writes.
type faultState struct {
	hosts       []string
	down        map[string]time.Time // host -> since when it is down (killed, frozen or cut off)
	up          map[string]time.Time // host -> when it last came back
	leaderMoved time.Time            // etcd's leader last changed (as seen), which gives every lease its TTL again
	stopped     map[string]time.Time // Unit -> since when the test has set its goal to stop
	objects     map[string]int64     // object key -> mod revision after the test's last write
	// blackhole is since when an etcd member answers nothing (zero when
	// none); stuckUntil is until when requests to the last one waited.
	blackhole, stuckUntil time.Time
	writing               bool // a write of the test is under way
	writes                int  // writes of the test ended
}

// upSince is what a bound on host h's reaction counts from at now: since
// when it has been up, and its requests free to reach etcd. A member
// stopped or killed does not excuse it: etcd keeps a majority throughout
// (newFaultPlan sees to it), and a refused connection sends the requests
// to another member at once. A member that stops answering without
// closing its connections (frozen, or cut off the network) holds the
// requests sent to it until it answers again or gRPC's keep-alive gives
// up on it (etcdKeepAlive): the bound counts from then.
func (f *faultState) upSince(h string, now time.Time) time.Time {
	from := f.up[h]
	stuck := f.stuckUntil
	if !f.blackhole.IsZero() {
		stuck = later(stuck, earlier(now, f.blackhole.Add(etcdKeepAlive)))
	}
	return later(from, stuck)
}

// etcdKeepAlive is how long a request sent to an etcd member that stopped
// answering may wait: the etcd client's keep-alive pings after 5s without
// a word and gives up 3s later (store.New).
const etcdKeepAlive = 8 * time.Second

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// isDown reports whether the test has host h down.
func (f *faultState) isDown(h string) bool {
	_, ok := f.down[h]
	return ok
}

// faultFacts is the faultState the executor writes and the checker reads;
// it is safe for concurrent use.
type faultFacts struct {
	mu sync.Mutex
	s  faultState
}

func newFaultFacts(hosts []string, now time.Time) *faultFacts {
	f := &faultFacts{s: faultState{hosts: hosts, down: map[string]time.Time{}, up: map[string]time.Time{},
		stopped: map[string]time.Time{}, objects: map[string]int64{}, leaderMoved: now}}
	for _, h := range hosts {
		f.s.up[h] = now
	}
	return f
}

func (f *faultFacts) hostDown(h string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.s.down[h]; !ok {
		f.s.down[h] = at
	}
}

func (f *faultFacts) hostUp(h string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.s.down, h)
	f.s.up[h] = at
}

// blackholed records that an etcd member stopped answering (frozen, or
// cut off), or, with on false, that it answers again.
func (f *faultFacts) blackholed(on bool, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.s.blackhole = at
		return
	}
	if !f.s.blackhole.IsZero() {
		f.s.stuckUntil = later(f.s.stuckUntil, earlier(at, f.s.blackhole.Add(etcdKeepAlive)))
	}
	f.s.blackhole = time.Time{}
}

func (f *faultFacts) leaderChanged(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.s.leaderMoved) {
		f.s.leaderMoved = at
	}
}

func (f *faultFacts) setStopped(unit string, stopped bool, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if stopped {
		f.s.stopped[unit] = at
	} else {
		delete(f.s.stopped, unit)
	}
}

// setWriting marks a write of the test begun, or ended with the objects'
// revisions it left.
func (f *faultFacts) setWriting(writing bool, objects map[string]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s.writing = writing
	if !writing {
		f.s.writes++
	}
	if objects != nil {
		f.s.objects = objects
	}
}

// view returns a copy of the state, for one judgement.
func (f *faultFacts) view() faultState {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.s
	s.down, s.up, s.stopped, s.objects = maps.Clone(s.down), maps.Clone(s.up), maps.Clone(s.stopped), maps.Clone(s.objects)
	return s
}

// faultSnapshot is one reading of etcd and Docker.
type faultSnapshot struct {
	at           time.Time        // when the read ended
	catalogAt    time.Time        // when the catalog's read began: what it holds was there then or later
	objects      map[string]int64 // key under objects/ -> mod revision
	unitBindings map[string]v1.Binding
	jobBindings  map[string]v1.JobBinding
	statuses     map[string]v1.InstanceStatus // status key -> status
	catalog      map[string]catalog.Endpoint  // catalog key -> endpoint
	alive        map[string]bool
	containers   []runtime.Container // of the rig's hosts
}

// readSnapshot reads the world: etcd first, then Docker.
func readSnapshot(ctx context.Context, st *store.Store, containers func(context.Context) ([]runtime.Container, error)) (faultSnapshot, error) {
	s := faultSnapshot{objects: map[string]int64{}, unitBindings: map[string]v1.Binding{}, jobBindings: map[string]v1.JobBinding{},
		statuses: map[string]v1.InstanceStatus{}, catalog: map[string]catalog.Endpoint{}, alive: map[string]bool{}}
	list := func(prefix string, each func(store.KV) error) error {
		kvs, _, err := st.List(ctx, prefix)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := each(kv); err != nil {
				return fmt.Errorf("%s: %w", kv.Key, err)
			}
		}
		return nil
	}
	err := list(store.Prefix+"objects/", func(kv store.KV) error { s.objects[kv.Key] = kv.ModRevision; return nil })
	if err == nil {
		err = list(store.Prefix+"bindings/", func(kv store.KV) error {
			switch k := strings.TrimPrefix(kv.Key, store.Prefix+"bindings/"); {
			case strings.HasPrefix(k, "unit/"):
				var b v1.Binding
				if err := json.Unmarshal(kv.Value, &b); err != nil {
					return err
				}
				s.unitBindings[strings.TrimPrefix(k, "unit/")] = b
			case strings.HasPrefix(k, "job/"):
				var b v1.JobBinding
				if err := json.Unmarshal(kv.Value, &b); err != nil {
					return err
				}
				s.jobBindings[strings.TrimPrefix(k, "job/")] = b
			}
			return nil
		})
	}
	if err == nil {
		err = list(store.StatusesPrefix, func(kv store.KV) error {
			var in v1.InstanceStatus
			if err := json.Unmarshal(kv.Value, &in); err != nil {
				return err
			}
			s.statuses[kv.Key] = in
			return nil
		})
	}
	if err == nil {
		s.catalogAt = time.Now()
		err = list(store.CatalogPrefix, func(kv store.KV) error {
			var e catalog.Endpoint
			if err := json.Unmarshal(kv.Value, &e); err != nil {
				return err
			}
			s.catalog[kv.Key] = e
			return nil
		})
	}
	if err == nil {
		err = list(store.AlivePrefix, func(kv store.KV) error { s.alive[strings.TrimPrefix(kv.Key, store.AlivePrefix)] = true; return nil })
	}
	if err != nil {
		return s, fmt.Errorf("etcd: %w", err)
	}
	if s.containers, err = containers(ctx); err != nil {
		return s, fmt.Errorf("docker: %w", err)
	}
	s.at = time.Now()
	return s, nil
}

// The rules of faultChecker.judge that may hold for a while.
const (
	ruleDeadEndpoint  = "endpoint of a dead host"
	ruleRequires      = "requires: dependent running"
	ruleJobVersion    = "job version not bound"
	ruleRunningStatus = "RUNNING without a running container"
)

// faultViolation is one breach of an invariant.
type faultViolation struct {
	At   time.Time
	Rule string // which invariant
	What string
}

// faultChecker judges snapshots, remembering since when each condition
// that may last at most a bound has held.
type faultChecker struct {
	workload     *faultWorkload
	requires     map[string][]string
	since        map[string]time.Time // condition -> first seen
	bindingMoved map[string]time.Time // job/host -> when its version in the binding last changed
	bindingSeen  map[string]string    // job/host -> its version in the binding
	reported     map[string]bool
	violations   []faultViolation
	occurrences  int // judgements that found a violation, the repeated ones included
	// longest is, by rule, the longest a condition that may last a while
	// has lasted: how long a dependent ran on after its requirement
	// stopped, a dead host's endpoints stayed...
	longest       map[string]time.Duration
	heartbeatTTL  time.Duration
	electionSlack time.Duration
}

func newFaultChecker(w *faultWorkload, heartbeatTTL, electionSlack time.Duration) *faultChecker {
	return &faultChecker{workload: w, requires: w.requires(), since: map[string]time.Time{},
		bindingMoved: map[string]time.Time{}, bindingSeen: map[string]string{}, reported: map[string]bool{}, longest: map[string]time.Duration{},
		heartbeatTTL: heartbeatTTL, electionSlack: electionSlack}
}

// violate records a violation once per key, counting every occurrence.
func (c *faultChecker) violate(at time.Time, key, rule, format string, args ...any) {
	c.occurrences++
	if c.reported[key] {
		return
	}
	c.reported[key] = true
	c.violations = append(c.violations, faultViolation{At: at, Rule: rule, What: fmt.Sprintf(format, args...)})
}

// lasting reports whether the condition key of rule, true now, has held
// since before from+bound, and keeps the longest it held for the rule;
// seen lists the conditions true in this judgement.
func (c *faultChecker) lasting(rule, key string, now, from time.Time, bound time.Duration, seen map[string]bool) bool {
	seen[key] = true
	first, ok := c.since[key]
	if !ok {
		first = now
		c.since[key] = now
	}
	if from.After(first) {
		first = from
	}
	c.longest[rule] = max(c.longest[rule], now.Sub(first))
	return now.Sub(first) > bound
}

// judge checks the snapshot against the invariants:
//
//  1. no two running containers for one instance (host, kind, name);
//  2. no object lost, or changed by anyone but the test's own writes;
//  3. no endpoint of a host that is down still in the catalog after its
//     lease's TTL plus one check interval (counted from the later of the
//     host going down and etcd's last change of leader, plus an election
//     timeout, since a new etcd leader gives every lease its TTL again);
//  4. no Unit that requires a stopped Unit (directly or through others
//     it requires) running for longer than a reconcile on a host that is
//     up;
//  5. no version of the Job running for longer than a reconcile on a host
//     that is up whose binding names another version for it;
//  6. no RUNNING status of a host that is up naming a container that does
//     not run, for longer than a reconcile.
func (c *faultChecker) judge(s faultSnapshot, f faultState) {
	now := s.at
	seen := map[string]bool{}
	mine := func(h string) bool { return slices.Contains(f.hosts, h) }

	// 1. Two containers for one instance.
	running := map[string][]string{}
	for _, ctr := range s.containers {
		if ctr.State != runtime.StateRunning {
			continue
		}
		inst := ctr.Labels[v1.LabelHost] + "/" + ctr.Labels[v1.LabelKind] + "/" + ctr.Labels[v1.LabelName]
		running[inst] = append(running[inst], ctr.Name)
	}
	for inst, names := range running {
		if len(names) > 1 {
			sort.Strings(names)
			c.violate(now, "two:"+inst+":"+strings.Join(names, ","), "two containers for one instance",
				"%s runs %d containers: %s", inst, len(names), strings.Join(names, ", "))
		}
	}

	// 2. Objects lost or changed by others.
	if !f.writing {
		for key, rev := range f.objects {
			got, ok := s.objects[key]
			switch {
			case !ok:
				c.violate(now, "lost:"+key, "object lost", "%s (mod revision %d) is gone", key, rev)
			case got != rev:
				c.violate(now, fmt.Sprintf("changed:%s:%d", key, got), "object changed by someone else",
					"%s: mod revision %d, the test's last write left %d", key, got, rev)
			}
		}
		for key, rev := range s.objects {
			if _, ok := f.objects[key]; !ok && c.workloadKey(key) {
				c.violate(now, "new:"+key, "object written by someone else", "%s (mod revision %d) was not written by the test", key, rev)
			}
		}
	}

	// 3. Endpoints of hosts that are down, as of the catalog's read: an
	// endpoint it holds was there when that read began or later.
	seenAt := s.catalogAt
	if seenAt.IsZero() {
		seenAt = now
	}
	for h, since := range f.down {
		from := since
		if f.leaderMoved.After(from) {
			from = f.leaderMoved.Add(c.electionSlack)
		}
		deadline := from.Add(c.heartbeatTTL + faultCheckInterval + faultTick)
		for key, e := range s.catalog {
			if !strings.HasPrefix(key, store.CatalogHostPrefix(h)) {
				continue
			}
			c.longest[ruleDeadEndpoint] = max(c.longest[ruleDeadEndpoint], seenAt.Sub(since))
			if !seenAt.Before(deadline) {
				c.violate(now, "endpoint:"+key, ruleDeadEndpoint,
					"%s (%s, container %.12s of %s) still in the catalog %s after %s went down (%s after etcd's leader last changed)",
					key, e.Service, e.Container, e.OwnerName, seenAt.Sub(since).Round(time.Millisecond), h, seenAt.Sub(f.leaderMoved).Round(time.Millisecond))
			}
		}
	}

	// 4. Dependents of stopped Units.
	mustStop := map[string]string{} // Unit -> the stopped Unit it (transitively) requires
	for u := range f.stopped {
		for _, d := range c.dependents(u) {
			mustStop[d] = u
		}
	}
	for _, ctr := range s.containers {
		name, h := ctr.Labels[v1.LabelName], ctr.Labels[v1.LabelHost]
		root, ok := mustStop[name]
		if !ok || ctr.Labels[v1.LabelKind] != v1.KindUnit || ctr.State != runtime.StateRunning || f.isDown(h) {
			continue
		}
		from := f.upSince(h, now)
		if f.stopped[root].After(from) {
			from = f.stopped[root]
		}
		if c.lasting(ruleRequires, "requires:"+name+"@"+h, now, from, faultReconcile, seen) {
			c.violate(now, "requires:"+name+"@"+h+":"+f.stopped[root].String(), ruleRequires,
				"%s runs on %s (container %s) %s after %s, which it requires, was stopped",
				name, h, ctr.Name, now.Sub(f.stopped[root]).Round(time.Millisecond), root)
		}
	}

	// 5. Versions of the Job where its binding names another.
	job := c.workload.job()
	b := s.jobBindings[job]
	for _, h := range f.hosts {
		k := job + "/" + h
		if v := b.Hosts[h]; v != c.bindingSeen[k] {
			c.bindingSeen[k], c.bindingMoved[k] = v, now
		}
	}
	for _, ctr := range s.containers {
		h := ctr.Labels[v1.LabelHost]
		if ctr.Labels[v1.LabelKind] != v1.KindJob || ctr.Labels[v1.LabelName] != job || ctr.State != runtime.StateRunning ||
			f.isDown(h) {
			continue
		}
		v := ctr.Labels[v1.LabelVersion]
		if b.Hosts[h] == v {
			continue
		}
		from := f.upSince(h, now)
		if moved := c.bindingMoved[job+"/"+h]; moved.After(from) {
			from = moved
		}
		key := "jobversion:" + h + ":" + v
		if c.lasting(ruleJobVersion, key, now, from, faultReconcile, seen) {
			c.violate(now, key+":"+b.Hosts[h], ruleJobVersion,
				"%s runs version %s of %s (container %s) while its binding names %q, for more than %s", h, v, job, ctr.Name, b.Hosts[h], faultReconcile)
		}
	}

	// 6. RUNNING statuses without their container.
	byID := map[string]runtime.Container{}
	for _, ctr := range s.containers {
		byID[ctr.ID] = ctr
	}
	for key, in := range s.statuses {
		_, _, h, ok := store.ParseStatusKey(key)
		if !ok || !mine(h) || in.State != v1.StateRunning || f.isDown(h) {
			continue
		}
		if ctr, ok := byID[in.ContainerID]; ok && ctr.State == runtime.StateRunning {
			continue
		}
		if c.lasting(ruleRunningStatus, "status:"+key+":"+in.ContainerID, now, f.upSince(h, now), faultReconcile, seen) {
			c.violate(now, "status:"+key+":"+in.ContainerID, ruleRunningStatus,
				"%s says RUNNING with container %.12s, which does not run, for more than %s", key, in.ContainerID, faultReconcile)
		}
	}

	for key := range c.since {
		if !seen[key] {
			delete(c.since, key)
		}
	}
}

// workloadKey reports whether an object key is one of the test's: its
// objects and the Job's version records.
func (c *faultChecker) workloadKey(key string) bool {
	name := key[strings.LastIndexByte(key, '/')+1:]
	return strings.HasPrefix(name, c.workload.prefix+"-") || strings.HasPrefix(key, store.JobVersionPrefix(c.workload.job()))
}

// dependents returns the Units that require u, directly or through
// other Units they require.
func (c *faultChecker) dependents(u string) []string {
	var out []string
	seen := map[string]bool{u: true}
	queue := []string{u}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for d, reqs := range c.requires {
			if !seen[d] && slices.Contains(reqs, cur) {
				seen[d] = true
				out = append(out, d)
				queue = append(queue, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

// figures says, for each rule that may hold for a while, the longest it
// held.
func (c *faultChecker) figures() string {
	var parts []string
	for _, rule := range []string{ruleDeadEndpoint, ruleRequires, ruleJobVersion, ruleRunningStatus} {
		parts = append(parts, fmt.Sprintf("%s: %s", rule, c.longest[rule].Round(time.Millisecond)))
	}
	return "longest seen: " + strings.Join(parts, "; ")
}

// report lists the violations, one a line.
func (c *faultChecker) report(start time.Time) string {
	var b strings.Builder
	for _, v := range c.violations {
		fmt.Fprintf(&b, "\n  %7.2fs %s: %s", v.At.Sub(start).Seconds(), v.Rule, v.What)
	}
	return b.String()
}

// converged says whether the world is what the test asked for, and if not
// the first thing that is not:
//
//   - every host is up;
//   - every Unit is bound to as many hosts as its replicas, and runs one
//     container on each, which its status there names RUNNING (and Ready
//     when health-checked), and no container on any other host;
//   - every host is bound to the Job's last version, runs one container
//     of it, RUNNING and Ready, and no other of the Job's containers, and
//     the rollout of that version has ended;
//   - the catalog holds the endpoints of exactly the running containers
//     of the test's hosts, each registered by the host that runs it (the
//     endpoints of containers berth did not start, which every host
//     registers as Registrator does, are left out).
func converged(s faultSnapshot, w *faultWorkload, hosts []string) (bool, string) {
	for _, h := range hosts {
		if !s.alive[h] {
			return false, h + " is not up"
		}
	}
	type inst struct{ host, kind, name string }
	ctrs := map[inst][]runtime.Container{}
	running := map[string]string{} // container id -> host
	for _, c := range s.containers {
		k := inst{c.Labels[v1.LabelHost], c.Labels[v1.LabelKind], c.Labels[v1.LabelName]}
		ctrs[k] = append(ctrs[k], c)
		if c.State == runtime.StateRunning {
			running[c.ID] = k.host
		}
	}
	ready := func(kind, name, h string, c runtime.Container, checked bool) (bool, string) {
		in, ok := s.statuses[store.StatusKey(kind, name, h)]
		switch {
		case !ok:
			return false, fmt.Sprintf("%s %s has no status on %s", kind, name, h)
		case in.State != v1.StateRunning || in.ContainerID != c.ID:
			return false, fmt.Sprintf("%s %s on %s: container %.12s runs, status says %s", kind, name, h, c.ID, describeInstance(in))
		}
		if cond := v1.FindCondition(in.Conditions, v1.ConditionReady); checked && (cond == nil || cond.Status != v1.ConditionTrue) {
			return false, fmt.Sprintf("%s %s on %s is RUNNING, not Ready: %s", kind, name, h, describeInstance(in))
		}
		return true, ""
	}
	for _, u := range w.units() {
		b, ok := s.unitBindings[u]
		if !ok || len(b.Hosts) != w.replicas(u) {
			return false, fmt.Sprintf("unit %s bound to %v, want %d hosts", u, b.Hosts, w.replicas(u))
		}
		for _, h := range hosts {
			cs := ctrs[inst{h, v1.KindUnit, u}]
			if !slices.Contains(b.Hosts, h) {
				if len(cs) > 0 {
					return false, fmt.Sprintf("unit %s has container %s on %s, which its binding does not name", u, cs[0].Name, h)
				}
				continue
			}
			if len(cs) != 1 || cs[0].State != runtime.StateRunning {
				return false, fmt.Sprintf("unit %s on %s: %s, want one running container", u, h, describeContainers(cs))
			}
			if ok, why := ready(v1.KindUnit, u, h, cs[0], w.healthChecked(u)); !ok {
				return false, why
			}
		}
	}
	job, version := w.job(), fmt.Sprint(w.version)
	b := s.jobBindings[job]
	// The first version is deployed, not rolled out.
	if ro := b.Rollout; (ro == nil && version != "1") || (ro != nil && (ro.Version != version || ro.State == v1.RolloutRollingOut)) {
		return false, fmt.Sprintf("job %s: rollout of version %s not ended: %s", job, version, describeBinding(b))
	}
	for _, h := range hosts {
		if b.Hosts[h] != version {
			return false, fmt.Sprintf("job %s: binding %s, want every host on version %s", job, describeBinding(b), version)
		}
		cs := ctrs[inst{h, v1.KindJob, job}]
		if len(cs) != 1 || cs[0].State != runtime.StateRunning || cs[0].Labels[v1.LabelVersion] != version {
			return false, fmt.Sprintf("job %s on %s: %s, want one running container of version %s", job, h, describeContainers(cs), version)
		}
		if ok, why := ready(v1.KindJob, job, h, cs[0], true); !ok {
			return false, why
		}
	}
	registered := map[string]bool{}
	for key, e := range s.catalog {
		h, _, _, ok := store.ParseCatalogKey(key)
		if !ok || !slices.Contains(hosts, h) || e.OwnerKind == "" {
			continue // the endpoints of containers berth did not start
		}
		if running[e.Container] != h {
			return false, fmt.Sprintf("endpoint %s names container %.12s, which does not run on %s", key, e.Container, h)
		}
		registered[e.Container] = true
	}
	for id, h := range running {
		if !registered[id] {
			return false, fmt.Sprintf("container %.12s running on %s has no endpoint in the catalog", id, h)
		}
	}
	return true, ""
}

func describeContainers(cs []runtime.Container) string {
	if len(cs) == 0 {
		return "no container"
	}
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %s (version %q)", c.Name, c.State, c.Labels[v1.LabelVersion]))
	}
	return strings.Join(parts, ", ")
}
