package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
)

// States are every instance state, in the order berth's docs list them;
// berth_instances has a series for each, per kind.
var States = []v1.InstanceState{
	v1.StatePullingImage, v1.StateCreating, v1.StateStarting, v1.StateHealthchecking, v1.StateRunning,
	v1.StateExited, v1.StateStopping, v1.StateStopped, v1.StateFailed, v1.StateWaiting, v1.StateUnknown,
}

// Kinds whose instances are counted.
var Kinds = []string{v1.KindUnit, v1.KindJob}

// Pull results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// CheckTypes are the check types a check run is counted under; anything
// else counts as "other".
var CheckTypes = []string{"http", "tcp", "exec", "ttl"}

// CheckStatuses are the results of a check run and the statuses of an endpoint.
var CheckStatuses = []v1.CheckStatus{v1.CheckPassing, v1.CheckWarning, v1.CheckCritical}

// EtcdOps are the store's requests that are timed.
var EtcdOps = []string{"get", "list", "put", "delete", "txn", "grant", "revoke", "lease_ttl"}

// DockerOps are the Runtime's calls whose errors are counted.
var DockerOps = []string{"ping", "version", "list", "inspect", "image_exists", "pull", "inspect_image", "list_images", "remove_image", "create", "start",
	"stop", "remove", "exec", "logs", "events", "ensure_network", "inspect_network", "inspect_volume", "ensure_volume"}

// Metrics are berth's own metrics. A nil *Metrics is valid: every method
// does nothing. Methods are safe for concurrent use.
type Metrics struct {
	instances     *prometheus.GaugeVec
	restarts      *prometheus.CounterVec
	timeToRunning *prometheus.HistogramVec
	pulls         *prometheus.CounterVec
	pullDuration  prometheus.Histogram
	checks        *prometheus.CounterVec
	endpoints     *prometheus.GaugeVec
	etcdDuration  *prometheus.HistogramVec
	etcdErrors    *prometheus.CounterVec
	dockerErrors  *prometheus.CounterVec

	mu      sync.Mutex
	sources map[string]func() map[v1.InstanceState]int // by kind
}

// New creates berth's metrics and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_instances",
			Help: "Instances of Units and Jobs on this host, by kind and by the state this host last reported.",
		}, []string{"kind", "state"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_container_restarts_total",
			Help: "Containers restarted by berth on this host (restart policy, health check or applyctl restart), by kind.",
		}, []string{"kind"}),
		timeToRunning: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_time_to_running_seconds",
			Help:    "Seconds from this host's controller first reading a new generation of an object placed on it to the instance of that generation being RUNNING (healthy, when it has a health check).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600},
		}, []string{"kind"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_image_pulls_total",
			Help: "Image pulls on this host, by result (success or failure).",
		}, []string{"result"}),
		pullDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "berth_image_pull_duration_seconds",
			Help:    "Seconds an image pull took, failed pulls included.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600},
		}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_health_checks_total",
			Help: "Health check runs of this host's endpoints, by check type (http, tcp, exec, ttl) and result (passing, warning, critical).",
		}, []string{"type", "result"}),
		endpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_endpoints",
			Help: "Endpoints this host registers in the catalog, by aggregated check status (passing, warning, critical).",
		}, []string{"status"}),
		etcdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_etcd_request_duration_seconds",
			Help:    "Seconds a request to etcd took, by operation.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"op"}),
		etcdErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_etcd_request_errors_total",
			Help: "Requests to etcd that failed, by operation (a compare that did not hold is not a failure).",
		}, []string{"op"}),
		dockerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_docker_api_errors_total",
			Help: "Calls to the Docker engine that failed, by operation (not found and conflict answers, and cancelled calls, are not counted).",
		}, []string{"op"}),
		sources: map[string]func() map[v1.InstanceState]int{},
	}
	for _, k := range Kinds {
		for _, s := range States {
			m.instances.WithLabelValues(k, string(s))
		}
		m.restarts.WithLabelValues(k)
	}
	m.timeToRunning.WithLabelValues(v1.KindUnit)
	for _, r := range []string{ResultSuccess, ResultFailure} {
		m.pulls.WithLabelValues(r)
	}
	for _, t := range CheckTypes {
		for _, s := range CheckStatuses {
			m.checks.WithLabelValues(t, string(s))
		}
	}
	for _, s := range CheckStatuses {
		m.endpoints.WithLabelValues(string(s))
	}
	for _, op := range EtcdOps {
		m.etcdErrors.WithLabelValues(op)
	}
	for _, op := range DockerOps {
		m.dockerErrors.WithLabelValues(op)
	}
	reg.MustRegister(instanceCollector{m}, m.restarts, m.timeToRunning, m.pulls, m.pullDuration, m.checks,
		m.endpoints, m.etcdDuration, m.etcdErrors, m.dockerErrors)
	return m
}

