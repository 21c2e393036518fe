package registrator

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
)

// input is everything the host's endpoints are built from.
type input struct {
	Host       string
	Address    string // the host's advertise address
	Leader     bool   // this host registers static endpoints that name no host
	Containers []runtime.Container
	Units      map[string]*v1.Unit
	Jobs       map[string]*v1.Job
	Services   []*v1.Service
	Agent      []catalog.Endpoint // registered through the agent API
}

// desired builds this host's endpoints from scratch. It does no I/O: the
// checks carry their definitions and initial status; their results are
// merged in by the caller. Endpoints come from the containers running
// here, the Services' static endpoints and the agent's registrations;
// where two have one service and id, the first in that order wins.
func desired(in input) []catalog.Endpoint {
	var out []catalog.Endpoint
	for i := range in.Containers {
		out = append(out, ofContainer(in, &in.Containers[i])...)
	}
	out = append(out, staticEndpoints(in)...)
	for _, a := range in.Agent {
		a.Host = in.Host
		if a.Address == "" {
			a.Address = in.Address
		}
		out = append(out, a)
	}
	return unique(out)
}

// ofContainer returns the endpoints of container c, if it runs on this
// host: one per Service that selects its Unit (or its Job's template),
// those its Job's registration names, or else those Registrator's
// conventions give its published ports, with its Docker health status.
func ofContainer(in input, c *runtime.Container) []catalog.Endpoint {
	if c.State != runtime.StateRunning {
		return nil
	}
	if h := c.Labels[v1.LabelHost]; h != "" && h != in.Host {
		// Another host's container on an engine two hosts share: that
		// host registers it, at its own address.
		return nil
	}
	var out []catalog.Endpoint
	kind, u, job := owner(in, c)
	if u != nil {
		for _, s := range in.Services {
			if len(s.Spec.Selector) == 0 || !v1.MatchesSelector(u.Metadata.Labels, s.Spec.Selector) {
				continue
			}
			if e, ok := fromService(in, s, kind, u, c); ok {
				out = append(out, e)
			}
		}
	}
	if job != nil && len(job.Spec.Registration) > 0 {
		return append(out, fromRegistration(in, job, c)...)
	}
	if len(out) > 0 {
		return out
	}
	eps := fromContainer(in.Host, in.Address, c)
	if c.Health != "" && c.Health != runtime.HealthNone {
		for i := range eps {
			eps[i].Checks = append(eps[i].Checks, dockerCheck(&eps[i], c.Health))
		}
	}
	return eps
}

// staticEndpoints returns the Services' static endpoints that name this
// host, and on the leader those that name none.
func staticEndpoints(in input) []catalog.Endpoint {
	var out []catalog.Endpoint
	for _, s := range in.Services {
		for i, se := range s.Spec.Endpoints {
			if se.Host != in.Host && !(se.Host == "" && in.Leader) {
				continue
			}
			e := catalog.Endpoint{
				ID: se.ID, Service: s.Metadata.Name, Host: in.Host, Address: se.Address, Port: se.Port,
				Protocol: v1.ProtocolTCP, Tags: mergeTags(s.Spec.Tags, se.Tags), Meta: mergeMeta(s.Spec.Meta, se.Meta),
				Source: catalog.SourceStatic, Weights: catalog.Weights{Passing: 1, Warning: 1},
				OnlyPassing: s.Spec.OnlyPassing, DNSTTL: dnsTTL(s),
			}
			if e.ID == "" {
				e.ID = fmt.Sprintf("%s:static:%d", s.Metadata.Name, i)
			}
			e.Checks = serviceChecks(s, &e)
			out = append(out, e)
		}
	}
	return out
}

// unique sorts eps by service and id and keeps one endpoint of each
// service and id: the first.
func unique(eps []catalog.Endpoint) []catalog.Endpoint {
	sort.SliceStable(eps, func(i, j int) bool {
		if eps[i].Service != eps[j].Service {
			return eps[i].Service < eps[j].Service
		}
		return eps[i].ID < eps[j].ID
	})
	out := eps[:0]
	for i, e := range eps {
		if i > 0 && e.Service == eps[i-1].Service && e.ID == eps[i-1].ID {
			continue
		}
		out = append(out, e)
	}
	return out
}

