package consulapi

import (
	"fmt"
	"net/http"
	"slices"

	"berth.dev/berth/internal/catalog"
)

// nodes resolves the node of endpoints within one answer, asking the
// Reader once per host.
type nodes struct {
	r catalog.Reader
	m map[string]nodeOf
}

type nodeOf struct {
	catalog.Node
	known bool // the Reader has the host (and so its serfHealth check)
}

func (s *Server) nodes() *nodes { return &nodes{r: s.r, m: map[string]nodeOf{}} }

// of returns the node an endpoint is on: its host, or, for an endpoint no
// host registered, the "external" node at the endpoint's address. A host
// the Reader does not (yet) know is shown Up at the endpoint's address: its
// endpoints live on its lease, so it is alive.
func (ns *nodes) of(e catalog.Endpoint) nodeOf {
	if e.Host == "" {
		return nodeOf{Node: catalog.Node{Name: externalNode, Address: e.Address, Up: true}}
	}
	if n, ok := ns.m[e.Host]; ok {
		return n
	}
	n, ok := ns.r.Node(e.Host)
	if !ok {
		n = catalog.Node{Name: e.Host, Address: e.Address, Up: true}
	}
	ns.m[e.Host] = nodeOf{Node: n, known: ok}
	return ns.m[e.Host]
}

// nodeChecks are the node-level checks of n: serfHealth when the Reader
// knows it.
func nodeChecks(n nodeOf) []healthCheckJSON {
	if !n.known {
		return nil
	}
	return []healthCheckJSON{serfCheck(n.Node)}
}

// allEndpoints returns every endpoint of the catalog, by service name.
func (s *Server) allEndpoints() []catalog.Endpoint {
	names := make([]string, 0)
	for name := range s.r.Services() {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []catalog.Endpoint
	for _, name := range names {
		eps, _ := s.r.Endpoints(name)
		out = append(out, eps...)
	}
	return out
}

// hasTags reports whether e carries every tag (Consul compares tags
// case-insensitively).
func hasTags(e *catalog.Endpoint, tags []string) bool {
	for _, t := range tags {
		if !e.HasTag(t) {
			return false
		}
	}
	return true
}

func (s *Server) catalogDatacenters(w http.ResponseWriter, r *http.Request) {
	s.read(w, r, "", func(query) (any, int64, error) {
		return []string{s.dc}, s.r.Index(), nil
	})
}

func (s *Server) catalogServices(w http.ResponseWriter, r *http.Request) {
	s.read(w, r, "", func(q query) (any, int64, error) {
		idx := s.r.Index() // before the data: a change in between shows at the next call
		out := map[string][]string{}
		ns := s.nodes()
		for name, tags := range s.r.Services() {
			if len(q.nodeMeta) > 0 {
				eps, _ := s.r.Endpoints(name)
				if !slices.ContainsFunc(eps, func(e catalog.Endpoint) bool { return q.matchNodeMeta(ns.of(e).Node) }) {
					continue
				}
			}
			out[name] = nonNilTags(tags)
		}
		return out, idx, nil
	})
}

func (s *Server) catalogService(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	tags := r.URL.Query()["tag"]
	s.read(w, r, name, func(q query) (any, int64, error) {
		eps, idx := s.r.Endpoints(name)
		ns := s.nodes()
		out := []catalogServiceJSON{}
		for _, e := range eps {
			n := ns.of(e)
			if hasTags(&e, tags) && q.matchNodeMeta(n.Node) {
				out = append(out, s.toCatalogService(n.Node, e))
			}
		}
		return out, idx, nil
	})
}

func (s *Server) catalogNodes(w http.ResponseWriter, r *http.Request) {
	s.read(w, r, "", func(q query) (any, int64, error) {
		idx := s.r.Index()
		all, _ := s.r.Nodes()
		out := []nodeJSON{}
		for _, n := range all {
			if q.matchNodeMeta(n) {
				out = append(out, s.toNode(n))
			}
		}
		return out, idx, nil
	})
}

// catalogNode answers {Node, Services}, or null for a node that has
// neither a record nor endpoints, as Consul does.
func (s *Server) catalogNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("node")
	s.read(w, r, "", func(query) (any, int64, error) {
		idx := s.r.Index()
		ns := s.nodes()
		var node *catalog.Node
		if n, ok := s.r.Node(name); ok {
			node = &n
		}
		svcs := map[string]agentServiceJSON{}
		for _, e := range s.allEndpoints() {
			n := ns.of(e)
			if n.Name != name {
				continue
			}
			if node == nil {
				node = &n.Node
			}
			svcs[e.ID] = s.toAgentService(e)
		}
		if node == nil {
			return nil, idx, nil
		}
		return catalogNodeJSON{Node: s.toNode(*node), Services: svcs}, idx, nil
	})
}

