package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the authorizer's Prometheus series.
type Metrics struct {
	decisions   *prometheus.CounterVec
	handler     *prometheus.HistogramVec
	eval        *prometheus.HistogramVec
	verdicts    *prometheus.CounterVec
	quarantined prometheus.GaugeFunc
}

// Sub-millisecond buckets: a decision is microseconds; the handler, tens.
var latencyBuckets = prometheus.ExponentialBuckets(1e-6, 4, 10)

// NewMetrics registers the series on reg; quarantined reports the size of the
// quarantine set at scrape time.
func NewMetrics(reg prometheus.Registerer, quarantined func() float64) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_authz_decisions_total", Help: "Decisions by transport, result and reason.",
		}, []string{"transport", "result", "reason"}),
		handler: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshward_authz_handler_duration_seconds", Help: "Whole check handler time.", Buckets: latencyBuckets,
		}, []string{"transport"}),
		eval: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshward_authz_eval_duration_seconds", Help: "Decision evaluation time alone.", Buckets: latencyBuckets,
		}, []string{"transport"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_authz_verdicts_total", Help: "Verdict API calls by method and outcome.",
		}, []string{"method", "outcome"}),
		quarantined: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshward_authz_quarantined_workloads", Help: "Workloads in the quarantine set.",
		}, quarantined),
	}
	reg.MustRegister(m.decisions, m.handler, m.eval, m.verdicts, m.quarantined)
	return m
}

func (m *Metrics) observe(transport string, allow bool, reason string, start, evalStart, evalEnd time.Time) {
	result := "deny"
	if allow {
		result = "allow"
	}
	m.decisions.WithLabelValues(transport, result, reason).Inc()
	m.eval.WithLabelValues(transport).Observe(evalEnd.Sub(evalStart).Seconds())
	m.handler.WithLabelValues(transport).Observe(time.Since(start).Seconds())
}
