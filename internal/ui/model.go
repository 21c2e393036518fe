package ui

import (
	"sort"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/store"
)

// model is what the dashboard knows of the cluster: the objects, statuses,
// hosts, bindings and events of the store, as its feeds' typed caches
// decoded them once when their keys changed, from which rows are built. It is not safe for concurrent use:
// the hub holds it under its lock.
type model struct {
	self string // this controller's host

	units      map[string]*v1.Unit
	jobs       map[string]*v1.Job
	services   map[string]*v1.Service
	gitSources map[string]*v1.GitSource
	// statuses are by kind (unit, job), name and host, as the hosts wrote
	// them; one whose host has no record is shown nowhere.
	statuses  map[string]map[string]map[string]v1.InstanceStatus
	onHost    map[string]map[rowID]bool // the Units and Jobs with a status on each host
	gitStatus map[string]*v1.GitSourceStatus
	hosts     map[string]*v1.Host
	alive     map[string]bool
	bindings  map[string]*v1.JobBinding
	events    map[string]v1.Event // by key
}

func newModel(self string) *model {
	return &model{
		self:  self,
		units: map[string]*v1.Unit{}, jobs: map[string]*v1.Job{}, services: map[string]*v1.Service{},
		gitSources: map[string]*v1.GitSource{},
		statuses:   map[string]map[string]map[string]v1.InstanceStatus{rowUnit: {}, rowJob: {}},
		onHost:     map[string]map[rowID]bool{},
		gitStatus:  map[string]*v1.GitSourceStatus{}, hosts: map[string]*v1.Host{}, alive: map[string]bool{},
		bindings: map[string]*v1.JobBinding{}, events: map[string]v1.Event{},
	}
}

// The apply functions record the change of one key of a feed (feeds.go),
// its value decoded once by the feed's cache (present false: deleted, or
// a value that does not decode), and return the rows it changes.

func (m *model) applyObject(key string, o v1.Object, present bool) []rowID {
	kind, name, ok := strings.Cut(strings.TrimPrefix(key, store.Prefix+"objects/"), "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return nil // a Job's version records, or no object
	}
	if !present {
		o = nil
	}
	switch kind {
	case rowUnit:
		setOrDelete(m.units, name, o)
	case rowJob:
		setOrDelete(m.jobs, name, o)
	case rowService:
		setOrDelete(m.services, name, o)
	case rowGitSource:
		setOrDelete(m.gitSources, name, o)
	default:
		return nil
	}
	return []rowID{{kind, name}}
}

func setOrDelete[T v1.Object](m map[string]T, name string, o v1.Object) {
	if t, ok := o.(T); ok {
		m[name] = t
	} else {
		delete(m, name)
	}
}

func (m *model) applyGitStatus(key string, st *v1.GitSourceStatus, present bool) []rowID {
	_, name, _, ok := store.ParseStatusKey(key)
	if !ok {
		return nil
	}
	if present && st != nil {
		m.gitStatus[name] = st
	} else {
		delete(m.gitStatus, name)
	}
	return []rowID{{rowGitSource, name}}
}

func (m *model) applyStatus(key string, in v1.InstanceStatus, present bool) []rowID {
	kind, name, host, ok := store.ParseStatusKey(key)
	if !ok {
		return nil
	}
	byName, ok := m.statuses[kind]
	if !ok {
		return nil
	}
	id := rowID{kind, name}
	if present {
		if byName[name] == nil {
			byName[name] = map[string]v1.InstanceStatus{}
		}
		byName[name][host] = in
		if m.onHost[host] == nil {
			m.onHost[host] = map[rowID]bool{}
		}
		m.onHost[host][id] = true
	} else {
		if hs := byName[name]; hs != nil {
			delete(hs, host)
			if len(hs) == 0 {
				delete(byName, name)
			}
		}
		delete(m.onHost[host], id)
		if len(m.onHost[host]) == 0 {
			delete(m.onHost, host)
		}
	}
	return []rowID{{kind, name}, {rowHost, host}}
}

func (m *model) applyHost(key string, h *v1.Host, present bool) []rowID {
	name := strings.TrimPrefix(key, store.HostsPrefix)
	_, had := m.hosts[name]
	if present && h != nil {
		m.hosts[name] = h
	} else {
		delete(m.hosts, name)
	}
	ids := []rowID{{rowHost, name}}
	if _, has := m.hosts[name]; had != has {
		// Its statuses count, or no longer do.
		ids = append(ids, m.instancesOn(name)...)
	}
	return ids
}

func (m *model) applyAlive(key string, _ struct{}, present bool) []rowID {
	name := strings.TrimPrefix(key, store.AlivePrefix)
	if m.alive[name] == present {
		return []rowID{{rowHost, name}}
	}
	if present {
		m.alive[name] = true
	} else {
		delete(m.alive, name)
	}
	return append(m.instancesOn(name), rowID{rowHost, name})
}

func (m *model) applyBinding(key string, b v1.JobBinding, present bool) []rowID {
	name := strings.TrimPrefix(key, store.BindingKey(v1.KindJob, ""))
	if present {
		m.bindings[name] = &b
	} else {
		delete(m.bindings, name)
	}
	return []rowID{{rowJob, name}}
}

func (m *model) applyEvent(key string, ev v1.Event, present bool) []rowID {
	if present {
		m.events[key] = ev
	} else {
		delete(m.events, key)
	}
	return []rowID{{rowEvent, key}}
}

// instancesOn returns the rows of the Units and Jobs with a status on
// host.
func (m *model) instancesOn(host string) []rowID {
	ids := make([]rowID, 0, len(m.onHost[host]))
	for id := range m.onHost[host] {
		ids = append(ids, id)
	}
	return ids
}

