package consulapi

import (
	"crypto/sha256"
	"fmt"
	"net/url"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// The JSON shapes below are what github.com/hashicorp/consul/api decodes:
// its field names, PascalCase, with the fields it reads always present
// (durations as Go duration strings, never null, since its
// ReadableDuration does not accept null).

type nodeJSON struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

type weightsJSON struct {
	Passing int
	Warning int
}

type agentServiceJSON struct {
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	Weights           weightsJSON
	EnableTagOverride bool
	CreateIndex       uint64 `json:",omitempty"`
	ModifyIndex       uint64 `json:",omitempty"`
	Datacenter        string `json:",omitempty"`
}

type definitionJSON struct {
	HTTP                           string
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	TCP                            string
	ScriptArgs                     []string `json:",omitempty"`
	Interval                       string
	Timeout                        string
	TTL                            string `json:",omitempty"`
	DeregisterCriticalServiceAfter string
}

// healthCheckJSON is Consul's HealthCheck, and a superset of its
// AgentCheck.
type healthCheckJSON struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	ExposedPort int
	Definition  definitionJSON
	CreateIndex uint64
	ModifyIndex uint64
}

type catalogServiceJSON struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceID                string
	ServiceName              string
	ServiceAddress           string
	ServiceTags              []string
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceWeights           weightsJSON
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

type serviceEntryJSON struct {
	Node    nodeJSON
	Service agentServiceJSON
	Checks  []healthCheckJSON
}

type catalogNodeJSON struct {
	Node     nodeJSON
	Services map[string]agentServiceJSON
}

type memberJSON struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// Serf member statuses, as AgentMember.Status carries them.
const (
	memberAlive  = 1
	memberFailed = 4
)

// Consul's names of the node-level health check.
const (
	serfCheckID   = "serfHealth"
	serfCheckName = "Serf Health Status"
	externalNode  = "external" // the node of endpoints no host registered
)

// Statuses as Consul spells them (the same strings as v1.CheckStatus).
const (
	statusPassing  = v1.CheckPassing
	statusWarning  = v1.CheckWarning
	statusCritical = v1.CheckCritical
)

func index(i int64) uint64 {
	if i < 0 {
		return 0
	}
	return uint64(i)
}

