package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "berth.dev/berth/api/v1"
)

// TimerMetrics are the leading controller's metrics of Timers' runs. The
// timer label is bounded by the Timers applied; a deleted Timer's series
// are removed (Forget).
type TimerMetrics struct {
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
}

// NewTimers registers the Timers' metrics on reg.
func NewTimers(reg prometheus.Registerer) *TimerMetrics {
	m := &TimerMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_timer_runs_total",
			Help: "Runs of Timers that ended, by timer and result (Succeeded or Failed), counted by the leading controller.",
		}, []string{"timer", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_timer_run_duration_seconds",
			Help:    "Seconds from a Timer's run being decided to its end, by timer.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400},
		}, []string{"timer"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_timer_last_success_timestamp_seconds",
			Help: "Unix time the last successful run of a Timer ended (as the leader's record says: it survives a change of leader); absent until one has.",
		}, []string{"timer"}),
	}
	reg.MustRegister(m.runs, m.duration, m.lastSuccess)
	return m
}

// RunFinished counts a run that ended.
func (m *TimerMetrics) RunFinished(timer string, r v1.TimerRun) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(timer, string(r.Result)).Inc()
	if !r.StartTime.IsZero() && !r.CompletionTime.IsZero() {
		m.duration.WithLabelValues(timer).Observe(r.CompletionTime.Sub(r.StartTime).Seconds())
	}
}

// Observe sets what the record of a Timer says: the series of both
// results exist from its first look, and its last success.
func (m *TimerMetrics) Observe(timer string, lastSuccess time.Time) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(timer, string(v1.RunSucceeded))
	m.runs.WithLabelValues(timer, string(v1.RunFailed))
	if !lastSuccess.IsZero() {
		m.lastSuccess.WithLabelValues(timer).Set(float64(lastSuccess.UnixNano()) / 1e9)
	}
}

// Forget removes the series of a deleted Timer.
func (m *TimerMetrics) Forget(timer string) {
	if m == nil {
		return
	}
	m.runs.DeletePartialMatch(prometheus.Labels{"timer": timer})
	m.duration.DeletePartialMatch(prometheus.Labels{"timer": timer})
	m.lastSuccess.DeletePartialMatch(prometheus.Labels{"timer": timer})
}
