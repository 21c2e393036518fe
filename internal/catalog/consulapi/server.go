package consulapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// Defaults of Options and limits of blocking queries, as Consul's.
const (
	DefaultDatacenter   = "dc1"
	DefaultMaxBodyBytes = 1 << 20

	defaultWait  = 5 * time.Minute
	maxWait      = 10 * time.Minute
	writeTimeout = 10 * time.Second
	bodyTimeout  = 10 * time.Second
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Datacenter the catalog reports ("dc1" when empty). When the Agent
	// names one, the Agent's wins.
	Datacenter string
	// Log receives one line per write and per failed request (discarded
	// when nil).
	Log *slog.Logger
	// MaxBodyBytes caps request bodies (1 MiB when zero); a larger body is
	// 413.
	MaxBodyBytes int64
	// ShowSecrets reports whether a read may see what check definitions
	// hold secret: the values of their HTTP headers (Authorization: ...)
	// and the password in their URLs. The controller answers yes to a
	// request that carries its API token. Nil: never; they are shown as
	// "[redacted]".
	ShowSecrets func(r *http.Request) bool
}

// Server answers Consul's HTTP API from a catalog.Reader and writes through
// a catalog.Agent. It is safe for concurrent use.
type Server struct {
	r    catalog.Reader
	a    catalog.Agent
	dc   string
	log  *slog.Logger
	max  int64
	now  func() time.Time
	rand func(n int64) int64
	// secrets: see Options.ShowSecrets.
	secrets func(r *http.Request) bool
}

// New returns a Server reading r and writing through a.
func New(r catalog.Reader, a catalog.Agent, opts Options) *Server {
	s := &Server{r: r, a: a, dc: opts.Datacenter, log: opts.Log, max: opts.MaxBodyBytes,
		now: time.Now, rand: rand.Int64N, secrets: opts.ShowSecrets}
	if dc := a.Datacenter(); dc != "" {
		s.dc = dc
	}
	if s.dc == "" {
		s.dc = DefaultDatacenter
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.max <= 0 {
		s.max = DefaultMaxBodyBytes
	}
	return s
}

// Route is one route of the API, as Register mounts it.
type Route struct {
	// Pattern is its http.ServeMux pattern, method included.
	Pattern string
	// Agent is set on the routes served through the catalog.Agent (this
	// host's registrations and checks, /v1/agent/...); the others read
	// the catalog.Reader only.
	Agent bool
}

// route is a Route and the method of Server that answers it.
type route struct {
	Route
	serve func(*Server, http.ResponseWriter, *http.Request)
}

// routes is the API: every route Register mounts, in one table.
func routes() []route {
	checkMark := func(st v1.CheckStatus) func(*Server, http.ResponseWriter, *http.Request) {
		return func(s *Server, w http.ResponseWriter, r *http.Request) { s.checkMark(st)(w, r) }
	}
	return []route{
		// Agent.
		{Route{"GET /v1/agent/self", true}, (*Server).agentSelf},
		{Route{"GET /v1/agent/members", true}, (*Server).agentMembers},
		{Route{"GET /v1/agent/services", true}, (*Server).agentServices},
		{Route{"GET /v1/agent/service/{id}", true}, (*Server).agentService},
		{Route{"GET /v1/agent/checks", true}, (*Server).agentChecks},
		{Route{"PUT /v1/agent/service/register", true}, (*Server).serviceRegister},
		{Route{"PUT /v1/agent/service/deregister/{id}", true}, (*Server).serviceDeregister},
		{Route{"PUT /v1/agent/check/register", true}, (*Server).checkRegister},
		{Route{"PUT /v1/agent/check/deregister/{id...}", true}, (*Server).checkDeregister},
		{Route{"PUT /v1/agent/check/pass/{id...}", true}, checkMark(statusPassing)},
		{Route{"PUT /v1/agent/check/warn/{id...}", true}, checkMark(statusWarning)},
		{Route{"PUT /v1/agent/check/fail/{id...}", true}, checkMark(statusCritical)},
		{Route{"PUT /v1/agent/check/update/{id...}", true}, (*Server).checkUpdate},

		// Catalog.
		{Route{"GET /v1/catalog/datacenters", false}, (*Server).catalogDatacenters},
		{Route{"GET /v1/catalog/services", false}, (*Server).catalogServices},
		{Route{"GET /v1/catalog/service/{name}", false}, (*Server).catalogService},
		{Route{"GET /v1/catalog/nodes", false}, (*Server).catalogNodes},
		{Route{"GET /v1/catalog/node/{node}", false}, (*Server).catalogNode},

		// Health.
		{Route{"GET /v1/health/service/{name}", false}, (*Server).healthService},
		{Route{"GET /v1/health/checks/{name}", false}, (*Server).healthChecks},
		{Route{"GET /v1/health/node/{node}", false}, (*Server).healthNode},
		{Route{"GET /v1/health/state/{state}", false}, (*Server).healthState},
	}
}

// Routes lists the routes Register mounts, so that a mux can hold them
// before the Server exists (a controller answers 503 on them until its
// catalog has loaded). Any other path under /v1/ is for NotFound.
func Routes() []Route {
	rs := routes()
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = r.Route
	}
	return out
}

