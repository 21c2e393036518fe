package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"berth.dev/berth/internal/version"
)

// metrics are the controller's own metrics, on a private registry.
type metrics struct {
	registry          *prometheus.Registry
	heartbeats        prometheus.Counter
	heartbeatFailures prometheus.Counter
	etcdUp            prometheus.Gauge
	leader            prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_heartbeats_total",
			Help: "Host record heartbeats written to etcd.",
		}),
		heartbeatFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_heartbeat_failures_total",
			Help: "Host record heartbeats that could not be written to etcd.",
		}),
		etcdUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "berth_etcd_up",
			Help: "1 when the last request to etcd succeeded, else 0.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "berth_leader",
			Help: "1 while this controller runs the cluster-wide loops (scheduler), else 0.",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "berth_build_info",
		Help:        "Always 1; the version label says which berth is running.",
		ConstLabels: prometheus.Labels{"version": version.Version},
	})
	build.Set(1)
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.heartbeats, m.heartbeatFailures, m.etcdUp, m.leader, build,
	)
	return m
}

// setLeader sets berth_leader: 1 while this controller leads.
func (m *metrics) setLeader(leading bool) {
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}
