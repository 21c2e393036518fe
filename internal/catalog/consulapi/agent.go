package consulapi

import (
	"fmt"
	"net/http"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/version"
)

// consulVersion is the Consul release whose API this package follows, for
// clients that read Config.Version to pick features.
const consulVersion = "1.20.0"

// self is this host as the catalog has it, or as the Agent names it while
// the catalog has no record of it yet.
func (s *Server) self() catalog.Node {
	name := s.a.NodeName()
	if n, ok := s.r.Node(name); ok {
		return n
	}
	return catalog.Node{Name: name, Up: true}
}

// local returns this host's endpoint of that id, or nil.
func (s *Server) local(id string) *catalog.Endpoint {
	for _, e := range s.a.Local() {
		if e.ID == id {
			return &e
		}
	}
	return nil
}

func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) {
	s.read(w, r, "", func(query) (any, int64, error) {
		idx := s.r.Index()
		n := s.self()
		return map[string]any{
			"Config": map[string]any{
				"Datacenter":        s.dc,
				"PrimaryDatacenter": s.dc,
				"NodeName":          n.Name,
				"NodeID":            nodeID(n.Name),
				"Version":           consulVersion,
				"Revision":          "",
				"Server":            false,
				"BerthVersion":      version.Version,
			},
			"Member": s.toMember(n),
			"Meta":   nonNilMeta(n.Meta),
		}, idx, nil
	})
}

// agentMembers lists every host of the catalog, Up (alive) or Down
// (failed). The WAN pool holds servers only, and berth has none.
func (s *Server) agentMembers(w http.ResponseWriter, r *http.Request) {
	wan, err := boolParam(r, "wan")
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	s.read(w, r, "", func(query) (any, int64, error) {
		idx := s.r.Index()
		out := []memberJSON{}
		if wan {
			return out, idx, nil
		}
		all, _ := s.r.Nodes()
		for _, n := range all {
			out = append(out, s.toMember(n))
		}
		return out, idx, nil
	})
}

func (s *Server) agentServices(w http.ResponseWriter, r *http.Request) {
	s.read(w, r, "", func(query) (any, int64, error) {
		idx := s.r.Index()
		out := map[string]agentServiceJSON{}
		for _, e := range s.a.Local() {
			out[e.ID] = s.toAgentService(e)
		}
		return out, idx, nil
	})
}

func (s *Server) agentService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e := s.local(id)
	if e == nil {
		http.Error(w, fmt.Sprintf("unknown service ID %q", id), http.StatusNotFound)
		return
	}
	s.read(w, r, "", func(query) (any, int64, error) {
		return s.toAgentService(*e), s.r.Index(), nil
	})
}

func (s *Server) agentChecks(w http.ResponseWriter, r *http.Request) {
	redact := s.redact(r)
	s.read(w, r, "", func(query) (any, int64, error) {
		idx := s.r.Index()
		node := s.a.NodeName()
		out := map[string]healthCheckJSON{}
		for _, e := range s.a.Local() {
			for _, c := range checks(node, e, redact) {
				out[c.CheckID] = c
			}
		}
		return out, idx, nil
	})
}

func (s *Server) serviceRegister(w http.ResponseWriter, r *http.Request) {
	replace, err := boolParam(r, "replace-existing-checks")
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	def, err := parseService(body)
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	id := def.ID
	if id == "" {
		id = def.Name
	}
	old := s.local(id)
	if old != nil && old.Source != catalog.SourceAgent {
		s.badRequest(w, r, fmt.Errorf("service ID %q is this host's %s endpoint of %q, not the agent's: pick another ID", id, old.Source, old.Service))
		return
	}
	e, err := toEndpoint(def, s.a.NodeName(), s.self().Address, old, replace)
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	ctx, cancel := writeCtx(r)
	defer cancel()
	if old != nil && old.Service != e.Service {
		// The same id under a new name: the old one must not linger.
		if err := s.a.Deregister(ctx, old.ID); err != nil {
			s.written(w, r, fmt.Errorf("deregister %s from %s: %w", old.ID, old.Service, err))
			return
		}
	}
	s.written(w, r, s.a.Register(ctx, e), "service", e.Service, "id", e.ID)
}

