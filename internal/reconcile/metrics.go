package reconcile

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Metrics are the loop's metrics, shared by every Controller of a process.
type Metrics struct {
	reconcileTotal  *prometheus.CounterVec
	reconcileErrors *prometheus.CounterVec
	terminalErrors  *prometheus.CounterVec
	panics          *prometheus.CounterVec
	reconcileTime   *prometheus.HistogramVec
	activeWorkers   *prometheus.GaugeVec
	maxConcurrent   *prometheus.GaugeVec

	depth          *prometheus.GaugeVec
	adds           *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	workDuration   *prometheus.HistogramVec
	unfinished     *prometheus.GaugeVec
	longestRunning *prometheus.GaugeVec
	retries        *prometheus.CounterVec
}

// NewMetrics creates the loop's metrics and registers them with reg. Names,
// labels, help and buckets are controller-runtime's (pkg/internal/controller/metrics
// and pkg/internal/metrics/workqueue.go), so its dashboards and alerts work
// unchanged: workqueue_depth carries controller-runtime's priority label
// (always "" here) and the two queue histograms are also native histograms
// (factor 1.1) for a scraper that asks for them.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	queueBuckets := prometheus.ExponentialBuckets(10e-9, 10, 12)
	m := &Metrics{
		reconcileTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_reconcile_total",
			Help: "Total number of reconciliations per controller",
		}, []string{"controller", "result"}),
		reconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_reconcile_errors_total",
			Help: "Total number of reconciliation errors per controller",
		}, []string{"controller"}),
		terminalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_terminal_reconcile_errors_total",
			Help: "Total number of terminal reconciliation errors per controller",
		}, []string{"controller"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_reconcile_panics_total",
			Help: "Total number of reconciliation panics per controller",
		}, []string{"controller"}),
		reconcileTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "controller_runtime_reconcile_time_seconds",
			Help: "Length of time per reconciliation per controller",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7,
				0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60},
		}, []string{"controller"}),
		activeWorkers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controller_runtime_active_workers",
			Help: "Number of currently used workers per controller",
		}, []string{"controller"}),
		maxConcurrent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controller_runtime_max_concurrent_reconciles",
			Help: "Maximum number of concurrent reconciles per controller",
		}, []string{"controller"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_depth",
			Help: "Current depth of workqueue by workqueue and priority",
		}, []string{"name", "controller", "priority"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_adds_total",
			Help: "Total number of adds handled by workqueue",
		}, []string{"name", "controller"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_queue_duration_seconds",
			Help:    "How long in seconds an item stays in workqueue before being requested",
			Buckets: queueBuckets,

			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  100,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"name", "controller"}),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_work_duration_seconds",
			Help:    "How long in seconds processing an item from workqueue takes.",
			Buckets: queueBuckets,

			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  100,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"name", "controller"}),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_unfinished_work_seconds",
			Help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
		}, []string{"name", "controller"}),
		longestRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_longest_running_processor_seconds",
			Help: "How many seconds has the longest running processor for workqueue been running.",
		}, []string{"name", "controller"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_retries_total",
			Help: "Total number of retries handled by workqueue",
		}, []string{"name", "controller"}),
	}
	reg.MustRegister(m.reconcileTotal, m.reconcileErrors, m.terminalErrors, m.panics, m.reconcileTime,
		m.activeWorkers, m.maxConcurrent, m.depth, m.adds, m.latency, m.workDuration, m.unfinished,
		m.longestRunning, m.retries)
	return m
}

// init sets every series of a controller to zero, as controller-runtime
// does, so rates and alerts work before the first event.
func (m *Metrics) init(name string, workers int) {
	for _, r := range []string{resultSuccess, resultError, resultRequeue, resultRequeueAfter} {
		m.reconcileTotal.WithLabelValues(name, r)
	}
	m.reconcileErrors.WithLabelValues(name)
	m.terminalErrors.WithLabelValues(name)
	m.panics.WithLabelValues(name)
	m.activeWorkers.WithLabelValues(name).Set(0)
	m.maxConcurrent.WithLabelValues(name).Set(float64(workers))
}

// queueProvider gives client-go's queue the metrics of one controller.
type queueProvider struct {
	m    *Metrics
	name string
}

func (p queueProvider) NewDepthMetric(string) workqueue.GaugeMetric {
	// Berth's queues have no priorities: one series with priority="", as
	// controller-runtime's plain queue reports.
	return p.m.depth.WithLabelValues(p.name, p.name, "")
}
func (p queueProvider) NewAddsMetric(string) workqueue.CounterMetric {
	return p.m.adds.WithLabelValues(p.name, p.name)
}
func (p queueProvider) NewLatencyMetric(string) workqueue.HistogramMetric {
	return p.m.latency.WithLabelValues(p.name, p.name)
}
func (p queueProvider) NewWorkDurationMetric(string) workqueue.HistogramMetric {
	return p.m.workDuration.WithLabelValues(p.name, p.name)
}
func (p queueProvider) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return p.m.unfinished.WithLabelValues(p.name, p.name)
}
func (p queueProvider) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return p.m.longestRunning.WithLabelValues(p.name, p.name)
}
func (p queueProvider) NewRetriesMetric(string) workqueue.CounterMetric {
	return p.m.retries.WithLabelValues(p.name, p.name)
}
