package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"berth.dev/berth/controllers/gc"
	"berth.dev/berth/controllers/gitsources"
	"berth.dev/berth/controllers/hosts"
	"berth.dev/berth/controllers/jobs"
	"berth.dev/berth/controllers/registrator"
	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/controllers/timers"
	unitsctl "berth.dev/berth/controllers/units"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/catalog/consulapi"
	catalogdns "berth.dev/berth/internal/catalog/dns"
	"berth.dev/berth/internal/catalog/promsd"
	"berth.dev/berth/internal/events"
	berthmetrics "berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime/docker"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/ui"
)

// Run runs the controller until ctx ends; see the package documentation
// for what it starts and in which order it stops. It returns an error when
// it cannot start (bad configuration, a port in use, an embedded etcd that
// does not come up); a lost etcd while running is retried, not returned.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.AdvertiseAddress == "" {
		cfg.AdvertiseAddress = hosts.DefaultAdvertiseAddress()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := makeDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	ready := newReadiness("etcd", "docker", "caches", "api")
	ready.set("api", errAPIStarting)
	m := newMetrics()
	var loopMetrics *reconcile.Metrics // nil (no metrics) under DisableMetrics
	var bm *berthmetrics.Metrics
	var dnsMetrics prometheus.Registerer
	var timerMetrics *berthmetrics.TimerMetrics
	if !cfg.DisableMetrics {
		loopMetrics, bm, dnsMetrics = reconcile.NewMetrics(m.registry), berthmetrics.New(m.registry), m.registry
		timerMetrics = berthmetrics.NewTimers(m.registry)
	}

	rt := cfg.Runtime
	if rt == nil {
		d, err := docker.New(cfg.DockerHost)
		if err != nil {
			return fmt.Errorf("--docker-host: %w", err)
		}
		defer d.Close()
		rt = d
	}
	rt = bm.Runtime(rt)

	tlsConfig, err := cfg.apiTLSConfig()
	if err != nil {
		return err
	}
	var token []byte
	if cfg.APITokenFile != "" {
		if token, err = readToken(cfg.APITokenFile); err != nil {
			return err
		}
	}
	auth := newAPIAuth(token, cfg.APIReads == APIReadsToken, m.registry, log.With("component", "api"))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /readyz", ready.handler(auth.mayRead))
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry}))
	mux.Handle("GET /v1/logs/{kind}/{name}", LogsHandler(rt, cfg.HostName))
	// Every route is on the mux before the listener serves. Those of the
	// catalog and the agent, which start once etcd answers, answer 503
	// with Retry-After until then, never 404; /readyz waits for them.
	catalogRoutes := newLateHandler("the service catalog is loading")
	agentRoutes := newLateHandler("this host's registrations are loading")
	for _, route := range consulapi.Routes() {
		if route.Agent {
			mux.Handle(route.Pattern, agentRoutes)
		} else {
			mux.Handle(route.Pattern, catalogRoutes)
		}
	}
	mux.Handle("GET "+promsd.Path, catalogRoutes)
	dashboard := newLateHandler("the dashboard starts once etcd answers")
	mux.Handle(ui.Path, dashboard)
	mux.Handle("/ui", dashboard)
	mux.HandleFunc("/v1/", consulapi.NotFound)
	srv := &http.Server{
		Handler:           auth.Handler(mux),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		// What the server says of a client's mistakes (a failed TLS
		// handshake) is for debugging: anyone can provoke it.
		ErrorLog: slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	var httpOnce sync.Once
	stopHTTP := func() {
		httpOnce.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			<-served
		})
	}
	defer stopHTTP()
	log.Info("serving HTTP", "listen", ln.Addr().String(), "scheme", scheme,
		"token", cfg.APITokenFile != "", "reads", cmp.Or(cfg.APIReads, APIReadsOpen))
	if cfg.EnableScriptChecks && token == nil {
		// As Consul warns of enable_script_checks without ACLs.
		log.Warn("--enable-script-checks without --api-token-file: every local user and host-network container may run commands in this host's berth containers")
	}

	endpoints := cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		etls, err := cfg.embedTLS()
		if err != nil {
			return err
		}
		emb, err := store.StartEmbedded(ctx, store.EmbedConfig{
			DataDir:      filepath.Join(cfg.DataDir, "etcd"),
			ListenClient: cfg.EtcdListenClient,
			ListenPeer:   cfg.EtcdListenPeer,
			TLS:          etls,
			Logger:       log,
		})
		if err != nil {
			return fmt.Errorf("embedded etcd: %w", err)
		}
		defer func() {
			if err := emb.Close(); err != nil {
				log.Warn("stop embedded etcd", "err", err)
			}
			log.Info("embedded etcd stopped")
		}()
		endpoints = emb.Endpoints()
		log.Info("embedded etcd started", "data-dir", filepath.Join(cfg.DataDir, "etcd"), "client-urls", endpoints)
	}

	st, err := connect(ctx, cfg, endpoints, ready, bm, log)
	if err != nil {
		return err
	}
	defer func() {
		_ = st.Close()
		log.Info("etcd client closed")
	}()

	eng := &engineWatch{rt: rt, log: log, ready: ready}
	reservedCPUs, _ := cfg.ReservedCPUs.Value() // Validate checked them
	reservedMemory, _ := cfg.ReservedMemory.Bytes()
	hb := &hosts.Heartbeat{
		Store: st, Name: cfg.HostName, Labels: cfg.HostLabels, TTL: cfg.HeartbeatTTL,
		ReservedCPUs: reservedCPUs, ReservedMemory: reservedMemory,
		AdvertiseAddress: cfg.AdvertiseAddress, HTTPAddress: cfg.Listen, HTTPScheme: scheme, DNSAddress: cfg.DNSListen,
		Log:   log,
		Extra: eng.fill,
		OnBeat: func(err error) {
			ready.set("etcd", err)
			if err != nil {
				m.heartbeatFailures.Inc()
				m.etcdUp.Set(0)
			} else {
				m.heartbeats.Inc()
				m.etcdUp.Set(1)
			}
		},
	}
	recorder := events.NewRecorder(st, cfg.HostName, log.With("component", "events"))
	defer recorder.Close()
	cat := catalog.NewWatched(st)
	reg := registrator.New(registrator.Options{
		Visible: cat.WaitRevision,
		Store:   st, Runtime: rt, Host: cfg.HostName, Address: cfg.AdvertiseAddress,
		DataDir: cfg.DataDir, TTL: cfg.HeartbeatTTL, Resync: cfg.Resync, EnableScriptChecks: cfg.EnableScriptChecks,
		Metrics: loopMetrics, BerthMetrics: bm, Events: recorder, Log: log.With("controller", "registrator"),
	})
	api := http.NewServeMux() // behind catalogRoutes and agentRoutes
	consulapi.New(cat, reg, consulapi.Options{Log: log.With("component", "consulapi"), ShowSecrets: carriesToken}).Register(api)
	promsd.Register(api, cat)
	dnsSrv, err := catalogdns.New(cat, catalogdns.Config{
		Domain: cfg.DNSDomain, Listen: cfg.DNSListen, Recursors: cfg.DNSRecursors,
		RateLimit: cfg.DNSRateLimit, RateBurst: cfg.DNSRateBurst,
		Log: log.With("component", "dns"), Metrics: dnsMetrics,
	})
	if err != nil {
		return fmt.Errorf("--dns-listen/--dns-domain: %w", err)
	}
	dnsDone := make(chan error, 1)
	go func() { dnsDone <- dnsSrv.Start(ctx) }()
	select {
	case <-dnsSrv.Ready():
		log.Info("serving DNS", "listen", cfg.DNSListen, "domain", cfg.DNSDomain)
	case err := <-dnsDone:
		return fmt.Errorf("--dns-listen: %w", err)
	}
	defer func() { cancel(); <-dnsDone }()
	containerDNS := newContainerDNS(cfg, rt, cat, srv, ln.Addr(), dnsMetrics, log.With("component", "container-dns"))
	units := unitsctl.New(unitsctl.Options{
		Store: st, Runtime: rt, Host: cfg.HostName, Labels: cfg.HostLabels, Events: recorder,
		Metrics: loopMetrics, BerthMetrics: bm, Log: log.With("controller", "unit"), Resync: cfg.Resync,
		OnEngine: eng.report,
		Drain:    reg.Drain,
		Policy:   cfg.Policy,
		Resolver: containerDNS.resolver(),
	})
	sched := scheduler.New(st, scheduler.Options{
		Log: log.With("controller", "scheduler"), Metrics: loopMetrics, Resync: cfg.Resync,
		RescheduleAfter: cfg.RescheduleAfter, Events: recorder,
	})
	collector := gc.New(st, gc.Options{HostGCAfter: cfg.HostGCAfter, Log: log.With("component", "gc")})
	// This host's own statuses and history of objects deleted while it
	// was down; etcd's roles may let only this host remove them.
	ownGC := gc.NewHostCollector(st, cfg.HostName, gc.Options{Log: log.With("component", "gc")})
	jobsCtl := jobs.New(st, jobs.Options{Log: log.With("controller", "job"), Metrics: loopMetrics, Resync: cfg.Resync, Events: recorder})
	gitCtl := gitsources.New(st, gitsources.Options{
		CacheDir: filepath.Join(cfg.DataDir, "gitsync"), Log: log.With("controller", "gitsource"), Metrics: loopMetrics,
		CredentialsFile: cfg.GitCredentialsFile, Events: recorder,
	})
	dash := ui.New(st, ui.Options{Host: cfg.HostName, Catalog: cat, MayWrite: auth.mayWrite, ShowSecrets: carriesToken,
		TokenRequired: token != nil, ReadsNeedToken: cfg.APIReads == APIReadsToken, Log: log.With("component", "ui")})
	dashboard.start(dash)
	srv.RegisterOnShutdown(dash.CloseStreams)
	timersCtl := timers.New(st, timers.Options{Log: log.With("controller", "timer"), Metrics: loopMetrics,
		Events: recorder, Runs: timerMetrics, Resync: cfg.Resync})
	election := st.NewElection("cluster", cfg.HostName, cfg.HeartbeatTTL)
	reg.SetLeader(election.IsLeader)
	var wg sync.WaitGroup
	wg.Add(8)
	go func() {
		defer wg.Done()
		_ = dash.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		_ = ownGC.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		_ = cat.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		_ = reg.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		// The cluster-wide loops run on one controller at a time.
		err := election.Run(ctx, func(lctx context.Context) {
			m.leader.Set(1)
			defer m.leader.Set(0)
			log.Info("leading the cluster-wide loops")
			var lwg sync.WaitGroup
			lwg.Add(4)
			go func() {
				defer lwg.Done()
				if err := jobsCtl.Run(lctx); err != nil {
					log.Error("jobs loop stopped", "err", err)
				}
			}()
			go func() {
				defer lwg.Done()
				if err := timersCtl.Run(lctx); err != nil {
					log.Error("timers loop stopped", "err", err)
				}
			}()
			go func() {
				defer lwg.Done()
				if err := gitCtl.Run(lctx); err != nil {
					log.Error("gitsource loop stopped", "err", err)
				}
			}()
			go func() {
				defer lwg.Done()
				_ = collector.Run(lctx)
			}()
			if err := sched.Run(lctx); err != nil {
				log.Error("scheduler stopped", "err", err)
			}
			lwg.Wait()
			log.Info("no longer leading")
		})
		if err != nil && ctx.Err() == nil {
			log.Error("leader election stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		eng.run(ctx)
	}()
	go func() {
		defer wg.Done()
		_ = units.Run(ctx)
	}()
	wg.Go(func() { containerDNS.Run(ctx) })
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		apiUp, cachesUp := false, false
		for !apiUp || !cachesUp {
			if !apiUp && cat.Synced() {
				catalogRoutes.start(api)
				if reg.Built() {
					agentRoutes.start(api)
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
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		hb.Run(ctx)
	}()

	select {
	case <-ctx.Done():
	case err := <-served:
		served <- err
		log.Error("HTTP server stopped", "err", err)
		cancel()
	}
	// Shutdown order: stop accepting requests, let the reconcilers finish
	// what they are doing, revoke the lease, then close etcd (deferred).
	log.Info("shutting down")
	stopHTTP()
	cancel()
	wg.Wait()
	<-done
	return nil
}

// errAPIStarting is /readyz's api check until the catalog's and the
// agent's routes serve.
var errAPIStarting = errors.New("the catalog and agent routes answer 503 until the catalog and this host's registrations have loaded")

// maxHeaderBytes bounds the headers of an HTTP API request.
const maxHeaderBytes = 64 << 10

// connect dials etcd, retrying with backoff until it answers or ctx ends;
// meanwhile /readyz says why it is not ready.
func connect(ctx context.Context, cfg Config, endpoints []string, ready *readiness, bm *berthmetrics.Metrics, log *slog.Logger) (*store.Store, error) {
	var observe func(string, time.Duration, error)
	if bm != nil {
		observe = bm.EtcdRequest
	}
	backoff := 500 * time.Millisecond
	for {
		st, err := store.New(ctx, store.Config{
			Endpoints: endpoints,
			CACert:    cfg.EtcdCACert, Cert: cfg.EtcdCert, Key: cfg.EtcdKey,
			Username: cfg.EtcdUser, Password: cfg.EtcdPassword,
			Observe: observe,
		})
		if err == nil {
			return st, nil
		}
		ready.set("etcd", err)
		if !errors.Is(err, store.ErrUnavailable) {
			// A wrong certificate or password will not fix itself.
			return nil, err
		}
		log.Warn("etcd unreachable; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