// owner returns the berth object whose container c is on this host, as a
// Unit (a Job's template and labels), with the Job itself for a Job.
func owner(in input, c *runtime.Container) (string, *v1.Unit, *v1.Job) {
	if c.Labels[v1.LabelHost] != in.Host {
		return "", nil, nil
	}
	name := c.Labels[v1.LabelName]
	switch c.Labels[v1.LabelKind] {
	case v1.KindUnit:
		if u := in.Units[name]; u != nil {
			return v1.KindUnit, u, nil
		}
	case v1.KindJob:
		if j := in.Jobs[name]; j != nil {
			return v1.KindJob, &v1.Unit{Metadata: j.Metadata, Spec: v1.UnitSpec{Container: j.Spec.Container}}, j
		}
	}
	return "", nil, nil
}

// fromRegistration registers a Job's named ports under the services its
// registration names, as Helios' registration does.
func fromRegistration(in input, j *v1.Job, c *runtime.Container) []catalog.Endpoint {
	var out []catalog.Endpoint
	for _, r := range j.Spec.Registration {
		cport, proto := 0, v1.ProtocolTCP
		for _, p := range j.Spec.Container.Ports {
			if p.Name == r.Port {
				cport, proto = p.ContainerPort, p.Protocol
			}
		}
		var bound *runtime.PortBinding
		for _, p := range published(c) {
			if p.ContainerPort == cport && orTCP(p.Protocol) == string(proto) {
				bound = &p
				break
			}
		}
		if bound == nil {
			continue
		}
		e := catalog.Endpoint{
			ID:      fmt.Sprintf("%s:%s:%d", in.Host, c.Name, cport),
			Service: r.Service, Host: in.Host, Address: in.Address, Port: bound.HostPort, Protocol: proto,
			Tags:   append([]string(nil), r.Tags...),
			Meta:   map[string]string{"job": j.Metadata.Name, "version": c.Labels[v1.LabelVersion]},
			Source: catalog.SourceContainer, Container: c.ID, OwnerKind: v1.KindJob, OwnerName: j.Metadata.Name,
			Weights: catalog.Weights{Passing: 1, Warning: 1},
		}
		if proto == v1.ProtocolUDP {
			e.ID += ":udp"
		}
		if chk, ok := jobCheck(in, j, c, e.ID); ok {
			e.Checks = []catalog.Check{chk}
		}
		out = append(out, e)
	}
	return out
}

// jobCheck is the check of Job j's healthCheck for its container c's
// endpoint id, run against the ports c publishes on this host: Helios
// registers a job once its health check passes, and the same check keeps
// it out of discovery until then. ok is false when the Job has no
// healthCheck, or one on a port c does not publish.
func jobCheck(in input, j *v1.Job, c *runtime.Container, id string) (catalog.Check, bool) {
	hc := j.Spec.Container.HealthCheck
	if hc == nil {
		return catalog.Check{}, false
	}
	chk := catalog.Check{ID: "service:" + id, Name: "Job '" + j.Metadata.Name + "' health check", Status: v1.CheckCritical,
		Interval: hc.Interval.Duration, Timeout: hc.Timeout.Duration}
	addr := func(port v1.IntOrString) string {
		p := int(port.IntVal)
		if port.IsStr {
			for _, tp := range j.Spec.Container.Ports {
				if tp.Name == port.StrVal {
					p = tp.ContainerPort
				}
			}
		}
		for _, b := range published(c) {
			if b.ContainerPort == p {
				return in.Address + ":" + strconv.Itoa(b.HostPort)
			}
		}
		return ""
	}
	switch {
	case hc.HTTP != nil:
		if a := addr(hc.HTTP.Port); a != "" {
			chk.Type, chk.HTTP, chk.Method = catalog.CheckHTTP, hc.HTTP.Scheme+"://"+a+hc.HTTP.Path, "GET"
		}
	case hc.TCP != nil:
		if a := addr(hc.TCP.Port); a != "" {
			chk.Type, chk.TCP = catalog.CheckTCP, a
		}
	case hc.Exec != nil:
		chk.Type, chk.Exec = catalog.CheckExec, append([]string(nil), hc.Exec.Command...)
	}
	return chk, chk.Type != ""
}

