package server

import "github.com/prometheus/client_golang/prometheus"

// selfMetrics are the control plane's own moves.
type selfMetrics struct {
	moves    *prometheus.CounterVec
	laggards prometheus.Counter
	took     prometheus.Histogram
	address  *prometheus.GaugeVec
}

func (r *Running) registerSelfMetrics() {
	m := &selfMetrics{}
	m.moves = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_self_moves_total", Help: "Moves of the ADS port by trigger (admin, timer) and result (done, laggards, failed).",
	}, []string{"trigger", "result"})
	m.laggards = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "meshward_xds_self_laggards_total", Help: "Nodes that had not reconnected on the ADS port's new address by the hard deadline.",
	})
	m.took = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "meshward_xds_self_move_seconds", Help: "From announcing the ADS port's next address to the last node reconnecting there.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	m.address = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshward_xds_self_address", Help: "The ADS port's current address (1).",
	}, []string{"address"})
	nodes := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshward_xds_self_nodes", Help: "Nodes with a stream on the current ADS address (current) and on older ones still open (old).",
	}, []string{"listener"})
	r.selfMetrics = m
	r.metrics.reg.MustRegister(m.moves, m.laggards, m.took, m.address, nodesCollector{r, nodes})
	if a := r.ADSAddr(); a != nil {
		m.address.WithLabelValues(a.String()).Set(1)
	}
}

// nodesCollector counts the nodes per listener when scraped.
type nodesCollector struct {
	r     *Running
	nodes *prometheus.GaugeVec
}

func (c nodesCollector) Describe(ch chan<- *prometheus.Desc) { c.nodes.Describe(ch) }

func (c nodesCollector) Collect(ch chan<- prometheus.Metric) {
	cur, old := c.r.nodesCurrentOld()
	c.nodes.WithLabelValues("current").Set(float64(cur))
	c.nodes.WithLabelValues("old").Set(float64(old))
	c.nodes.Collect(ch)
}

// nodesCurrentOld counts the nodes on the current address and on older
// ones (a node on both counts in each).
func (r *Running) nodesCurrentOld() (cur, old int) {
	r.listeners.mu.Lock()
	gen := r.listeners.current.gen
	r.listeners.mu.Unlock()
	for g, n := range r.acks.nodesByGen() {
		if g == gen {
			cur += n
		} else {
			old += n
		}
	}
	return cur, old
}
