package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the authorizer's Prometheus series.
type Metrics struct {
	decisions *prometheus.CounterVec
	handler   *prometheus.HistogramVec
	eval      *prometheus.HistogramVec
	verdicts  *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	shed      *prometheus.CounterVec
}

// Gauges are read at scrape time.
type Gauges struct {
	Quarantined, Rules, Epoch func() float64
}

func (a *Authorizer) gauges() Gauges {
	e := a.Engine
	return Gauges{
		Quarantined: func() float64 { return float64(e.Quarantine().Len()) },
		Rules:       func() float64 { return float64(e.Policy().Len()) },
		Epoch:       func() float64 { return float64(e.Epoch()) },
	}
}

// Sub-millisecond buckets: a decision is microseconds; the handler, tens.
var latencyBuckets = prometheus.ExponentialBuckets(1e-6, 4, 10)

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer, g Gauges) *Metrics {
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
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_authz_policy_reloads_total", Help: "Policy reloads by result (applied, rejected).",
		}, []string{"result"}),
	}
	m.shed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_authz_shed_total", Help: "Checks refused unread because too many were in flight, by transport and the bound reached (total, caller).",
	}, []string{"transport", "bound"})
	reg.MustRegister(m.decisions, m.handler, m.eval, m.verdicts, m.reloads, m.shed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshward_authz_quarantined_workloads", Help: "Workloads in the quarantine set.",
		}, g.Quarantined),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshward_authz_policy_rules", Help: "Rules in the active policy set.",
		}, g.Rules),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshward_authz_epoch", Help: "Changes with every policy or quarantine change.",
		}, g.Epoch))
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
