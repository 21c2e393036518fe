package ui

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// Kinds of the rows the page shows, as the stream names them.
const (
	rowUnit      = "unit"
	rowJob       = "job"
	rowHost      = "host"
	rowService   = "service"
	rowGitSource = "gitsource"
	rowEvent     = "event"
)

// rowID names one row of the page: a Unit, a Job, a host, a service, a
// GitSource or an event (name is then the event's key).
type rowID struct{ kind, name string }

// instanceRow is one instance of a Unit or Job on a host, as the tables
// show it.
type instanceRow struct {
	Host string `json:"host"`
	// State is UNKNOWN while the host is down: what it last said may be
	// stale.
	State    v1.InstanceState `json:"state"`
	Reason   string           `json:"reason,omitempty"` // of the Ready condition
	HostDown bool             `json:"hostDown,omitempty"`
	Goal     v1.Goal          `json:"goal,omitempty"`
	Since    time.Time        `json:"since,omitzero"`
	Restarts int              `json:"restarts"`
	// Ready is the Ready condition's status: True, False or "".
	Ready        v1.ConditionStatus `json:"ready,omitempty"`
	ReadyMessage string             `json:"readyMessage,omitempty"`
	Message      string             `json:"message,omitempty"`
	Container    string             `json:"container,omitempty"` // short id
	Ports        string             `json:"ports,omitempty"`
	LastExitCode *int               `json:"lastExitCode,omitempty"`
	Throttled    v1.ThrottleState   `json:"throttled,omitempty"`
	Observed     int64              `json:"observedGeneration"`
	Version      string             `json:"version,omitempty"` // a Job's, from its binding
}

// unitRow is a Unit with its instances.
type unitRow struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Goal        v1.Goal           `json:"goal"`
	Image       string            `json:"image"`
	Generation  int64             `json:"generation"`
	Created     time.Time         `json:"created,omitzero"`
	Labels      map[string]string `json:"labels,omitempty"`
	Requires    []string          `json:"requires,omitempty"`
	Wants       []string          `json:"wants,omitempty"`
	After       []string          `json:"after,omitempty"`
	Placement   string            `json:"placement"`
	Instances   []instanceRow     `json:"instances"`
}

// jobRow is a Job with its deployments, instances and rollout.
type jobRow struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	ID          string            `json:"id"`
	Image       string            `json:"image"`
	Generation  int64             `json:"generation"`
	Created     time.Time         `json:"created,omitzero"`
	Labels      map[string]string `json:"labels,omitempty"`
	Deployments []v1.Deployment   `json:"deployments,omitempty"`
	Selector    string            `json:"selector,omitempty"`
	Instances   []instanceRow     `json:"instances"`
	// Versions counts the hosts its binding puts on each version.
	Versions map[string]int    `json:"versions,omitempty"`
	Rollout  *v1.RolloutStatus `json:"rollout,omitempty"`
}

// hostInstance is one instance a host reports.
type hostInstance struct {
	Kind  string           `json:"kind"` // unit or job
	Name  string           `json:"name"`
	State v1.InstanceState `json:"state"`
}

// hostRow is a host as get hosts shows it, with what runs on it.
type hostRow struct {
	Name          string            `json:"name"`
	Up            bool              `json:"up"`
	Labels        map[string]string `json:"labels,omitempty"`
	Addresses     []string          `json:"addresses,omitempty"`
	HTTP          string            `json:"http,omitempty"` // scheme://address of its API
	CPUs          int               `json:"cpus"`
	MemoryBytes   int64             `json:"memoryBytes"`
	MemoryUsed    int64             `json:"memoryUsed"`
	Load          [3]float64        `json:"load"`
	OS            string            `json:"os,omitempty"`
	Berth         string            `json:"berth,omitempty"`
	Docker        string            `json:"docker,omitempty"`
	Heartbeat     time.Time         `json:"heartbeat,omitzero"`
	StartedAt     time.Time         `json:"startedAt,omitzero"`
	Instances     []hostInstance    `json:"instances"`
	Deployed      int               `json:"deployed"`
	Running       int               `json:"running"`
	ThisDashboard bool              `json:"thisDashboard,omitempty"`
}

// checkRow is one health check of an endpoint with its last output.
type checkRow struct {
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Status v1.CheckStatus `json:"status"`
	Output string         `json:"output,omitempty"`
}

// endpointRow is one endpoint of a service.
type endpointRow struct {
	ID      string         `json:"id"`
	Host    string         `json:"host"`
	Address string         `json:"address"`
	Port    int            `json:"port"`
	Status  v1.CheckStatus `json:"status"`
	Owner   string         `json:"owner,omitempty"` // unit/web
	Source  string         `json:"source"`
	Tags    []string       `json:"tags,omitempty"`
	Checks  []checkRow     `json:"checks,omitempty"`
}

