package roles

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
)

// metrics is the coordinator's Observer, and the counters of the other
// roles, in Prometheus.
type metrics struct {
	requests  *prometheus.CounterVec
	fakes     *prometheus.CounterVec
	plaintext *prometheus.CounterVec
	stage     *prometheus.HistogramVec
	deception *prometheus.GaugeVec
	keyOps    *prometheus.CounterVec
	shed      *prometheus.CounterVec
	// Children looked up once: a dropped fake must cost far less than a
	// decryption, and a vector's lookup hashes and checks its labels on
	// every call.
	children sync.Map // childKey → prometheus.Counter or prometheus.Observer
}

type childKey struct {
	vec  string
	sub  uint32
	a, b string
}

// child returns the cached child for k, making it with mk the first time.
func child[T any](m *metrics, k childKey, mk func() T) T {
	if c, ok := m.children.Load(k); ok {
		return c.(T)
	}
	c, _ := m.children.LoadOrStore(k, mk())
	return c.(T)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshward_eaas_requests_total",
			Help: "EaaS requests by role, type (encrypt, decrypt, enrol, rewrap, seal, open, key) and result (ok or a reason id)."},
			[]string{"role", "type", "result"}),
		fakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshward_eaas_fake_messages_total",
			Help: "Fake frames dropped from requests (direction=dropped) or sent among decryption answers (direction=sent)."},
			[]string{"subscriber", "direction"}),
		plaintext: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshward_eaas_plaintext_forwards_total",
			Help: "Messages forwarded raw because no replica could serve and the subscriber chose forward-plaintext."},
			[]string{"subscriber", "type"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "meshward_eaas_stage_seconds",
			Help: "Time each role spends on a request.", Buckets: prometheus.ExponentialBuckets(20e-6, 2, 16)}, []string{"role"}),
		deception: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshward_eaas_deception_factor",
			Help: "Token bits t of each subscriber: every real message travels among 2^t - 1 fakes."}, []string{"subscriber"}),
		keyOps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshward_eaas_key_operations_total",
			Help: "Key manager operations (get, rotate, list) by result."}, []string{"op", "result"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshward_eaas_shed_total",
			Help: "Requester batches turned away unread by a bound (total, caller, size)."}, []string{"bound"}),
	}
	reg.MustRegister(m.requests, m.fakes, m.plaintext, m.stage, m.deception, m.keyOps, m.shed)
	return m
}

func sub(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

func (m *metrics) Request(typ, result string) {
	child(m, childKey{vec: "requests", a: typ, b: result}, func() prometheus.Counter {
		return m.requests.WithLabelValues("coordinator", typ, result)
	}).Inc()
}

func (m *metrics) Fakes(s uint32, direction string, n int) {
	child(m, childKey{vec: "fakes", sub: s, a: direction}, func() prometheus.Counter {
		return m.fakes.WithLabelValues(sub(s), direction)
	}).Add(float64(n))
}

func (m *metrics) Plaintext(s uint32, typ string) { m.plaintext.WithLabelValues(sub(s), typ).Inc() }

func (m *metrics) Stage(role string, d time.Duration) {
	child(m, childKey{vec: "stage", a: role}, func() prometheus.Observer {
		return m.stage.WithLabelValues(role)
	}).Observe(d.Seconds())
}

func (m *metrics) Subscriber(id uint32, deception uint8) {
	m.deception.WithLabelValues(sub(id)).Set(float64(deception))
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// watchReplicas exports how many replicas of each role the coordinator
// finds healthy, read when scraped.
func (m *metrics) watchReplicas(reg prometheus.Registerer, c *coordinator.Coordinator) {
	for _, role := range []string{KeyManager, Cryptor} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshward_eaas_replicas_healthy",
			Help: "Replicas of a role the coordinator may send requests to now.", ConstLabels: prometheus.Labels{"role": role}},
			func() float64 {
				n := 0
				for _, s := range c.Replicas() {
					if s.Role == role && s.Healthy {
						n++
					}
				}
				return float64(n)
			}))
	}
}