func (s *Server) healthService(w http.ResponseWriter, r *http.Request) {
	redact := s.redact(r)
	name := r.PathValue("name")
	tags := r.URL.Query()["tag"]
	passing, err := boolParam(r, "passing")
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	s.read(w, r, name, func(q query) (any, int64, error) {
		eps, idx := s.r.Endpoints(name)
		ns := s.nodes()
		out := []serviceEntryJSON{}
		for _, e := range eps {
			n := ns.of(e)
			if !hasTags(&e, tags) || !q.matchNodeMeta(n.Node) {
				continue
			}
			cs := append(nodeChecks(n), checks(n.Name, e, redact)...)
			if passing && !allPassing(cs) {
				continue
			}
			out = append(out, serviceEntryJSON{Node: s.toNode(n.Node), Service: s.toAgentService(e), Checks: cs})
		}
		return out, idx, nil
	})
}

func allPassing(cs []healthCheckJSON) bool {
	for _, c := range cs {
		if c.Status != string(statusPassing) {
			return false
		}
	}
	return true
}

func (s *Server) healthChecks(w http.ResponseWriter, r *http.Request) {
	redact := s.redact(r)
	name := r.PathValue("name")
	s.read(w, r, name, func(q query) (any, int64, error) {
		eps, idx := s.r.Endpoints(name)
		ns := s.nodes()
		out := []healthCheckJSON{}
		for _, e := range eps {
			n := ns.of(e)
			if q.matchNodeMeta(n.Node) {
				out = append(out, checks(n.Name, e, redact)...)
			}
		}
		return out, idx, nil
	})
}

func (s *Server) healthNode(w http.ResponseWriter, r *http.Request) {
	redact := s.redact(r)
	name := r.PathValue("node")
	s.read(w, r, "", func(query) (any, int64, error) {
		idx := s.r.Index()
		out := []healthCheckJSON{}
		if n, ok := s.r.Node(name); ok {
			out = append(out, serfCheck(n))
		}
		ns := s.nodes()
		for _, e := range s.allEndpoints() {
			if n := ns.of(e); n.Name == name {
				out = append(out, checks(n.Name, e, redact)...)
			}
		}
		return out, idx, nil
	})
}

func (s *Server) healthState(w http.ResponseWriter, r *http.Request) {
	redact := s.redact(r)
	state := r.PathValue("state")
	switch state {
	case "any", string(statusPassing), string(statusWarning), string(statusCritical):
	default:
		s.badRequest(w, r, fmt.Errorf("invalid check state %q: want any, passing, warning or critical", state))
		return
	}
	s.read(w, r, "", func(q query) (any, int64, error) {
		idx := s.r.Index()
		all, _ := s.r.Nodes()
		var cs []healthCheckJSON
		for _, n := range all {
			if q.matchNodeMeta(n) {
				cs = append(cs, serfCheck(n))
			}
		}
		ns := s.nodes()
		for _, e := range s.allEndpoints() {
			if n := ns.of(e); q.matchNodeMeta(n.Node) {
				cs = append(cs, checks(n.Name, e, redact)...)
			}
		}
		out := []healthCheckJSON{}
		for _, c := range cs {
			if state == "any" || c.Status == state {
				out = append(out, c)
			}
		}
		return out, idx, nil
	})
}