// serviceRow is a service as Consul's UI shows it: its endpoints and
// their checks, whether or not a Service object defines it.
type serviceRow struct {
	Name      string        `json:"name"`
	Defined   bool          `json:"defined"`
	Tags      []string      `json:"tags,omitempty"`
	Selector  string        `json:"selector,omitempty"`
	Port      string        `json:"port,omitempty"`
	Endpoints []endpointRow `json:"endpoints"`
	Passing   int           `json:"passing"`
	Warning   int           `json:"warning"`
	Critical  int           `json:"critical"`
}

// gitSourceRow is a GitSource with what the leader last did with it.
type gitSourceRow struct {
	Name      string             `json:"name"`
	URL       string             `json:"url"`
	Ref       string             `json:"ref"`
	Path      string             `json:"path"`
	Suspend   bool               `json:"suspend,omitempty"`
	Ready     v1.ConditionStatus `json:"ready"`
	Reason    string             `json:"reason,omitempty"`
	Message   string             `json:"message,omitempty"`
	Revision  string             `json:"revision,omitempty"`
	Attempted string             `json:"attempted,omitempty"`
	LastError string             `json:"lastError,omitempty"`
	LastSync  time.Time          `json:"lastSync,omitzero"`
}

// eventRow is an event with the object it is about.
type eventRow struct {
	Kind    string       `json:"kind"`
	Name    string       `json:"name"`
	Type    v1.EventType `json:"type"`
	Reason  string       `json:"reason"`
	Message string       `json:"message"`
	Host    string       `json:"host,omitempty"`
	Count   int          `json:"count"`
	First   time.Time    `json:"first,omitzero"`
	Last    time.Time    `json:"last,omitzero"`
}

// instance is the row of one instance status; down says its host is
// down.
func instance(in v1.InstanceStatus, down bool) instanceRow {
	r := instanceRow{
		Host: in.Host, State: in.State, Goal: in.Goal, Since: in.Since, Restarts: in.Restarts,
		Message: in.Message, Container: shortID(in.ContainerID), Ports: ports(in.Ports),
		LastExitCode: in.LastExitCode, Throttled: in.Throttled, Observed: in.ObservedGeneration,
	}
	if c := v1.FindCondition(in.Conditions, v1.ConditionReady); c != nil {
		r.Ready, r.Reason, r.ReadyMessage = c.Status, c.Reason, c.Message
	}
	if r.Throttled == v1.ThrottleNo {
		r.Throttled = ""
	}
	if down {
		r.State, r.HostDown = v1.StateUnknown, true
	}
	return r
}

func buildUnitRow(u *v1.Unit, insts []v1.InstanceStatus, down func(string) bool) unitRow {
	r := unitRow{
		Name: u.Metadata.Name, Description: u.Spec.Description, Goal: u.Spec.Goal, Image: u.Spec.Container.Image,
		Generation: u.Metadata.Generation, Created: u.Metadata.CreationTimestamp, Labels: u.Metadata.Labels,
		Requires: u.Spec.Requires, Wants: u.Spec.Wants, After: u.Spec.After, Placement: placement(u.Spec.Placement),
		Instances: make([]instanceRow, 0, len(insts)),
	}
	if r.Goal == "" {
		r.Goal = v1.GoalStart
	}
	for _, in := range insts {
		r.Instances = append(r.Instances, instance(in, down(in.Host)))
	}
	return r
}

func buildJobRow(j *v1.Job, insts []v1.InstanceStatus, b *v1.JobBinding, down func(string) bool) jobRow {
	r := jobRow{
		Name: j.Metadata.Name, Version: j.Spec.Version, ID: j.ID(), Image: j.Spec.Container.Image,
		Generation: j.Metadata.Generation, Created: j.Metadata.CreationTimestamp, Labels: j.Metadata.Labels,
		Deployments: j.Spec.Deployments, Instances: make([]instanceRow, 0, len(insts)),
	}
	if len(j.Spec.HostSelector) > 0 {
		r.Selector = v1.FormatLabels(j.Spec.HostSelector)
	}
	if b != nil {
		r.Rollout = b.Rollout
		r.Versions = map[string]int{}
		for _, v := range b.Hosts {
			r.Versions[v]++
		}
	}
	for _, in := range insts {
		ir := instance(in, down(in.Host))
		if b != nil {
			ir.Version = b.Hosts[in.Host]
		}
		r.Instances = append(r.Instances, ir)
	}
	return r
}

