package scheduler

import (
	"maps"
	"slices"

	v1 "berth.dev/berth/api/v1"
)

// Load is what the placed Units and Jobs take of each host, kept up to
// date one owner at a time: Place says where an owner's instances are and
// what each asks, Observe which host ports an owner's instance reports on
// a host. Without gives Schedule the load of every host but one owner's
// (the scheduler's loop reads it host by host instead, without copying).
// A Load is not safe for concurrent use.
type Load struct {
	hosts    map[string]*Usage
	placed   map[string]placement             // by owner
	observed map[string]map[string][]HostPort // by owner, then host
}

// placement is where one owner's instances are, and what each asks.
type placement struct {
	hosts []string
	req   Request
}

// NewLoad returns an empty Load.
func NewLoad() *Load {
	return &Load{hosts: map[string]*Usage{}, placed: map[string]placement{}, observed: map[string]map[string][]HostPort{}}
}

// UnitOwner and JobOwner name the owners of a Load.
func UnitOwner(name string) string { return "unit/" + name }

// JobOwner names a Job as an owner of a Load.
func JobOwner(name string) string { return "job/" + name }

func (l *Load) usage(host string) *Usage {
	u := l.hosts[host]
	if u == nil {
		u = &Usage{Ports: map[HostPort]int{}, Observed: map[HostPort]int{}}
		l.hosts[host] = u
	}
	return u
}

// Place records that owner runs one instance asking r on each of hosts
// (none: it runs nowhere), instead of what was placed before.
func (l *Load) Place(owner string, hosts []string, r Request) {
	old, had := l.placed[owner]
	if had && slices.Equal(old.hosts, hosts) && sameRequest(old.req, r) {
		return
	}
	for _, h := range old.hosts {
		l.usage(h).addInPlace(old.req, -1)
	}
	if len(hosts) == 0 {
		delete(l.placed, owner)
		return
	}
	for _, h := range hosts {
		l.usage(h).addInPlace(r, 1)
	}
	l.placed[owner] = placement{hosts: slices.Clone(hosts), req: r}
}

// Observe records the host ports owner's instance on host reports
// (none: it reports none, or is gone), instead of what it reported
// before.
func (l *Load) Observe(owner, host string, ports []HostPort) {
	old := l.observed[owner][host]
	if slices.Equal(old, ports) {
		return
	}
	u := l.usage(host)
	for _, p := range old {
		if u.Observed[p]--; u.Observed[p] <= 0 {
			delete(u.Observed, p)
		}
	}
	for _, p := range ports {
		u.Observed[p]++
	}
	byHost := l.observed[owner]
	switch {
	case len(ports) > 0 && byHost == nil:
		l.observed[owner] = map[string][]HostPort{host: slices.Clone(ports)}
	case len(ports) > 0:
		byHost[host] = slices.Clone(ports)
	default:
		delete(byHost, host)
		if len(byHost) == 0 {
			delete(l.observed, owner)
		}
	}
}

// Owners returns every owner placed somewhere, in no order.
func (l *Load) Owners() []string { return slices.Collect(maps.Keys(l.placed)) }

// Without returns what every host has taken but for owner's instances, by
// host name. Its maps are shared with l where owner has nothing: read
// them only until l changes next.
func (l *Load) Without(owner string) map[string]Usage {
	out := make(map[string]Usage, len(l.hosts))
	for h, u := range l.hosts {
		out[h] = *u
	}
	if p, ok := l.placed[owner]; ok {
		for _, h := range p.hosts {
			out[h] = out[h].add(p.req, -1)
		}
	}
	for h, ports := range l.observed[owner] {
		out[h] = out[h].observe(ports, -1)
	}
	return out
}

// without returns what host has taken but for owner's instances, as
// Without does for every host at once, without copying any: the
// scheduler's loop asks it of the hosts it looks at, one decision at a
// time. What it returns shares its maps with l: read it only until l
// changes next.
func (l *Load) without(owner string) func(host string) Usage {
	p, placed := l.placed[owner]
	observed := l.observed[owner]
	return func(host string) Usage {
		var u Usage
		if h := l.hosts[host]; h != nil {
			u = *h
		}
		if placed && slices.Contains(p.hosts, host) {
			u = u.add(p.req, -1)
		}
		if ports, ok := observed[host]; ok {
			u = u.observe(ports, -1)
		}
		return u
	}
}

// addInPlace adds n instances asking r to u, changing its maps.
func (u *Usage) addInPlace(r Request, n int) {
	u.Instances += n
	u.MilliCPUs += int64(n) * r.MilliCPUs
	u.Memory += int64(n) * r.Memory
	for _, p := range r.Ports {
		if u.Ports[p] += n; u.Ports[p] <= 0 {
			delete(u.Ports, p)
		}
	}
}

func sameRequest(a, b Request) bool {
	return a.MilliCPUs == b.MilliCPUs && a.Memory == b.Memory && slices.Equal(a.Ports, b.Ports)
}

// UnitHosts returns the hosts a Unit's instances are placed on: those of
// its binding (nil: none) for a Unit the scheduler places, those it names
// when pinned, and every host whose labels match when global.
func UnitHosts(u *v1.Unit, b *v1.Binding, hosts []HostInfo) []string {
	p := &u.Spec.Placement
	var out []string
	switch {
	case p.Global:
		for _, h := range hosts {
			if v1.MatchesSelector(h.Labels, p.HostSelector) {
				out = append(out, h.Name)
			}
		}
	case !p.NeedsScheduler():
		out = slices.Clone(p.Hosts)
	case b != nil:
		out = slices.Clone(b.Hosts)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// JobHosts returns the hosts a Job's binding (nil: none) places it on.
func JobHosts(b *v1.JobBinding) []string {
	if b == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(b.Hosts))
}
