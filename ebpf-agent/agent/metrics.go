package agent

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events, windows, phase, ngrams *prometheus.MetricVec
	verdicts, isolated, saves      *prometheus.CounterVec
}

// workloadMetrics are resolved once per container: the reader loop must not
// hash label values for every event.
type workloadMetrics struct {
	events, learning, benign, anomalous prometheus.Counter
	phase, ngrams                       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, src Source) *metrics {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_agent_events_total", Help: "System calls seen, by workload.",
	}, []string{"workload"})
	windows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_agent_windows_total", Help: "Windows of system calls judged, by workload and judgement (learning, benign, anomalous).",
	}, []string{"workload", "judgement"})
	// The profiles' gauges are per container: the containers of one pod
	// (the app, istio-proxy) share the workload's identity.
	phase := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshward_agent_profile_detecting", Help: "1 when the container's profile detects, 0 while it learns.",
	}, []string{"workload", "container"})
	ngrams := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshward_agent_profile_ngrams", Help: "Distinct n-grams in the container's profile.",
	}, []string{"workload", "container"})
	m := &metrics{events: events.MetricVec, windows: windows.MetricVec, phase: phase.MetricVec, ngrams: ngrams.MetricVec,
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_agent_verdicts_total", Help: "Verdicts sent, by reason and outcome.",
		}, []string{"reason", "outcome"}),
		isolated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_agent_isolations_total", Help: "Containers isolated in the kernel, by outcome.",
		}, []string{"outcome"}),
		saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_agent_profile_saves_total", Help: "Profiles written to the store, by outcome.",
		}, []string{"outcome"}),
	}
	reg.MustRegister(events, windows, phase, ngrams, m.verdicts, m.isolated, m.saves)
	if d, ok := src.(perCPUDrops); ok {
		reg.MustRegister(dropsCollector{d})
	}
	return m
}

func (m *metrics) forWorkload(id, container string) workloadMetrics {
	c := func(v *prometheus.MetricVec, l ...string) prometheus.Counter {
		x, _ := v.GetMetricWithLabelValues(append([]string{id}, l...)...)
		return x.(prometheus.Counter)
	}
	g := func(v *prometheus.MetricVec) prometheus.Gauge {
		x, _ := v.GetMetricWithLabelValues(id, container)
		return x.(prometheus.Gauge)
	}
	return workloadMetrics{events: c(m.events), learning: c(m.windows, "learning"), benign: c(m.windows, "benign"),
		anomalous: c(m.windows, "anomalous"), phase: g(m.phase), ngrams: g(m.ngrams)}
}

// perCPUDrops is a source that counts events lost to a full ring buffer,
// per CPU (collector.Collector).
type perCPUDrops interface {
	DropsPerCPU() ([]uint64, error)
}

var dropsDesc = prometheus.NewDesc("meshward_agent_ringbuf_drops_total",
	"Events lost because the ring buffer was full, by CPU.", []string{"cpu"}, nil)

type dropsCollector struct{ src perCPUDrops }

func (dropsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dropsDesc }

func (d dropsCollector) Collect(ch chan<- prometheus.Metric) {
	perCPU, err := d.src.DropsPerCPU()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(dropsDesc, err)
		return
	}
	for cpu, n := range perCPU {
		ch <- prometheus.MustNewConstMetric(dropsDesc, prometheus.CounterValue, float64(n), strconv.Itoa(cpu))
	}
}