// isHost reports whether a host of that name has a record: only its
// statuses are instances (store.DecodeHostStatus).
func (m *model) isHost(name string) bool {
	_, ok := m.hosts[name]
	return ok
}

func (m *model) down(name string) bool { return !m.alive[name] }

// instances returns the instances of kind/name, sorted by host.
func (m *model) instances(kind, name string) []v1.InstanceStatus {
	hs := m.statuses[kind][name]
	out := make([]v1.InstanceStatus, 0, len(hs))
	for h, in := range hs {
		if m.isHost(h) {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// row returns the row id names, or nil when there is none. Services are
// built by serviceRow, from the catalog.
func (m *model) row(id rowID) any {
	switch id.kind {
	case rowUnit:
		if u, ok := m.units[id.name]; ok {
			return buildUnitRow(u, m.instances(rowUnit, id.name), m.down)
		}
	case rowJob:
		if j, ok := m.jobs[id.name]; ok {
			return buildJobRow(j, m.instances(rowJob, id.name), m.bindings[id.name], m.down)
		}
	case rowHost:
		if h, ok := m.hosts[id.name]; ok {
			h := *h
			h.Status.State = v1.HostDown
			if m.alive[id.name] {
				h.Status.State = v1.HostUp
			}
			return buildHostRow(&h, m.hostInstances(id.name), m.self)
		}
	case rowGitSource:
		if g, ok := m.gitSources[id.name]; ok {
			return buildGitSourceRow(g, m.gitStatus[id.name])
		}
	case rowEvent:
		if ev, ok := m.events[id.name]; ok {
			return buildEventRow(ev)
		}
	}
	return nil
}

// hostInstances returns what host reports running.
func (m *model) hostInstances(host string) []hostInstance {
	out := make([]hostInstance, 0, len(m.onHost[host]))
	for id := range m.onHost[host] {
		out = append(out, hostInstance{Kind: id.kind, Name: id.name, State: m.statuses[id.kind][id.name][host].State})
	}
	sortInstances(out)
	return out
}

// serviceNames returns the names of every service the page lists: those
// a Service object defines, and those with endpoints in the catalog.
func (m *model) serviceNames(cat catalog.Reader) []string {
	names := map[string]bool{}
	for n := range m.services {
		names[n] = true
	}
	if cat != nil {
		for n := range cat.Services() {
			names[n] = true
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// serviceRow builds the row of a service from its object and the catalog.
func (m *model) serviceRow(name string, cat catalog.Reader) any {
	var eps []catalog.Endpoint
	if cat != nil {
		eps, _ = cat.Endpoints(name)
	}
	svc := m.services[name]
	if svc == nil && len(eps) == 0 {
		return nil
	}
	return buildServiceRow(name, svc, eps)
}

// ids returns every row the model has, services aside.
func (m *model) ids() []rowID {
	var ids []rowID
	for n := range m.units {
		ids = append(ids, rowID{rowUnit, n})
	}
	for n := range m.jobs {
		ids = append(ids, rowID{rowJob, n})
	}
	for n := range m.hosts {
		ids = append(ids, rowID{rowHost, n})
	}
	for n := range m.gitSources {
		ids = append(ids, rowID{rowGitSource, n})
	}
	for k := range m.events {
		ids = append(ids, rowID{rowEvent, k})
	}
	return ids
}

// object returns a copy of the stored object kind/name, with its status
// as get -o json shows it; without secrets, the values of environment
// variables and check headers are replaced by "[redacted]".
func (m *model) object(kind, name string, secrets bool) v1.Object {
	var o v1.Object
	switch kind {
	case rowUnit:
		if u, ok := m.units[name]; ok {
			u = u.DeepCopyObject().(*v1.Unit)
			u.Status = &v1.ObjectStatus{Instances: m.instances(rowUnit, name)}
			if !secrets {
				redactEnv(u.Spec.Container.Env)
			}
			o = u
		}
	case rowJob:
		if j, ok := m.jobs[name]; ok {
			j = j.DeepCopyObject().(*v1.Job)
			j.Status = &v1.ObjectStatus{Instances: m.instances(rowJob, name)}
			if !secrets {
				redactEnv(j.Spec.Container.Env)
			}
			o = j
		}
	case rowService:
		if s, ok := m.services[name]; ok {
			s = s.DeepCopyObject().(*v1.Service)
			if !secrets {
				for i := range s.Spec.Checks {
					for k, vs := range s.Spec.Checks[i].Header {
						s.Spec.Checks[i].Header[k] = redacted(vs)
					}
				}
			}
			o = s
		}
	case rowGitSource:
		if g, ok := m.gitSources[name]; ok {
			g = g.DeepCopyObject().(*v1.GitSource)
			g.Status = m.gitStatus[name]
			o = g
		}
	case rowHost:
		if h, ok := m.hosts[name]; ok {
			h = h.DeepCopyObject().(*v1.Host)
			h.Status.State = v1.HostDown
			if m.alive[name] {
				h.Status.State = v1.HostUp
			}
			o = h
		}
	}
	return o
}

func redactEnv(env []v1.EnvVar) {
	for i := range env {
		if env[i].Value != "" {
			env[i].Value = "[redacted]"
		}
	}
}

func redacted(vs []string) []string {
	out := make([]string, len(vs))
	for i := range out {
		out[i] = "[redacted]"
	}
	return out
}

// eventsOf returns the events of an object (for a host: those its
// controller recorded), newest first.
func (m *model) eventsOf(kind, name string) []eventRow {
	out := []eventRow{}
	for _, ev := range m.events {
		if (kind == rowHost && ev.Host == name) || (strings.EqualFold(ev.Object.Kind, kind) && ev.Object.Name == name) {
			out = append(out, buildEventRow(ev))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out
}