// Register mounts every route of the API on mux, and NotFound on the rest
// of /v1/. It panics, as http.ServeMux does, if a route is already taken.
func (s *Server) Register(mux *http.ServeMux) {
	for _, r := range routes() {
		mux.HandleFunc(r.Pattern, func(w http.ResponseWriter, req *http.Request) { r.serve(s, w, req) })
	}
	mux.HandleFunc("/v1/", NotFound)
}

// NotFound answers 404 "no such API: METHOD PATH", as the API does for a
// path under /v1/ that is none of its routes, or a method a route does not
// take.
func NotFound(w http.ResponseWriter, r *http.Request) {
	http.Error(w, fmt.Sprintf("no such API: %s %s", r.Method, r.URL.Path), http.StatusNotFound)
}

// query is what every read understands of its URL.
type query struct {
	index    int64         // ?index: block until the scope's index passes it
	wait     time.Duration // ?wait, with defaults and cap applied
	nodeMeta [][2]string   // ?node-meta=key:value, all must match
}

// parseQuery reads the query options common to every read. A bad value is
// an error whose text is the 400's reason.
func (s *Server) parseQuery(r *http.Request) (query, error) {
	var q query
	v := r.URL.Query()
	if dc := v.Get("dc"); dc != "" && dc != s.dc {
		return q, fmt.Errorf("no path to datacenter %q (this is %q)", dc, s.dc)
	}
	if idx := v.Get("index"); idx != "" {
		n, err := strconv.ParseUint(idx, 10, 63)
		if err != nil {
			return q, fmt.Errorf("invalid index %q", idx)
		}
		q.index = int64(n)
	}
	q.wait = defaultWait
	if wait := v.Get("wait"); wait != "" {
		d, err := time.ParseDuration(wait)
		if err != nil || d < 0 {
			return q, fmt.Errorf("invalid wait %q", wait)
		}
		q.wait = min(d, maxWait)
	}
	for _, kv := range v["node-meta"] {
		k, val, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			return q, fmt.Errorf("invalid node-meta %q: want key:value", kv)
		}
		q.nodeMeta = append(q.nodeMeta, [2]string{k, val})
	}
	return q, nil
}

// redact reports whether check definitions in the answer to r hide their
// secrets.
func (s *Server) redact(r *http.Request) bool {
	return s.secrets == nil || !s.secrets(r)
}

// matchNodeMeta reports whether n carries every ?node-meta pair.
func (q query) matchNodeMeta(n catalog.Node) bool {
	for _, kv := range q.nodeMeta {
		if v, ok := n.Meta[kv[0]]; !ok || v != kv[1] {
			return false
		}
	}
	return true
}

