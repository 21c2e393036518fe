package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/jobs"
	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/internal/store"
)

// hostChange is what applying an object would do on one host.
type hostChange string

// Values of hostChange.
const (
	changeCreate  hostChange = "create"  // an instance starts there
	changeReplace hostChange = "replace" // its container is made again (another template or version)
	changeStop    hostChange = "stop"    // its instance there is stopped and removed
	changeKeep    hostChange = "keep"    // it runs there as it does
)

// hostPlan is one host's change, and why.
type hostPlan struct {
	Host   string     `json:"host"`
	Change hostChange `json:"change"`
	Detail string     `json:"detail,omitempty"`
}

// rejectedHost is a host that cannot take an instance, and why.
type rejectedHost struct {
	Host    string           `json:"host"`
	Reason  scheduler.Reason `json:"reason"`
	Message string           `json:"message"`
}

// objectPlan is what applying one object would do.
type objectPlan struct {
	Kind   string       `json:"kind"`
	Name   string       `json:"name"`
	Action store.Action `json:"action"` // created, configured or unchanged
	Hosts  []hostPlan   `json:"hosts,omitempty"`
	// Pending replicas no host could take, and why (Units the scheduler
	// places).
	Pending       int    `json:"pending,omitempty"`
	PendingReason string `json:"pendingReason,omitempty"`
	// Rejected are the hosts that cannot take an instance, when the
	// object needs a host it does not have.
	Rejected []rejectedHost `json:"rejected,omitempty"`
	// Warnings are what the object asks of hosts it is pinned or deployed
	// to that they lack: it is placed there anyway.
	Warnings []string `json:"warnings,omitempty"`
	// Rollout says how a Job's new version would move across its hosts.
	Rollout string `json:"rollout,omitempty"`
}

// changes reports whether the plan changes anything.
func (p objectPlan) changes() bool {
	if p.Action != store.Unchanged {
		return true
	}
	return slices.ContainsFunc(p.Hosts, func(h hostPlan) bool { return h.Change != changeKeep })
}

// planner decides what applying objects would do from the cluster as it is
// stored, with the scheduler's and the Jobs loop's own functions: where each
// Unit and Job would run, what would be replaced or stopped there, and why
// each host that could not take an instance was rejected. Objects are
// planned in turn, each seeing what the ones before it take of the hosts,
// as the scheduler decides them. It does no I/O.
type planner struct {
	hosts       []scheduler.HostInfo // sorted by name
	units       map[string]*v1.Unit
	unitBinds   map[string]*v1.Binding
	jobs        map[string]*v1.Job
	jobBinds    map[string]*v1.JobBinding
	load        *scheduler.Load
	now         time.Time
	hostsByName map[string]scheduler.HostInfo
}

// cluster is the stored state a planner starts from.
type cluster struct {
	hosts     []*v1.Host
	units     map[string]*v1.Unit
	unitBinds map[string]*v1.Binding
	jobs      map[string]*v1.Job
	jobBinds  map[string]*v1.JobBinding
	// statuses are every instance's status, by "kind/name" (lower-case
	// kind) and host.
	statuses map[string]map[string]v1.InstanceStatus
}

// newPlanner counts what the stored Units and Jobs take of every host, as
// the scheduler does.
func newPlanner(c cluster, now time.Time) *planner {
	p := &planner{units: c.units, unitBinds: c.unitBinds, jobs: c.jobs, jobBinds: c.jobBinds,
		load: scheduler.NewLoad(), now: now, hostsByName: map[string]scheduler.HostInfo{}}
	for _, h := range c.hosts {
		hi := scheduler.HostInfoOf(h, h.Status.State == v1.HostUp)
		p.hosts = append(p.hosts, hi)
		p.hostsByName[hi.Name] = hi
	}
	slices.SortFunc(p.hosts, func(a, b scheduler.HostInfo) int { return strings.Compare(a.Name, b.Name) })
	for name, u := range c.units {
		p.load.Place(scheduler.UnitOwner(name), scheduler.UnitHosts(u, c.unitBinds[name], p.hosts), scheduler.RequestOf(&u.Spec.Container))
	}
	for name, b := range c.unitBinds {
		if _, ok := c.units[name]; !ok {
			p.load.Place(scheduler.UnitOwner(name), slices.Sorted(slices.Values(b.Hosts)), scheduler.Request{})
		}
	}
	for name, b := range c.jobBinds {
		var req scheduler.Request
		if j := c.jobs[name]; j != nil {
			req = scheduler.RequestOf(&j.Spec.Container)
		}
		p.load.Place(scheduler.JobOwner(name), scheduler.JobHosts(b), req)
	}
	for owner, byHost := range c.statuses {
		for host, st := range byHost {
			p.load.Observe(owner, host, scheduler.StatusPorts(&st))
		}
	}
	return p
}

