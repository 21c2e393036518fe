package agent

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"berth.dev/berth/controllers/hosts"
	berthmetrics "berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/docker"
	"berth.dev/berth/internal/store"
)

// process is what the components of a controller share: its
// configuration, readiness, metrics, container engine, access control
// and HTTP server. Making one starts nothing.
type process struct {
	cfg   Config
	log   *slog.Logger
	ready *readiness
	m     *metrics
	// The metrics of the loops, of berth, of DNS and of Timer runs: nil
	// (none) under DisableMetrics.
	loopMetrics  *reconcile.Metrics
	bm           *berthmetrics.Metrics
	dnsMetrics   prometheus.Registerer
	timerMetrics *berthmetrics.TimerMetrics

	rt     runtime.Runtime
	closer func() // of the Docker client, when Run made it
	token  []byte // of --api-token-file; nil without
	auth   *apiAuth
	api    *apiServer
}

// newProcess checks cfg, makes the data directory, and builds what the
// components share; the listener is bound, so that a port in use is an
// error of Run. Call close when done.
func newProcess(cfg Config, log *slog.Logger) (*process, error) {
	if cfg.AdvertiseAddress == "" {
		cfg.AdvertiseAddress = hosts.DefaultAdvertiseAddress()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := makeDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	p := &process{cfg: cfg, log: log, ready: newReadiness("etcd", "docker", "caches", "api"), m: newMetrics(), closer: func() {}}
	p.ready.set("api", errAPIStarting)
	if !cfg.DisableMetrics {
		p.loopMetrics, p.bm, p.dnsMetrics = reconcile.NewMetrics(p.m.registry), berthmetrics.New(p.m.registry), p.m.registry
		p.timerMetrics = berthmetrics.NewTimers(p.m.registry)
	}
	p.rt = cfg.Runtime
	if p.rt == nil {
		d, err := docker.New(cfg.DockerHost)
		if err != nil {
			return nil, fmt.Errorf("--docker-host: %w", err)
		}
		p.rt, p.closer = d, func() { d.Close() }
	}
	p.rt = p.bm.Runtime(p.rt)
	if cfg.APITokenFile != "" {
		var err error
		if p.token, err = readToken(cfg.APITokenFile); err != nil {
			p.close()
			return nil, err
		}
	}
	p.auth = newAPIAuth(p.token, cfg.APIReads == APIReadsToken, p.m.registry, log.With("component", "api"))
	var err error
	if p.api, err = newAPIServer(p); err != nil {
		p.close()
		return nil, err
	}
	if cfg.EnableScriptChecks && p.token == nil {
		// As Consul warns of enable_script_checks without ACLs.
		log.Warn("--enable-script-checks without --api-token-file: every local user and host-network container may run commands in this host's berth containers")
	}
	return p, nil
}

// close releases what newProcess opened and no component closes.
func (p *process) close() { p.closer() }

// heartbeat returns the Host record's writer, which also reports to
// /readyz and the metrics whether etcd answers, and calls retryFailing
// when a beat goes through after etcd was away.
func (p *process) heartbeat(st *store.Store, eng *engineWatch, retryFailing func() int) *hosts.Heartbeat {
	cfg := p.cfg
	reservedCPUs, _ := cfg.ReservedCPUs.Value() // Validate checked them
	reservedMemory, _ := cfg.ReservedMemory.Bytes()
	etcdLost := false // OnBeat is called by the heartbeat's goroutine only
	return &hosts.Heartbeat{
		Store: st, Name: cfg.HostName, Labels: cfg.HostLabels, TTL: cfg.HeartbeatTTL,
		ReservedCPUs: reservedCPUs, ReservedMemory: reservedMemory,
		AdvertiseAddress: cfg.AdvertiseAddress, HTTPAddress: cfg.Listen, HTTPScheme: p.api.scheme, DNSAddress: cfg.DNSListen,
		Log:   p.log,
		Extra: eng.fill,
		OnBeat: func(err error) {
			p.ready.set("etcd", err)
			if err != nil {
				p.m.heartbeatFailures.Inc()
				p.m.etcdUp.Set(0)
				etcdLost = true
				return
			}
			p.m.heartbeats.Inc()
			p.m.etcdUp.Set(1)
			if etcdLost {
				// What failed while etcd was away is retried now, not
				// after a backoff that grew meanwhile.
				p.log.Info("etcd answers again; retrying what failed meanwhile", "keys", retryFailing())
				etcdLost = false
			}
		},
	}
}