// CountInstances makes count the source of berth_instances{kind}: it is
// called at every scrape and returns the number of instances by state (a
// state it leaves out is 0). A later call for the same kind replaces it.
func (m *Metrics) CountInstances(kind string, count func() map[v1.InstanceState]int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources[kind] = count
}

// instanceCollector fills berth_instances from the sources at each scrape,
// so the hot path of a reconcile does no bookkeeping for it.
type instanceCollector struct{ m *Metrics }

func (c instanceCollector) Describe(ch chan<- *prometheus.Desc) { c.m.instances.Describe(ch) }

func (c instanceCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	sources := make(map[string]func() map[v1.InstanceState]int, len(c.m.sources))
	for k, f := range c.m.sources {
		sources[k] = f
	}
	c.m.mu.Unlock()
	for kind, count := range sources {
		n := count()
		for _, s := range States {
			c.m.instances.WithLabelValues(kind, string(s)).Set(float64(n[s]))
		}
	}
	c.m.instances.Collect(ch)
}

// ContainerRestarted counts one restart of an instance of kind.
func (m *Metrics) ContainerRestarted(kind string) {
	if m == nil {
		return
	}
	m.restarts.WithLabelValues(kind).Inc()
}

// Running observes the time from a generation being first seen to its
// instance RUNNING.
func (m *Metrics) Running(kind string, d time.Duration) {
	if m == nil {
		return
	}
	m.timeToRunning.WithLabelValues(kind).Observe(d.Seconds())
}

// ImagePulled counts a pull and observes how long it took.
func (m *Metrics) ImagePulled(d time.Duration, err error) {
	if m == nil {
		return
	}
	r := ResultSuccess
	if err != nil {
		r = ResultFailure
	}
	m.pulls.WithLabelValues(r).Inc()
	m.pullDuration.Observe(d.Seconds())
}

// CheckRan counts one run of a health check of type typ with its result.
func (m *Metrics) CheckRan(typ string, result v1.CheckStatus) {
	if m == nil {
		return
	}
	known := false
	for _, t := range CheckTypes {
		known = known || t == typ
	}
	if !known {
		typ = "other"
	}
	switch result {
	case v1.CheckPassing, v1.CheckWarning:
	default:
		result = v1.CheckCritical
	}
	m.checks.WithLabelValues(typ, string(result)).Inc()
}

// SetEndpoints sets berth_endpoints to the counts of this host's endpoints
// by status (a status left out is 0).
func (m *Metrics) SetEndpoints(byStatus map[v1.CheckStatus]int) {
	if m == nil {
		return
	}
	for _, s := range CheckStatuses {
		m.endpoints.WithLabelValues(string(s)).Set(float64(byStatus[s]))
	}
}

// EtcdRequest observes one request to etcd; it has the shape of
// store.Config's Observe hook. err is etcd's own answer: a key that is not
// there or a compare that did not hold is not an error.
func (m *Metrics) EtcdRequest(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.etcdDuration.WithLabelValues(op).Observe(d.Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		m.etcdErrors.WithLabelValues(op).Inc()
	}
}