// nodeID is a stable UUID-shaped id for a host, derived from its name:
// berth's hosts have names, Consul's nodes have UUIDs too.
func nodeID(name string) string {
	h := sha256.Sum256([]byte("berth.dev/node/" + name))
	h[6] = h[6]&0x0f | 0x50 // version 5 shape (name-based)
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func nonNilTags(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}

func nonNilMeta(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func taggedAddresses(addr string) map[string]string {
	if addr == "" {
		return map[string]string{}
	}
	return map[string]string{"lan": addr, "lan_ipv4": addr, "wan": addr, "wan_ipv4": addr}
}

func (s *Server) toNode(n catalog.Node) nodeJSON {
	return nodeJSON{
		ID:              nodeID(n.Name),
		Node:            n.Name,
		Address:         n.Address,
		Datacenter:      s.dc,
		TaggedAddresses: taggedAddresses(n.Address),
		Meta:            nonNilMeta(n.Meta),
		CreateIndex:     index(n.CreateIndex),
		ModifyIndex:     index(n.ModifyIndex),
	}
}

func (s *Server) toMember(n catalog.Node) memberJSON {
	status := memberAlive
	if !n.Up {
		status = memberFailed
	}
	return memberJSON{
		Name: n.Name, Addr: n.Address, Port: 8301,
		Tags:   map[string]string{"role": "node", "dc": s.dc, "id": nodeID(n.Name)},
		Status: status,
		// Serf's protocol versions of a current Consul client.
		ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
	}
}

func (s *Server) toAgentService(e catalog.Endpoint) agentServiceJSON {
	return agentServiceJSON{
		ID: e.ID, Service: e.Service, Tags: nonNilTags(e.Tags), Meta: nonNilMeta(e.Meta),
		Port: e.Port, Address: e.Address,
		Weights:     weightsJSON{Passing: e.Weights.Passing, Warning: e.Weights.Warning},
		CreateIndex: index(e.CreateIndex), ModifyIndex: index(e.ModifyIndex),
		Datacenter: s.dc,
	}
}

func (s *Server) toCatalogService(n catalog.Node, e catalog.Endpoint) catalogServiceJSON {
	return catalogServiceJSON{
		ID: nodeID(n.Name), Node: n.Name, Address: n.Address, Datacenter: s.dc,
		TaggedAddresses: taggedAddresses(n.Address), NodeMeta: nonNilMeta(n.Meta),
		ServiceID: e.ID, ServiceName: e.Service, ServiceAddress: e.Address,
		ServiceTags: nonNilTags(e.Tags), ServiceMeta: nonNilMeta(e.Meta), ServicePort: e.Port,
		ServiceWeights: weightsJSON{Passing: e.Weights.Passing, Warning: e.Weights.Warning},
		CreateIndex:    index(e.CreateIndex), ModifyIndex: index(e.ModifyIndex),
	}
}

// checkType is Consul's name of a check's type.
func checkType(e catalog.Endpoint, c catalog.Check) string {
	switch c.Type {
	case catalog.CheckExec:
		if e.Container != "" {
			return "docker"
		}
		return "script"
	case catalog.CheckDocker:
		return "docker"
	}
	return c.Type
}

func duration(d time.Duration) string { return d.String() }

// Redacted is what the values of a check's HTTP headers are shown as to a
// read that may not see them.
const Redacted = "[redacted]"

// redactHeader returns h with every value replaced by Redacted; the names
// stay, so a reader still sees which headers a check sends.
func redactHeader(h map[string][]string) map[string][]string {
	if len(h) == 0 {
		return h
	}
	out := make(map[string][]string, len(h))
	for k, vs := range h {
		out[k] = make([]string, len(vs))
		for i := range vs {
			out[k][i] = Redacted
		}
	}
	return out
}

// redactURL hides the password of a URL as url.URL.Redacted does
// ("user:xxxxx@"); a URL that does not parse is hidden whole.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return Redacted
	}
	if _, has := u.User.Password(); !has {
		return s // as written
	}
	return u.Redacted()
}

// checks are an endpoint's checks as Consul's HealthCheck, on node; with
// redact, their HTTP header values and URL passwords are hidden.
func checks(node string, e catalog.Endpoint, redact bool) []healthCheckJSON {
	out := make([]healthCheckJSON, 0, len(e.Checks))
	for _, c := range e.Checks {
		if redact {
			c.Header, c.HTTP = redactHeader(c.Header), redactURL(c.HTTP)
		}
		out = append(out, healthCheckJSON{
			Node: node, CheckID: c.ID, Name: c.Name, Status: string(c.Status),
			Notes: c.Notes, Output: c.Output,
			ServiceID: e.ID, ServiceName: e.Service, ServiceTags: nonNilTags(e.Tags),
			Type: checkType(e, c),
			Definition: definitionJSON{
				HTTP: c.HTTP, Header: c.Header, Method: c.Method, TCP: c.TCP, ScriptArgs: c.Exec,
				Interval: duration(c.Interval), Timeout: duration(c.Timeout),
				DeregisterCriticalServiceAfter: duration(c.DeregisterCriticalAfter),
				TTL:                            ttlString(c.TTL),
			},
			CreateIndex: index(e.CreateIndex), ModifyIndex: index(e.ModifyIndex),
		})
	}
	return out
}

func ttlString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// serfCheck is the node-level check Consul attaches to every node: passing
// while the host is Up, critical when it is Down.
func serfCheck(n catalog.Node) healthCheckJSON {
	c := healthCheckJSON{
		Node: n.Name, CheckID: serfCheckID, Name: serfCheckName,
		Status: string(statusPassing), Output: "Agent alive and reachable",
		ServiceTags: []string{},
		Definition:  definitionJSON{Interval: duration(0), Timeout: duration(0), DeregisterCriticalServiceAfter: duration(0)},
		CreateIndex: index(n.CreateIndex), ModifyIndex: index(n.ModifyIndex),
	}
	if !n.Up {
		c.Status, c.Output = string(statusCritical), "Agent not live or unreachable"
	}
	return c
}
