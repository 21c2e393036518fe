package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	consulsd "github.com/prometheus/prometheus/discovery/consul"
	_ "github.com/prometheus/prometheus/discovery/http" // http_sd_configs in the manifests
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"berth.dev/berth/internal/testenv"
)

// Both shipped scrape configurations load in upstream Prometheus' own
// config parser (v0.316.0), consul_sd_configs included, which Debian's
// promtool refuses.
func TestMonitoringConfigsLoadUpstream(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"prometheus-consul-sd.yml", "prometheus-http-sd.yml"} {
		cfg, err := promconfig.LoadFile(filepath.Join(monitoringDir, f), false, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.ScrapeConfigs) != 2 {
			t.Errorf("%s: %d scrape configs, want 2 (controllers and services)", f, len(cfg.ScrapeConfigs))
		}
	}
}

// Prometheus' Consul service discovery, run as a library against a
// controller's Consul-compatible API, sees a container berth registered,
// at its address, and sees it go when the container stops.
func TestPrometheusConsulDiscovery(t *testing.T) {
	t.Parallel()
	h := newDiscoveryHost(t, controllerOpts{})
	svc, name := "csd-"+h.sfx, "e2e-c-"+h.sfx
	port := testenv.FreePort(t)
	runPlain(t, name, "-e", "SERVICE_NAME="+svc, "-e", "SERVICE_TAGS=metrics,v1", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port),
		testImage, "--listen", ":8080")

	conf := consulsd.DefaultSDConfig
	conf.Server = h.c.listen
	conf.Services = []string{svc}
	// Prometheus waits refresh_interval between two blocking queries of a
	// service (30s by default): 1s keeps the test short.
	conf.RefreshInterval = model.Duration(time.Second)
	reg := prometheus.NewRegistry()
	metrics := conf.NewDiscovererMetrics(reg, discovery.NewRefreshMetrics(reg))
	if err := metrics.Register(); err != nil {
		t.Fatal(err)
	}
	defer metrics.Unregister()
	d, err := consulsd.NewDiscovery(&conf, nil, metrics)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan []*targetgroup.Group, 16)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx, ch) }()
	defer func() { cancel(); <-done }()

	// latest is the last group Prometheus has for the service.
	var latest *targetgroup.Group
	t0 := time.Now()
	wait := func(what string, timeout time.Duration, cond func(*targetgroup.Group) bool) {
		t.Helper()
		deadline := time.After(timeout)
		for latest == nil || !cond(latest) {
			select {
			case groups := <-ch:
				for _, g := range groups {
					if g != nil && g.Source == svc {
						latest = g
					}
				}
			case <-deadline:
				t.Logf("elapsed %s", time.Since(t0))
				t.Fatalf("%s: not seen within %s; last group: %v", what, timeout, describeGroup(latest))
			}
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	wait(svc+" at "+addr, 30*time.Second, func(g *targetgroup.Group) bool {
		for _, tg := range g.Targets {
			if string(tg[model.AddressLabel]) == addr && string(tg["__meta_consul_node"]) == h.name &&
				strings.Contains(string(tg["__meta_consul_tags"]), ",metrics,") {
				return true
			}
		}
		return false
	})

	t.Logf("seen after %s", time.Since(t0))
	mustDocker(t, "stop", "-t", "1", name)
	wait(svc+" gone", 30*time.Second, func(g *targetgroup.Group) bool {
		for _, tg := range g.Targets {
			if string(tg[model.AddressLabel]) == addr {
				return false
			}
		}
		return true
	})
	t.Logf("gone after %s", time.Since(t0))
}

func describeGroup(g *targetgroup.Group) string {
	if g == nil {
		return "none"
	}
	return fmt.Sprintf("%s %v %v", g.Source, g.Targets, g.Labels)
}