// boolParam reads a flag such as ?passing: absent is false, present with no
// value is true, otherwise strconv.ParseBool.
func boolParam(r *http.Request, name string) (bool, error) {
	vs, ok := r.URL.Query()[name]
	if !ok {
		return false, nil
	}
	if len(vs) == 0 || vs[0] == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(vs[0])
	if err != nil {
		return false, fmt.Errorf("invalid value %q for ?%s", vs[0], name)
	}
	return b, nil
}

// read answers a read: it parses the query options, blocks when asked to
// until the index of scope (a service name, or "" for the whole catalog)
// passes ?index or the wait ends, then writes what build returns with the
// X-Consul headers. build returns the body and its index; a build error is
// a 400.
func (s *Server) read(w http.ResponseWriter, r *http.Request, scope string, build func(q query) (any, int64, error)) {
	q, err := s.parseQuery(r)
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	if q.index > 0 {
		s.block(r.Context(), scope, q)
	}
	body, idx, err := build(q)
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	s.writeJSON(w, r, idx, body)
}

// block waits until the index of scope passes q.index, the wait (plus its
// jitter) ends, or the client goes away. An index ahead of the scope's
// current one answers at once: it is not from this catalog's timeline.
func (s *Server) block(ctx context.Context, scope string, q query) {
	if s.scopeIndex(scope) != q.index {
		return
	}
	wait := q.wait
	if j := int64(wait / 16); j > 0 {
		wait += time.Duration(s.rand(j))
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	s.r.Wait(ctx, scope, q.index)
}

// scopeIndex is the current index of scope, at least 1.
func (s *Server) scopeIndex(scope string) int64 {
	var idx int64
	if scope == "" {
		idx = s.r.Index()
	} else {
		_, idx = s.r.Endpoints(scope)
	}
	return max(idx, 1)
}

// writeJSON answers body with index; ?pretty indents it by four spaces
// and ends it with a newline, as Consul does.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, index int64, body any) {
	var b []byte
	var err error
	if _, pretty := r.URL.Query()["pretty"]; pretty {
		b, err = json.MarshalIndent(body, "", "    ")
		b = append(b, '\n')
	} else {
		b, err = json.Marshal(body)
	}
	if err != nil {
		s.log.Error("consulapi: encode answer", "path", r.URL.Path, "err", err)
		http.Error(w, "encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Consul-Index", strconv.FormatInt(max(index, 1), 10))
	h.Set("X-Consul-LastContact", "0")
	h.Set("X-Consul-KnownLeader", "true")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Debug("consulapi: bad request", "method", r.Method, "path", r.URL.Path, "err", err)
	http.Error(w, err.Error(), http.StatusBadRequest)
}

// readBody reads a request body of at most s.max bytes, which must arrive
// within bodyTimeout. It writes the 413 or 400 itself and returns ok false
// when the body cannot be had.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	// A client that sends its body slowly does not hold the request open
	// for ever (a recorder in tests has no deadlines: not supported).
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(bodyTimeout)) == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.log.Debug("consulapi: body too large", "method", r.Method, "path", r.URL.Path, "limit", s.max)
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", s.max), http.StatusRequestEntityTooLarge)
			return nil, false
		}
		s.badRequest(w, r, fmt.Errorf("read body: %w", err))
		return nil, false
	}
	return b, true
}

// written answers a write: 200 with an empty body, or the error: 403
// with the agent's reason for what its policy refuses, 500 otherwise.
func (s *Server) written(w http.ResponseWriter, r *http.Request, err error, attrs ...any) {
	var refused *catalog.RefusedError
	if errors.As(err, &refused) {
		s.log.Warn("consulapi: write refused", append([]any{"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", refused.Reason}, attrs...)...)
		http.Error(w, refused.Reason, http.StatusForbidden)
		return
	}
	if err != nil {
		s.log.Error("consulapi: write failed", append([]any{"method", r.Method, "path", r.URL.Path, "err", err}, attrs...)...)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Info("consulapi: write", append([]any{"method", r.Method, "path", r.URL.Path}, attrs...)...)
	w.WriteHeader(http.StatusOK)
}

// writeCtx is the context of a write through the Agent.
func writeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), writeTimeout)
}
