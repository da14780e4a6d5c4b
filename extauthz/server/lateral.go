package server

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshward/meshward/extauthz/lateral"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

// lateralFeed runs the lateral-movement detector off the hot path: decisions
// are queued without blocking (a full queue drops and counts), and one
// goroutine judges them and acts on alerts.
type lateralFeed struct {
	events  chan lateral.Event
	det     *lateral.Detector
	a       *Authorizer
	alerts  *prometheus.CounterVec
	dropped prometheus.Counter
}

// lateralQueue holds a burst for the detector goroutine, which takes an event in
// microseconds; a larger queue would only be resident memory (64 B an event).
const lateralQueue = 1 << 13

func newLateralFeed(a *Authorizer, cfg lateral.Config, learnFor time.Duration, reg prometheus.Registerer, stop <-chan struct{}) *lateralFeed {
	f := &lateralFeed{events: make(chan lateral.Event, lateralQueue), det: lateral.New(cfg), a: a,
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_authz_lateral_alerts_total", Help: "Suspected lateral movement, by kind and action (alert, quarantine).",
		}, []string{"kind", "action"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshward_authz_lateral_dropped_total", Help: "Decisions the detector did not see because its queue was full.",
		}),
	}
	reg.MustRegister(f.alerts, f.dropped)
	learning := time.AfterFunc(learnFor, func() {
		f.det.StopLearning()
		a.Log.Info().Dur("learned_for", learnFor).Msg("lateral movement: learning over, unseen edges now raise alerts")
	})
	go func() {
		<-stop
		learning.Stop()
		close(f.events)
	}()
	go f.run()
	return f
}

// observe queues a decided request; it never blocks the decision.
func (f *lateralFeed) observe(r *policy.Request, at time.Time) {
	if r.SourcePrincipal == "" {
		return
	}
	_, port := splitPort(r.DestinationAddress)
	select {
	case f.events <- lateral.Event{Source: r.SourcePrincipal, Destination: r.Destination, Port: port, Time: at}:
	default:
		f.dropped.Inc()
	}
}

func splitPort(addr string) (string, uint32) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, 0
	}
	var p uint32
	for _, c := range addr[i+1:] {
		if c < '0' || c > '9' || p > 65535 {
			return addr, 0
		}
		p = p*10 + uint32(c-'0')
	}
	return addr[:i], p
}

func (f *lateralFeed) run() {
	for e := range f.events {
		for _, al := range f.det.Observe(e) {
			f.act(al)
		}
	}
}

func (f *lateralFeed) act(al lateral.Alert) {
	ns := namespaceOf(al.Source)
	enforce, ttl := f.a.Engine.Policy().Lateral(ns)
	action := "alert"
	if enforce {
		action = "quarantine"
		// Applied here at once; a write to the shared state that fails is
		// retried by the sharer.
		_, _ = f.a.Engine.Quarantine().Quarantine(context.Background(), quarantine.Entry{Workload: al.Source,
			Reason: "lateral-movement:" + al.Kind, Score: 1, Evidence: []string{al.Detail}}, ttl)
	}
	f.a.xds.lateral(al, enforce, ttl)
	f.alerts.WithLabelValues(al.Kind, action).Inc()
	f.a.Log.Warn().Str("source", al.Source).Str("kind", al.Kind).Int("count", al.Count).Str("detail", al.Detail).
		Str("action", action).Msg("suspected lateral movement")
}

func namespaceOf(principal string) string {
	_, rest, ok := strings.Cut(principal, "/ns/")
	if !ok {
		return ""
	}
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}