func buildHostRow(h *v1.Host, insts []hostInstance, self string) hostRow {
	s := h.Status
	r := hostRow{
		Name: h.Metadata.Name, Up: s.State == v1.HostUp, Labels: h.Metadata.Labels, Addresses: s.Addresses,
		CPUs: s.CPUs, MemoryBytes: s.MemoryBytes, MemoryUsed: s.MemoryUsed, Load: s.LoadAverage,
		OS: s.OS, Berth: s.BerthVersion, Docker: s.DockerVersion, Heartbeat: s.Heartbeat, StartedAt: s.StartedAt,
		Instances: insts, ThisDashboard: h.Metadata.Name == self,
	}
	if r.Instances == nil {
		r.Instances = []hostInstance{}
	}
	if s.HTTPAddress != "" {
		scheme := s.HTTPScheme
		if scheme == "" {
			scheme = "http"
		}
		r.HTTP = scheme + "://" + s.HTTPAddress
	}
	for _, in := range insts {
		r.Deployed++
		if in.State == v1.StateRunning {
			r.Running++
		}
	}
	return r
}

// buildServiceRow is a service's row from its Service object (nil when
// none defines it) and its endpoints in the catalog.
func buildServiceRow(name string, svc *v1.Service, eps []catalog.Endpoint) serviceRow {
	r := serviceRow{Name: name, Defined: svc != nil, Endpoints: make([]endpointRow, 0, len(eps))}
	tags := map[string]bool{}
	if svc != nil {
		for _, t := range svc.Spec.Tags {
			tags[t] = true
		}
		if len(svc.Spec.Selector) > 0 {
			r.Selector = v1.FormatLabels(svc.Spec.Selector)
		}
		if !svc.Spec.Port.IsZero() {
			r.Port = svc.Spec.Port.String()
		}
	}
	for i := range eps {
		e := &eps[i]
		er := endpointRow{ID: e.ID, Host: e.Host, Address: e.Address, Port: e.Port, Status: e.Status(), Source: e.Source, Tags: e.Tags}
		if e.OwnerKind != "" {
			er.Owner = strings.ToLower(e.OwnerKind) + "/" + e.OwnerName
		}
		for _, c := range e.Checks {
			er.Checks = append(er.Checks, checkRow{Name: c.Name, Type: c.Type, Status: c.Status, Output: c.Output})
		}
		for _, t := range e.Tags {
			tags[t] = true
		}
		switch er.Status {
		case v1.CheckPassing:
			r.Passing++
		case v1.CheckWarning:
			r.Warning++
		default:
			r.Critical++
		}
		r.Endpoints = append(r.Endpoints, er)
	}
	r.Tags = slices.Sorted(maps.Keys(tags))
	return r
}

func buildGitSourceRow(g *v1.GitSource, st *v1.GitSourceStatus) gitSourceRow {
	r := gitSourceRow{
		Name: g.Metadata.Name, URL: g.Spec.URL, Ref: g.Spec.Ref.String(), Path: g.Spec.Path, Suspend: g.Spec.Suspend,
		Ready: v1.ConditionUnknown,
	}
	if r.Ref == "" {
		r.Ref = "main"
	}
	if r.Path == "" {
		r.Path = "."
	}
	if st == nil {
		r.Message = "not synced yet"
		return r
	}
	if c := v1.FindCondition(st.Conditions, v1.ConditionReady); c != nil {
		r.Ready, r.Reason, r.Message = c.Status, c.Reason, c.Message
	}
	r.Revision, r.Attempted, r.LastError, r.LastSync = st.LastAppliedRevision, st.LastAttemptedRevision, st.LastError, st.LastSyncTime
	return r
}

func buildEventRow(ev v1.Event) eventRow {
	return eventRow{
		Kind: strings.ToLower(ev.Object.Kind), Name: ev.Object.Name, Type: ev.Type, Reason: ev.Reason, Message: ev.Message,
		Host: ev.Host, Count: ev.Count, First: ev.FirstTimestamp, Last: ev.LastTimestamp,
	}
}

// placement says where a Unit runs, in a few words.
func placement(p v1.Placement) string {
	var parts []string
	switch {
	case p.Global:
		parts = append(parts, "every host")
	case len(p.Hosts) > 0:
		parts = append(parts, "hosts "+strings.Join(p.Hosts, ", "))
	}
	if len(p.HostSelector) > 0 {
		parts = append(parts, "hosts with "+v1.FormatLabels(p.HostSelector))
	}
	if !p.Global && p.Replicas > 1 {
		parts = append(parts, fmt.Sprintf("%d replicas", p.Replicas))
	}
	if len(parts) == 0 {
		return "any host"
	}
	return strings.Join(parts, "; ")
}

func ports(ps []v1.PortStatus) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// sortInstances orders a host's instances by kind and name.
func sortInstances(l []hostInstance) {
	sort.Slice(l, func(i, j int) bool {
		if l[i].Kind != l[j].Kind {
			return l[i].Kind > l[j].Kind // units first
		}
		return l[i].Name < l[j].Name
	})
}
