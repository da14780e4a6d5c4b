package server

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	reg         *prometheus.Registry
	rotations   *prometheus.CounterVec
	refused     *prometheus.CounterVec
	version     prometheus.Gauge
	acks        *prometheus.CounterVec
	convergence *prometheus.HistogramVec
	laggards    *prometheus.CounterVec
	held        *prometheus.CounterVec
	// streamsRefused counts ADS streams ended by the guard, by reason.
	streamsRefused *prometheus.CounterVec
	reloads        *prometheus.CounterVec
}

func newMetrics(a *acks) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_rotations_total", Help: "Endpoint moves by service and trigger (admin, timer, event).",
	}, []string{"service", "trigger"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_admin_refused_total", Help: "Admin calls refused, by reason.",
	}, []string{"reason"})
	m.version = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshward_xds_snapshot_version", Help: "Version of the placement being served.",
	})
	m.acks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_acks_total", Help: "Responses clients acknowledged (ack) or refused (nack), by type.",
	}, []string{"type", "result"})
	m.convergence = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "meshward_xds_convergence_seconds", Help: "From announcing a service's new endpoints to the last client's acknowledgement.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"service"})
	m.laggards = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_laggards_total", Help: "Clients that had not acknowledged a move's new endpoints by the acknowledgement timeout.",
	}, []string{"service"})
	m.held = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_moves_held_total", Help: "Timed moves held back, by service and reason (blackout, budget).",
	}, []string{"service", "reason"})
	m.streamsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_streams_refused_total", Help: "ADS streams refused or ended: no identity, node id not the certificate's, too many streams, too fast.",
	}, []string{"reason"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_catalog_reloads_total", Help: "Catalog reloads by result (ok, failed; a file that does not parse never gets this far: see the log).",
	}, []string{"result"})
	streams := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meshward_xds_connected_streams", Help: "Open ADS streams.",
	}, func() float64 { s, _ := a.connected(); return float64(s) })
	nodes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meshward_xds_connected_nodes", Help: "Distinct nodes with an open ADS stream.",
	}, func() float64 { _, n := a.connected(); return float64(n) })
	m.reg.MustRegister(m.rotations, m.refused, m.version, m.acks, m.convergence, m.laggards, m.held, m.streamsRefused, m.reloads, streams, nodes)
	return m
}
