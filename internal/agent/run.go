package agent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/gc"
	"berth.dev/berth/controllers/gitsources"
	"berth.dev/berth/controllers/jobs"
	"berth.dev/berth/controllers/registrator"
	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/controllers/timers"
	unitsctl "berth.dev/berth/controllers/units"
	"berth.dev/berth/internal/catalog"
	catalogdns "berth.dev/berth/internal/catalog/dns"
	"berth.dev/berth/internal/events"
	"berth.dev/berth/internal/imagegc"
	"berth.dev/berth/internal/registryauth"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/ui"
)

// Run runs the controller until ctx ends; see the package documentation
// for what it starts and in which order it stops. It returns an error when
// it cannot start (bad configuration, a port in use, an embedded etcd that
// does not come up) or when a component fails; a lost etcd while running
// is retried, not returned.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	p, err := newProcess(cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	m := newManager(log)
	defer m.stop() // in shutdownOrder

	// Serving from the start: every route is mounted, those of the
	// components below answer 503 until they have started.
	m.add(p.api.component())
	var emb *embeddedEtcd
	if len(cfg.EtcdEndpoints) == 0 {
		emb = &embeddedEtcd{cfg: p.cfg, log: log, started: make(chan struct{})}
		m.add(emb.component())
	}
	client := &etcdClient{cfg: p.cfg, embedded: emb, ready: p.ready, bm: p.bm, log: log, started: make(chan struct{})}
	m.add(client.component())
	if err := m.start(ctx); err != nil || ctx.Err() != nil {
		return err
	}

	st := client.st
	election := st.NewElection("cluster", p.cfg.HostName, p.cfg.HeartbeatTTL)
	recorder := events.NewRecorder(st, p.cfg.HostName, log.With("component", "events"))
	m.add(component{name: "events", group: groupEtcd, run: returns(func(ctx context.Context) {
		<-ctx.Done()
		recorder.Close()
	})})
	host, err := p.hostComponents(st, recorder, election)
	if err != nil {
		return err
	}
	m.add(host...)
	m.add(p.leaderComponents(st, recorder)...)
	m.lead(election, p.m.setLeader)
	if err := m.start(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	return m.wait(ctx)
}

// hostComponents returns what this host runs, in start order: DNS (Run
// fails when it cannot bind), the catalog, the registrator, the container
// engine's watch, the units controller, the container DNS, the image
// collector, the dashboard, the collector of this host's own keys, the
// routes that wait for the catalog and the registrator, and last the
// heartbeat, which announces the host to the others.
func (p *process) hostComponents(st *store.Store, recorder *events.Recorder, election *store.Election) ([]component, error) {
	cfg, log := p.cfg, p.log
	cat := catalog.NewWatched(st)
	// One cache of Units and one of Jobs for the units controller and the
	// registrator: each change is received and decoded once on this host.
	shared := sharedCaches{
		units: store.NewObjectCache[*v1.Unit](st, store.CacheOptions{Log: log}),
		jobs:  store.NewObjectCache[*v1.Job](st, store.CacheOptions{Log: log}),
	}
	reg := registrator.New(registrator.Options{
		Units: shared.units, Jobs: shared.jobs,
		Visible: cat.WaitRevision,
		Store:   st, Runtime: p.rt, Host: cfg.HostName, Address: cfg.AdvertiseAddress,
		DataDir: cfg.DataDir, TTL: cfg.HeartbeatTTL, Resync: cfg.Resync, EnableScriptChecks: cfg.EnableScriptChecks,
		Metrics: p.loopMetrics, BerthMetrics: p.bm, Events: recorder, Log: log.With("controller", "registrator"),
	})
	reg.SetLeader(election.IsLeader)
	dns, err := p.dns(cat)
	if err != nil {
		return nil, err
	}
	containerDNS := newContainerDNS(cfg, p.rt, cat, p.api.srv, p.api.ln.Addr(), p.dnsMetrics, log.With("component", "container-dns"))
	eng := &engineWatch{rt: p.rt, log: log, ready: p.ready}
	units, images := p.units(st, recorder, reg, eng, containerDNS, shared)
	dash := ui.New(st, ui.Options{Host: cfg.HostName, Catalog: cat, MayWrite: p.auth.mayWrite, ShowSecrets: carriesToken,
		TokenRequired: p.token != nil, ReadsNeedToken: cfg.APIReads == APIReadsToken, Log: log.With("component", "ui")})
	p.api.dashboard.start(dash)
	p.api.srv.RegisterOnShutdown(dash.CloseStreams)
	api := p.api.consulRoutes(cat, reg, log)
	return []component{
		dns,
		{name: "catalog", group: groupHost, run: cat.Run},
		{name: "registrator", group: groupHost, run: reg.Run},
		{name: "engine", group: groupHost, run: returns(eng.run)},
		{name: "units", group: groupHost, run: units.Run},
		{name: "container dns", group: groupHost, run: returns(containerDNS.Run)},
		images,
		{name: "dashboard", group: groupHost, run: dash.Run},
		// This host's own statuses and history of objects deleted while it
		// was down; etcd's roles may let only this host remove them.
		{name: "own keys", group: groupHost, run: gc.NewHostCollector(st, cfg.HostName, gc.Options{Log: log.With("component", "gc")}).Run},
		{name: "routes", group: groupHost, run: returns(func(ctx context.Context) {
			p.api.startRoutes(ctx, api, p.ready, cat, reg, units)
		})},
		{name: "heartbeat", group: groupHost, run: returns(p.heartbeat(st, eng, func() int {
			n := units.RetryFailing()
			if reg.RetryFailing() {
				n++
			}
			return n
		}).Run)},
	}, nil
}

