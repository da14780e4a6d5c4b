package server

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	reg       *prometheus.Registry
	rotations *prometheus.CounterVec
	refused   *prometheus.CounterVec
	version   prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_rotations_total", Help: "Endpoint moves by service and trigger.",
	}, []string{"service", "trigger"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_admin_refused_total", Help: "Admin calls refused, by reason.",
	}, []string{"reason"})
	m.version = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshward_xds_snapshot_version", Help: "Version of the endpoints being served.",
	})
	m.reg.MustRegister(m.rotations, m.refused, m.version)
	return m
}
