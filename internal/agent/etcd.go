package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	berthmetrics "berth.dev/berth/internal/metrics"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/store/embedded"
)

// embeddedEtcd is the etcd the controller runs itself when it is given
// no --etcd-endpoints, with its data under --data-dir.
type embeddedEtcd struct {
	cfg     Config
	log     *slog.Logger
	started chan struct{} // closed once emb is set
	emb     *embedded.Etcd
}

func (e *embeddedEtcd) component() component {
	return component{name: "embedded etcd", group: groupEtcd, run: e.run, started: e.started}
}

// run starts etcd and stops it, its data intact, once ctx ends.
func (e *embeddedEtcd) run(ctx context.Context) error {
	etls, err := e.cfg.embedTLS()
	if err != nil {
		return err
	}
	dir := filepath.Join(e.cfg.DataDir, "etcd")
	emb, err := embedded.Start(ctx, embedded.Config{
		DataDir:      dir,
		ListenClient: e.cfg.EtcdListenClient,
		ListenPeer:   e.cfg.EtcdListenPeer,
		TLS:          etls,
		Logger:       e.log,
	})
	if err != nil {
		return fmt.Errorf("embedded etcd: %w", err)
	}
	e.emb = emb
	e.log.Info("embedded etcd started", "data-dir", dir, "client-urls", emb.Endpoints())
	close(e.started)
	<-ctx.Done()
	if err := emb.Close(); err != nil {
		e.log.Warn("stop embedded etcd", "err", err)
	}
	e.log.Info("embedded etcd stopped")
	return nil
}

// etcdClient is the controller's connection to etcd: to --etcd-endpoints,
// or to the embedded etcd.
type etcdClient struct {
	cfg      Config
	embedded *embeddedEtcd // nil with --etcd-endpoints
	ready    *readiness
	bm       *berthmetrics.Metrics
	log      *slog.Logger
	started  chan struct{} // closed once st is set
	st       *store.Store
}

func (c *etcdClient) component() component {
	return component{name: "etcd client", group: groupEtcd, run: c.run, started: c.started}
}

// run connects, and closes the connection once ctx ends.
func (c *etcdClient) run(ctx context.Context) error {
	endpoints := c.cfg.EtcdEndpoints
	if c.embedded != nil {
		endpoints = c.embedded.emb.Endpoints()
	}
	st, err := connect(ctx, c.cfg, endpoints, c.ready, c.bm, c.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	c.st = st
	close(c.started)
	<-ctx.Done()
	_ = st.Close()
	c.log.Info("etcd client closed")
	return nil
}

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