// plan returns what applying o, whose apply would be action, would do,
// and counts what it takes of its hosts for the objects planned after it.
func (p *planner) plan(o v1.Object, action store.Action) objectPlan {
	op := objectPlan{Kind: v1.KindOf(o), Name: o.GetObjectMeta().Name, Action: action}
	switch o := o.(type) {
	case *v1.Unit:
		p.unit(&op, o)
	case *v1.Job:
		p.job(&op, o)
	}
	return op
}

// unit plans a Unit: the scheduler's decision for the new spec, from its
// current binding, compared with where it runs now.
func (p *planner) unit(op *objectPlan, u *v1.Unit) {
	name := u.Metadata.Name
	owner := scheduler.UnitOwner(name)
	cur := p.unitBinds[name]
	old := p.units[name]
	var was []string
	if old != nil {
		was = scheduler.UnitHosts(old, cur, p.hosts)
	}
	load := p.load.Without(owner)
	var next []string
	if u.Spec.Placement.NeedsScheduler() {
		d := scheduler.Schedule(u, p.hosts, cur, load)
		next = d.Hosts
		op.Pending, op.PendingReason = d.Pending, d.PendingReason()
		if d.Pending > 0 || slices.ContainsFunc(d.Hosts, func(h string) bool { return !slices.Contains(was, h) }) {
			// Hosts were chosen, or not found: say why the others were not.
			for _, r := range d.Rejected {
				op.Rejected = append(op.Rejected, rejectedHost{Host: r.Host, Reason: r.Reason, Message: r.Message()})
			}
		}
	} else {
		next = scheduler.UnitHosts(u, nil, p.hosts)
		op.Warnings = p.shortOn(next, was, load, scheduler.RequestOf(&u.Spec.Container))
	}
	replace := old != nil && v1.TemplateHash(&old.Spec.Container) != v1.TemplateHash(&u.Spec.Container)
	op.Hosts = hostChanges(was, next, func(string) (bool, string) { return replace, "template changed" })
	p.load.Place(owner, next, scheduler.RequestOf(&u.Spec.Container))
}

// job plans a Job: the hosts the Jobs loop would give it, the version each
// runs now and would run, and how a new version would roll.
func (p *planner) job(op *objectPlan, j *v1.Job) {
	name := j.Metadata.Name
	owner := scheduler.JobOwner(name)
	cur := p.jobBinds[name]
	var was []string
	if cur != nil {
		was = scheduler.JobHosts(cur)
	}
	var hosts []jobs.HostInfo
	for _, h := range p.hosts {
		hosts = append(hosts, jobs.HostInfo{Name: h.Name, Labels: h.Labels, Up: h.Up})
	}
	next := jobs.Targets(j, hosts, p.now)
	ver := j.Spec.Version
	op.Hosts = hostChanges(was, next, func(h string) (bool, string) {
		have := cur.Hosts[h]
		return have != ver, fmt.Sprintf("version %s -> %s", have, ver)
	})
	moving := 0
	for _, hp := range op.Hosts {
		if hp.Change == changeReplace {
			moving++
		}
	}
	if moving > 0 {
		op.Rollout = rolloutPlan(j, moving, cur.Stable)
	}
	if len(j.Spec.HostSelector) > 0 && !j.Spec.Expired(p.now) {
		sel := v1.FormatLabels(j.Spec.HostSelector)
		for _, h := range p.hosts {
			switch {
			case slices.Contains(next, h.Name):
			case !v1.MatchesSelector(h.Labels, j.Spec.HostSelector):
				op.Rejected = append(op.Rejected, rejectedHost{Host: h.Name, Reason: scheduler.ReasonLabelMismatch,
					Message: "labels do not match hostSelector " + sel})
			default:
				op.Rejected = append(op.Rejected, rejectedHost{Host: h.Name, Reason: scheduler.ReasonHostDown,
					Message: "host is Down: the job runs there once it is Up"})
			}
		}
	}
	load := p.load.Without(owner)
	op.Warnings = p.shortOn(next, was, load, scheduler.RequestOf(&j.Spec.Container))
	p.load.Place(owner, next, scheduler.RequestOf(&j.Spec.Container))
}