func (s *Server) serviceDeregister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := writeCtx(r)
	defer cancel()
	s.written(w, r, s.a.Deregister(ctx, id), "id", id)
}

// checkRegister adds a check to a service registered through this API on
// this host (a container's checks come from its labels and its Service).
// Checks belong to services here: the catalog has no place to show a check
// of the node itself, so one without ServiceID is refused rather than lost.
func (s *Server) checkRegister(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	d, err := parseCheck(body, "")
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	if d.Name == "" {
		s.badRequest(w, r, fmt.Errorf("missing check Name"))
		return
	}
	if d.ServiceID == "" {
		s.badRequest(w, r, fmt.Errorf("missing ServiceID: berth attaches every check to a service of this node"))
		return
	}
	e := s.local(d.ServiceID)
	if e == nil || e.Source != catalog.SourceAgent {
		s.badRequest(w, r, fmt.Errorf("ServiceID %q is not registered through the agent API on this node", d.ServiceID))
		return
	}
	c, run, err := toCheck(d, "", d.Name, d.Name, e.Container)
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	ctx, cancel := writeCtx(r)
	defer cancel()
	if run != "" && run != e.Container {
		if e.Container != "" {
			s.badRequest(w, r, fmt.Errorf("DockerContainerID %q: service %q runs in %q; an endpoint has one container", run, e.ID, e.Container))
			return
		}
		// The endpoint learns its container: register it whole.
		e.Container = run
		e.Checks = append(deleteCheck(e.Checks, c.ID), c)
		s.written(w, r, s.a.Register(ctx, *e), "service", e.Service, "id", e.ID, "check", c.ID)
		return
	}
	s.written(w, r, s.a.RegisterCheck(ctx, d.ServiceID, c), "id", d.ServiceID, "check", c.ID)
}

func deleteCheck(cs []catalog.Check, id string) []catalog.Check {
	out := cs[:0:0]
	for _, c := range cs {
		if c.ID != id {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) checkDeregister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := writeCtx(r)
	defer cancel()
	s.written(w, r, s.a.DeregisterCheck(ctx, id), "check", id)
}

// checkMark answers the older pass/warn/fail endpoints: ?note= is the
// output.
func (s *Server) checkMark(st v1.CheckStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.updateTTL(w, r, r.PathValue("id"), st, r.URL.Query().Get("note"))
	}
}

func (s *Server) checkUpdate(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	status, output, err := parseCheckUpdate(body)
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	st, err := parseStatus(status)
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	s.updateTTL(w, r, r.PathValue("id"), st, output)
}

// updateTTL sets a TTL check of this host: 404 when no endpoint of this
// host has the check, 400 when it is not a TTL check. Output is cut to
// 4 KiB, as check output is.
func (s *Server) updateTTL(w http.ResponseWriter, r *http.Request, id string, st v1.CheckStatus, output string) {
	var found *catalog.Check
	for _, e := range s.a.Local() {
		if c := findCheck(&e, id); c != nil {
			found = c
			break
		}
	}
	if found == nil {
		http.Error(w, fmt.Sprintf("unknown check ID %q: pass the check's ID, not its name", id), http.StatusNotFound)
		return
	}
	if found.Type != catalog.CheckTTL {
		s.badRequest(w, r, fmt.Errorf("check %q is a %s check, not a TTL one: its runner sets its status", id, found.Type))
		return
	}
	ctx, cancel := writeCtx(r)
	defer cancel()
	s.written(w, r, s.a.UpdateTTL(ctx, id, st, truncate(output, maxOutputBytes)), "check", id, "status", st)
}
