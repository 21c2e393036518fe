package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"berth.dev/berth/controllers/registrator"
	unitsctl "berth.dev/berth/controllers/units"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
	"berth.dev/berth/internal/catalog/promsd"
	"berth.dev/berth/internal/ui"
)

// apiServer is the HTTP API on --listen. Every route is on its mux before
// it serves: those of the catalog and the agent, and the dashboard, whose
// components start once etcd answers, answer 503 with Retry-After until
// then (lateHandler), never 404; /readyz waits for them.
type apiServer struct {
	srv    *http.Server
	ln     net.Listener
	scheme string // "http" or "https"
	log    *slog.Logger

	catalog   *lateHandler // the catalog's routes and the Prometheus targets
	agent     *lateHandler // the agent's routes
	dashboard *lateHandler
}

// errAPIStarting is /readyz's api check until the catalog's and the
// agent's routes serve.
var errAPIStarting = errors.New("the catalog and agent routes answer 503 until the catalog and this host's registrations have loaded")

// maxHeaderBytes bounds the headers of an HTTP API request.
const maxHeaderBytes = 64 << 10

// newAPIServer binds --listen and mounts every route of p's API.
func newAPIServer(p *process) (*apiServer, error) {
	cfg := p.cfg
	tlsConfig, err := cfg.apiTLSConfig()
	if err != nil {
		return nil, err
	}
	a := &apiServer{
		scheme:    "http",
		log:       p.log,
		catalog:   newLateHandler("the service catalog is loading"),
		agent:     newLateHandler("this host's registrations are loading"),
		dashboard: newLateHandler("the dashboard starts once etcd answers"),
	}
	if tlsConfig != nil {
		a.scheme = "https"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /readyz", p.ready.handler(p.auth.mayRead))
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.m.registry, promhttp.HandlerOpts{Registry: p.m.registry}))
	mux.Handle("GET /v1/logs/{kind}/{name}", LogsHandler(p.rt, cfg.HostName))
	for _, route := range consulapi.Routes() {
		if route.Agent {
			mux.Handle(route.Pattern, a.agent)
		} else {
			mux.Handle(route.Pattern, a.catalog)
		}
	}
	mux.Handle("GET "+promsd.Path, a.catalog)
	mux.Handle(ui.Path, a.dashboard)
	mux.Handle("/ui", a.dashboard)
	mux.HandleFunc("/v1/", consulapi.NotFound)
	a.srv = &http.Server{
		Handler:           p.auth.Handler(mux),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		// What the server says of a client's mistakes (a failed TLS
		// handshake) is for debugging: anyone can provoke it.
		ErrorLog: slog.NewLogLogger(p.log.With("component", "http").Handler(), slog.LevelDebug),
	}
	if a.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	p.log.Info("serving HTTP", "listen", a.ln.Addr().String(), "scheme", a.scheme,
		"token", cfg.APITokenFile != "", "reads", cmp.Or(cfg.APIReads, APIReadsOpen))
	return a, nil
}

// component serves until ctx ends, then stops accepting requests and
// lets those under way finish, for 5s at most.
func (a *apiServer) component() component {
	return component{name: "http", group: groupAPI, run: func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() {
			if a.scheme == "https" {
				served <- a.srv.ServeTLS(a.ln, "", "")
			} else {
				served <- a.srv.Serve(a.ln)
			}
		}()
		select {
		case err := <-served:
			return fmt.Errorf("HTTP server: %w", err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = a.srv.Shutdown(sctx)
		<-served
		return nil
	}}
}

// consulRoutes returns the handler of the catalog's and the agent's
// routes and the Prometheus targets, which startRoutes puts behind them.
func (a *apiServer) consulRoutes(cat *catalog.Watched, reg *registrator.Registrator, log *slog.Logger) http.Handler {
	api := http.NewServeMux()
	consulapi.New(cat, reg, consulapi.Options{Log: log.With("component", "consulapi"), ShowSecrets: carriesToken}).Register(api)
	promsd.Register(api, cat)
	return api
}

// startRoutes hands the catalog's routes to api once the catalog has
// listed, and the agent's once the registrator has built this host's
// endpoints; /readyz's api check passes then, and its caches check once
// the catalog, the registrator and the units controller have listed.
func (a *apiServer) startRoutes(ctx context.Context, api http.Handler, ready *readiness,
	cat *catalog.Watched, reg *registrator.Registrator, units *unitsctl.Controller) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	apiUp, cachesUp := false, false
	for !apiUp || !cachesUp {
		if !apiUp && cat.Synced() {
			a.catalog.start(api)
			if reg.Built() {
				a.agent.start(api)
				ready.set("api", nil)
				apiUp = true
			}
		}
		if !cachesUp && units.Synced() && cat.Synced() && reg.Synced() {
			ready.set("caches", nil)
			cachesUp = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