// shortOn says, for each host of next that its object does not run on yet
// (not in was), what it lacks for an instance asking req, or that it is
// Down or unknown: objects pinned to hosts go there whatever they have.
func (p *planner) shortOn(next, was []string, load map[string]scheduler.Usage, req scheduler.Request) []string {
	var out []string
	for _, name := range next {
		if slices.Contains(was, name) {
			continue
		}
		h, known := p.hostsByName[name]
		switch {
		case !known:
			out = append(out, name+": no such host yet: it runs there once the host joins")
		case !h.Up:
			out = append(out, name+": host is Down: it runs there once it is Up")
		default:
			if r, ok := scheduler.Fit(h, load[name], req); !ok {
				out = append(out, name+": "+r.Message()+" (placed there anyway)")
			}
		}
	}
	return out
}

// hostChanges compares the hosts an object runs on (was) with those it
// would (next): created, stopped, or kept, or replaced when replace says
// so, with its detail; sorted by host.
func hostChanges(was, next []string, replace func(host string) (bool, string)) []hostPlan {
	all := map[string]bool{}
	for _, h := range was {
		all[h] = true
	}
	for _, h := range next {
		all[h] = true
	}
	var out []hostPlan
	for _, h := range slices.Sorted(maps.Keys(all)) {
		in, before := slices.Contains(next, h), slices.Contains(was, h)
		switch {
		case in && !before:
			out = append(out, hostPlan{Host: h, Change: changeCreate})
		case !in:
			out = append(out, hostPlan{Host: h, Change: changeStop, Detail: "no longer placed there"})
		default:
			if r, why := replace(h); r {
				out = append(out, hostPlan{Host: h, Change: changeReplace, Detail: why})
			} else {
				out = append(out, hostPlan{Host: h, Change: changeKeep})
			}
		}
	}
	return out
}

// rolloutPlan says how a Job's new version would move across the moving
// hosts that run another one, given the version that ran healthy on every
// host (stable, "" when none).
func rolloutPlan(j *v1.Job, moving int, stable string) string {
	r := &j.Spec.Rollout
	parts := []string{fmt.Sprintf("%d host(s) move to version %s", moving, j.Spec.Version)}
	if r.Canary > 0 {
		then := "then waits for applyctl rollout promote"
		if r.AutoPromote {
			then = "promoted once healthy"
		}
		parts = append(parts, fmt.Sprintf("canary %d first, %s", min(r.Canary, moving), then))
	}
	deadline, which := r.Deadline()
	healthy := fmt.Sprintf("%d at a time, each RUNNING and Ready within %s (%s)", r.Parallelism, deadline, which)
	if r.MinHealthy() > 0 {
		healthy = fmt.Sprintf("%d at a time, each Ready for %s within %s (%s)", r.Parallelism, r.MinHealthy(), deadline, which)
	}
	parts = append(parts, healthy)
	switch {
	case r.AutoRevert && stable != "" && stable != j.Spec.Version:
		parts = append(parts, "a failure reverts every host to version "+stable)
	case r.AutoRevert:
		parts = append(parts, "no version ran healthy on every host to revert to: a failure stops it")
	default:
		parts = append(parts, "onFailure: "+string(r.OnFailure))
	}
	return strings.Join(parts, "; ")
}