// sharedCaches are the caches several loops of the host watch; each loop
// runs them, and they list and watch once (store.Typed.Run).
type sharedCaches struct {
	units *store.Typed[*v1.Unit]
	jobs  *store.Typed[*v1.Job]
}

// dns returns the DNS server of --dns-listen, which has started once it
// has bound its port.
func (p *process) dns(cat catalog.Reader) (component, error) {
	cfg := p.cfg
	srv, err := catalogdns.New(cat, catalogdns.Config{
		Domain: cfg.DNSDomain, Listen: cfg.DNSListen, Recursors: cfg.DNSRecursors,
		RateLimit: cfg.DNSRateLimit, RateBurst: cfg.DNSRateBurst,
		Log: p.log.With("component", "dns"), Metrics: p.dnsMetrics,
	})
	if err != nil {
		return component{}, fmt.Errorf("--dns-listen/--dns-domain: %w", err)
	}
	return component{name: "dns", group: groupHost, started: srv.Ready(), run: func(ctx context.Context) error {
		if err := srv.Start(ctx); err != nil {
			return fmt.Errorf("--dns-listen: %w", err)
		}
		return nil
	}}, nil
}

// units returns the units controller and the image collector, which
// removes the images it pulled once they are out of use.
func (p *process) units(st *store.Store, recorder *events.Recorder, reg *registrator.Registrator, eng *engineWatch,
	containerDNS *containerDNS, shared sharedCaches) (*unitsctl.Controller, component) {
	cfg, log := p.cfg, p.log
	images, err := imagegc.Open(filepath.Join(cfg.DataDir, "images.json"))
	if err != nil {
		log.Warn("images pulled before are not known: none of them will be removed", "err", err)
	}
	registryConfig := cfg.RegistryConfig
	if !cfg.RegistryConfigSet {
		registryConfig = registryauth.DefaultPath()
	}
	units := unitsctl.New(unitsctl.Options{
		Store: st, Runtime: p.rt, Host: cfg.HostName, Labels: cfg.HostLabels, Events: recorder,
		Metrics: p.loopMetrics, BerthMetrics: p.bm, Log: log.With("controller", "unit"), Resync: cfg.Resync,
		Units: shared.units, Jobs: shared.jobs,
		OnEngine: eng.report,
		Drain:    reg.Drain,
		Policy:   cfg.Policy,
		Resolver: containerDNS.resolver(),
		Registry: unitsctl.Registry{Config: registryConfig, ConfigRequired: cfg.RegistryConfigSet, PullTimeout: cfg.ImagePullTimeout},
		Pulled: func(ref, id string) {
			if err := images.Pulled(ref, id, time.Now()); err != nil {
				log.Warn("record pulled image", "image", ref, "err", err)
			}
		},
	})
	imageGC := imagegc.New(imagegc.Options{Runtime: p.rt, Record: images, After: cfg.ImageGCAfter, InUse: units.ImagesInUse,
		Registerer: p.dnsMetrics, Log: log.With("component", "imagegc")})
	return units, component{name: "images", group: groupHost, run: func(ctx context.Context) error {
		if cfg.ImageGCAfter <= 0 { // --image-gc-after 0: never
			<-ctx.Done()
			return nil
		}
		return imageGC.Run(ctx)
	}}
}

// leaderComponents returns the cluster-wide loops, which run while this
// host leads: the scheduler, the Jobs, the Timers, the GitSources and the
// garbage collector.
func (p *process) leaderComponents(st *store.Store, recorder *events.Recorder) []component {
	cfg, log := p.cfg, p.log
	sched := scheduler.New(st, scheduler.Options{
		Log: log.With("controller", "scheduler"), Metrics: p.loopMetrics, Resync: cfg.Resync,
		RescheduleAfter: cfg.RescheduleAfter, Events: recorder,
	})
	jobsCtl := jobs.New(st, jobs.Options{Log: log.With("controller", "job"), Metrics: p.loopMetrics, Resync: cfg.Resync, Events: recorder})
	timersCtl := timers.New(st, timers.Options{Log: log.With("controller", "timer"), Metrics: p.loopMetrics,
		Events: recorder, Runs: p.timerMetrics, Resync: cfg.Resync})
	gitCtl := gitsources.New(st, gitsources.Options{
		CacheDir: filepath.Join(cfg.DataDir, "gitsync"), Log: log.With("controller", "gitsource"), Metrics: p.loopMetrics,
		CredentialsFile: cfg.GitCredentialsFile, Events: recorder,
	})
	collector := gc.New(st, gc.Options{HostGCAfter: cfg.HostGCAfter, Log: log.With("component", "gc")})
	return []component{
		{name: "scheduler", group: groupLeader, run: sched.Run},
		{name: "jobs", group: groupLeader, run: jobsCtl.Run},
		{name: "timers", group: groupLeader, run: timersCtl.Run},
		{name: "gitsources", group: groupLeader, run: gitCtl.Run},
		{name: "gc", group: groupLeader, run: collector.Run},
	}
}
