package catalogdns

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Label values are bounded: query types outside this list count as
// "other", and so do response codes outside rcodeLabels.
var (
	qtypeLabels = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT, dns.TypeANY,
		dns.TypeSOA, dns.TypeNS, dns.TypePTR, dns.TypeCNAME, dns.TypeMX, dns.TypeHTTPS}
	rcodeLabels = []int{dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeRefused,
		dns.RcodeServerFailure, dns.RcodeFormatError, dns.RcodeNotImplemented, dns.RcodeBadVers}
)

type metrics struct {
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limited  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_dns_queries_total",
			Help: "DNS queries answered, by query type and response code.",
		}, []string{"qtype", "rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_dns_request_duration_seconds",
			Help: "Time to answer a DNS query, from the parsed request to the response ready to send, by transport.",
			// 25µs to about 6.5s: local answers take tens of µs,
			// forwarded ones up to the recursor timeout.
			Buckets: prometheus.ExponentialBuckets(25e-6, 4, 10),
		}, []string{"proto"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_dns_rate_limited_total",
			Help: "UDP queries over their client's rate limit, by what became of them: drop (not answered) or truncate (answered empty with TC).",
		}, []string{"action"}),
	}
	// Servers on one registry (the one on loopback and the one for
	// containers) count together.
	var err error
	if m.queries, err = registered(reg, m.queries); err == nil {
		if m.duration, err = registered(reg, m.duration); err == nil {
			m.limited, err = registered(reg, m.limited)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dns: register metrics: %w", err)
	}
	for _, qt := range append(qtypeLabels, 0) {
		for _, rc := range rcodeLabels {
			m.queries.WithLabelValues(qtypeLabel(qt), rcodeLabel(rc))
		}
	}
	m.duration.WithLabelValues("udp")
	m.duration.WithLabelValues("tcp")
	m.limited.WithLabelValues("drop")
	m.limited.WithLabelValues("truncate")
	return m, nil
}

func qtypeLabel(qt uint16) string {
	for _, t := range qtypeLabels {
		if t == qt {
			return dns.TypeToString[qt]
		}
	}
	return "other"
}

func rcodeLabel(rc int) string {
	for _, c := range rcodeLabels {
		if c == rc {
			return dns.RcodeToString[rc]
		}
	}
	return "other"
}

// registered registers c on reg and returns it or, when an equal
// collector is registered already, returns that one.
func registered[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