// fromService is the endpoint of a Unit's container for a Service that
// selects the Unit; ok is false when the container publishes no port the
// Service names.
func fromService(in input, s *v1.Service, kind string, u *v1.Unit, c *runtime.Container) (catalog.Endpoint, bool) {
	cport := 0
	switch {
	case s.Spec.Port.IsStr:
		for _, p := range u.Spec.Container.Ports {
			if p.Name == s.Spec.Port.StrVal {
				cport = p.ContainerPort
			}
		}
	case s.Spec.Port.IntVal > 0:
		cport = int(s.Spec.Port.IntVal)
	case len(u.Spec.Container.Ports) > 0:
		cport = u.Spec.Container.Ports[0].ContainerPort
	}
	if cport == 0 {
		return catalog.Endpoint{}, false
	}
	var bound *runtime.PortBinding
	for _, p := range published(c) {
		if p.ContainerPort == cport {
			bound = &p
			break
		}
	}
	if bound == nil {
		return catalog.Endpoint{}, false
	}
	e := catalog.Endpoint{
		ID:      fmt.Sprintf("%s:%s:%d", in.Host, c.Name, cport),
		Service: s.Metadata.Name, Host: in.Host, Address: in.Address, Port: bound.HostPort,
		Protocol: v1.Protocol(orTCP(bound.Protocol)), Tags: append([]string(nil), s.Spec.Tags...),
		Meta:   mergeMeta(s.Spec.Meta, map[string]string{strings.ToLower(kind): u.Metadata.Name}),
		Source: catalog.SourceContainer, Container: c.ID, OwnerKind: kind, OwnerName: u.Metadata.Name,
		Weights: catalog.Weights{Passing: 1, Warning: 1}, OnlyPassing: s.Spec.OnlyPassing, DNSTTL: dnsTTL(s),
	}
	if bound.Protocol == runtime.UDP {
		e.ID += ":udp"
	}
	e.Checks = serviceChecks(s, &e)
	if c.Health != "" && c.Health != runtime.HealthNone {
		e.Checks = append(e.Checks, dockerCheck(&e, c.Health))
	}
	return e, true
}

// serviceChecks turns a Service's checks into checks of one endpoint.
func serviceChecks(s *v1.Service, e *catalog.Endpoint) []catalog.Check {
	var out []catalog.Check
	addr := e.Address + ":" + strconv.Itoa(e.Port)
	for i, sc := range s.Spec.Checks {
		c := catalog.Check{ID: "service:" + e.ID, Name: sc.Name, Status: sc.InitialStatus,
			SuccessBeforePassing: sc.SuccessBeforePassing, FailuresBeforeCritical: sc.FailuresBeforeCritical}
		if len(s.Spec.Checks) > 1 {
			c.ID = fmt.Sprintf("service:%s:%d", e.ID, i+1)
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("Service '%s' check", s.Metadata.Name)
		}
		if sc.Interval != nil {
			c.Interval = sc.Interval.Duration
		}
		if sc.Timeout != nil {
			c.Timeout = sc.Timeout.Duration
		}
		if sc.DeregisterCriticalAfter != nil {
			c.DeregisterCriticalAfter = sc.DeregisterCriticalAfter.Duration
		}
		switch {
		case sc.HTTP != "":
			c.Type, c.Method, c.Header = catalog.CheckHTTP, sc.Method, sc.Header
			c.HTTP = sc.HTTP
			if strings.HasPrefix(sc.HTTP, "/") {
				c.HTTP = "http://" + addr + sc.HTTP
			}
		case sc.TCP != "":
			c.Type, c.TCP = catalog.CheckTCP, sc.TCP
			if sc.TCP == "true" || sc.TCP == "yes" {
				c.TCP = addr
			}
		case len(sc.Exec) > 0:
			c.Type, c.Exec = catalog.CheckExec, append([]string(nil), sc.Exec...)
		case sc.TTL != nil:
			c.Type, c.TTL = catalog.CheckTTL, sc.TTL.Duration
		}
		out = append(out, c)
	}
	return out
}

// dockerCheck reflects the container's own HEALTHCHECK status.
func dockerCheck(e *catalog.Endpoint, h runtime.Health) catalog.Check {
	c := catalog.Check{ID: "docker:" + e.ID, Name: "Docker health status", Type: catalog.CheckDocker}
	switch h {
	case runtime.HealthHealthy:
		c.Status, c.Output = v1.CheckPassing, "the container is healthy"
	case runtime.HealthUnhealthy:
		c.Status, c.Output = v1.CheckCritical, "the container is unhealthy"
	default:
		c.Status, c.Output = v1.CheckCritical, "the container's health check has not passed yet"
	}
	return c
}

func dnsTTL(s *v1.Service) time.Duration {
	if s.Spec.TTL != nil {
		return s.Spec.TTL.Duration
	}
	return 0
}

func mergeTags(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, t := range b {
		found := false
		for _, x := range out {
			found = found || x == t
		}
		if !found {
			out = append(out, t)
		}
	}
	return out
}

func mergeMeta(a, b map[string]string) map[string]string {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
