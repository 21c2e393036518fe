package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/version"
)

// Path is where the dashboard is served: every route is under it.
const Path = "/ui/"

// staticPath holds the page's scripts and style sheets.
const staticPath = Path + "static/"

//go:embed assets
var assets embed.FS

// IsAsset reports whether path is one of the dashboard's files (the page,
// its scripts and styles): the same bytes in every berth binary, holding
// no data, which the API serves to everyone so that the page can ask for
// the token its data needs.
func IsAsset(path string) bool {
	return path == "/ui" || path == Path || strings.HasPrefix(path, staticPath)
}

// Options configure a Server.
type Options struct {
	// Host is this controller's host name.
	Host string
	// Catalog is the service catalog the services page shows (nil: none).
	Catalog catalog.Reader
	// MayWrite reports whether a request may write through the HTTP API,
	// by the API's rules (the token, or loopback without one): actions are
	// offered to those only. nil: never.
	MayWrite func(*http.Request) bool
	// ShowSecrets reports whether a request carries the API token: only
	// then does an object's detail show its environment values and check
	// headers. nil: never.
	ShowSecrets func(*http.Request) bool
	// TokenRequired says the API has a token (--api-token-file): writes
	// need it from everyone. Without one, actions are served only to
	// requests whose Host is an address or localhost (no DNS rebinding).
	TokenRequired bool
	// ReadsNeedToken says reads need the token too (--api-reads token).
	ReadsNeedToken bool
	Log            *slog.Logger
}

// Server is the dashboard: an http.Handler of every route under Path, and
// the hub that keeps its view of the cluster while browsers look. Access
// control (tokens, loopback) is the API's, applied before it. It is safe
// for concurrent use.
type Server struct {
	st   *store.Store
	opts Options
	hub  *hub
	mux  *http.ServeMux
	now  func() time.Time

	mu       sync.Mutex
	writable *writeProbe // whether this controller's etcd user may write objects
}

// writeProbe is the last answer of store.MayWrite.
type writeProbe struct {
	at  time.Time
	ok  bool
	err error
}

// writeProbeTTL is how long an answer of store.MayWrite is kept: roles
// change rarely.
const writeProbeTTL = 30 * time.Second

// actionTimeout bounds the store calls of one action.
const actionTimeout = 15 * time.Second

// New returns the dashboard of the cluster in st; call Run.
func New(st *store.Store, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{st: st, opts: opts, hub: newHub(st, opts.Catalog, opts.Host, opts.Log), mux: http.NewServeMux(), now: time.Now}
	static, _ := fs.Sub(assets, "assets") // a directory embedded above
	files := http.StripPrefix(staticPath, http.FileServerFS(static))
	s.mux.Handle("GET /ui", http.RedirectHandler(Path, http.StatusMovedPermanently))
	s.mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	s.mux.Handle("GET "+staticPath, files)
	s.mux.HandleFunc("GET /ui/api/session", s.session)
	s.mux.HandleFunc("GET /ui/api/stream", s.stream)
	s.mux.HandleFunc("GET /ui/api/object/{kind}/{name}", s.detail)
	s.mux.HandleFunc("POST /ui/api/unit/{name}/{verb}", s.unitAction)
	s.mux.HandleFunc("POST /ui/api/job/{name}/{verb}", s.jobAction)
	s.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, http.StatusNotFound, "no such page of the dashboard: "+r.URL.Path)
	})
	return s
}

// Run keeps the dashboard's hub until ctx ends: streams and details are
// served while it runs.
func (s *Server) Run(ctx context.Context) error {
	s.hub.run(ctx)
	return nil
}

// CloseStreams ends the pages' streams and refuses new ones: call it when
// the HTTP server shuts down (http.Server.RegisterOnShutdown), which
// otherwise waits for them.
func (s *Server) CloseStreams() { s.hub.closeStreams() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Nothing of the page comes from elsewhere, and no one frames it.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !IsAsset(r.URL.Path) {
		h.Set("Cache-Control", "no-store")
	}
	s.mux.ServeHTTP(w, r)
}

// sessionDoc is what the page learns of itself before anything else.
type sessionDoc struct {
	Host           string `json:"host"`
	Version        string `json:"version"`
	TokenRequired  bool   `json:"tokenRequired"`
	ReadsNeedToken bool   `json:"readsNeedToken"`
	Token          bool   `json:"token"`    // the request carried the API token
	MayWrite       bool   `json:"mayWrite"` // the API would take a write of this request
	// StoreWritable says this controller's etcd user may write objects:
	// actions are offered only then (and when MayWrite).
	StoreWritable bool   `json:"storeWritable"`
	StoreWhy      string `json:"storeWhy,omitempty"`
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	ok, err := s.storeWritable(r.Context())
	doc := sessionDoc{
		Host: s.opts.Host, Version: version.Version, TokenRequired: s.opts.TokenRequired, ReadsNeedToken: s.opts.ReadsNeedToken,
		Token: s.opts.ShowSecrets != nil && s.opts.ShowSecrets(r), MayWrite: s.mayWrite(r), StoreWritable: ok,
	}
	switch {
	case err != nil:
		doc.StoreWhy = "etcd did not answer whether this controller may write objects: " + err.Error()
	case !ok:
		doc.StoreWhy = "this controller's etcd user may not write objects (etcd's roles): use applyctl as an operator"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) mayWrite(r *http.Request) bool {
	if s.opts.MayWrite == nil || !s.opts.MayWrite(r) {
		return false
	}
	return s.opts.TokenRequired || addressHost(r.Host)
}

// storeWritable asks etcd, at most every writeProbeTTL, whether this
// controller's user may write objects.
func (s *Server) storeWritable(ctx context.Context) (bool, error) {
	s.mu.Lock()
	p := s.writable
	s.mu.Unlock()
	if p != nil && s.now().Sub(p.at) < writeProbeTTL {
		return p.ok, p.err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := s.st.MayWrite(ctx, store.ObjectKey(v1.KindUnit, "dashboard-write-probe"))
	s.mu.Lock()
	s.writable = &writeProbe{at: s.now(), ok: ok, err: err}
	s.mu.Unlock()
	return ok, err
}

// keepAlive is how often an idle stream sends a comment, so that proxies
// keep it and a gone browser is noticed.
const keepAlive = 15 * time.Second

// stream serves the page's live view as server-sent events: a snapshot,
// then a message per flush of the hub, each one "data:" line of JSON.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		jsonError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	if !s.hub.acquire() {
		jsonError(w, http.StatusServiceUnavailable, "the dashboard is stopping")
		return
	}
	defer s.hub.release()
	ctx := r.Context()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	synced := s.hub.synced(wctx)
	cancel()
	if !synced {
		jsonError(w, http.StatusServiceUnavailable, "the dashboard could not read etcd in time; retry")
		return
	}
	sub, snap := s.hub.subscribe()
	if sub == nil {
		jsonError(w, http.StatusServiceUnavailable, "the dashboard is stopping")
		return
	}
	defer s.hub.unsubscribe(sub)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if writeEvent(w, snap) != nil {
		return
	}
	fl.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, open := <-sub.ch:
			if !open {
				return // dropped: the page reconnects
			}
			if writeEvent(w, msg) != nil {
				return
			}
		case <-tick.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
		}
		fl.Flush()
	}
}

// writeEvent writes one server-sent event of msg, which holds no newline
// (encoding/json escapes them in strings).
func writeEvent(w http.ResponseWriter, msg []byte) error {
	if _, err := w.Write([]byte("data: ")); err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	_, err := w.Write([]byte("\n\n"))
	return err
}

// detailDoc is an object's page: its row, the object as stored (with its
// status), as YAML too, and its events, newest first.
type detailDoc struct {
	Kind   string     `json:"kind"`
	Name   string     `json:"name"`
	Row    any        `json:"row"`
	Object any        `json:"object,omitempty"`
	YAML   string     `json:"yaml,omitempty"`
	Events []eventRow `json:"events"`
	// Redacted says values were hidden: the request did not carry the
	// API token.
	Redacted bool `json:"redacted,omitempty"`
}

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	kind, name := r.PathValue("kind"), r.PathValue("name")
	switch kind {
	case rowUnit, rowJob, rowHost, rowService, rowGitSource:
	default:
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("unknown kind %q: use unit, job, host, service or gitsource", kind))
		return
	}
	if !s.hub.acquire() {
		jsonError(w, http.StatusServiceUnavailable, "the dashboard is stopping")
		return
	}
	defer s.hub.release()
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if !s.hub.synced(ctx) {
		jsonError(w, http.StatusServiceUnavailable, "the dashboard could not read etcd in time; retry")
		return
	}
	secrets := s.opts.ShowSecrets != nil && s.opts.ShowSecrets(r)
	doc := detailDoc{Kind: kind, Name: name, Events: []eventRow{}, Redacted: !secrets}
	s.hub.read(func(m *model) {
		if kind == rowService {
			doc.Row = m.serviceRow(name, s.opts.Catalog)
		} else {
			doc.Row = m.row(rowID{kind, name})
		}
		doc.Object = m.object(kind, name, secrets)
		doc.Events = m.eventsOf(kind, name)
	})
	if doc.Row == nil {
		jsonError(w, http.StatusNotFound, fmt.Sprintf("%s %q not found", kind, name))
		return
	}
	if doc.Object != nil {
		if b, err := json.Marshal(doc.Object); err == nil {
			if y, err := yaml.JSONToYAML(b); err == nil {
				doc.YAML = string(y)
			}
		}
	}
	writeJSON(w, http.StatusOK, doc)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "encode: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// jsonError answers {"error": msg}.
func jsonError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// addressHost reports whether a request's Host is an IP address or
// localhost: a page reached under another name (one an attacker's DNS
// can point at this host) gets no actions without the token.
func addressHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return net.ParseIP(host) != nil || strings.EqualFold(host, "localhost")
}

// sameOrigin refuses a write that a page of another origin could have
// sent: it must be JSON (a form cannot send that without asking first),
// and what the browser says of its origin must be this one.
func sameOrigin(r *http.Request) error {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), "application/json") {
		return errors.New("an action is a JSON request (Content-Type: application/json)")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("an action must come from the dashboard's own page, not from a %s page", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("an action must come from the dashboard's own page, not from %s", o)
		}
	}
	return nil
}
