package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshward/meshward/api/xdsevent"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// events is what the authorizer's security events change: the identities
// whose nodes are told nothing new, and the event moves under way. Its mu
// is taken after r.mu, never before.
type events struct {
	mu     sync.Mutex
	frozen map[string]*freeze    // identity ->
	moving map[string]*eventMove // service -> its event moves under way
	gen    uint64
	total  *prometheus.CounterVec // kind, result
	moves  *prometheus.CounterVec // result
}

// eventMove: again asks for one more move once the one under way ends.
type eventMove struct{ again bool }

// What an event did with each service it concerns.
const (
	outcomeStarted   = "started"   // a move began
	outcomeQueued    = "queued"    // an event move of it was under way; one more follows it
	outcomeHeld      = "held"      // maxPerHour reached
	outcomeUnmovable = "unmovable" // no pool to move to
	outcomeFailed    = "failed"    // a started move did not complete
)

// EventResult is the answer to an event.
type EventResult struct {
	Kind     xdsevent.Kind `json:"kind"`
	Workload string        `json:"workload"`
	// Frozen: the workload's nodes are told nothing new (after a release:
	// false). Nodes counts its connected nodes (after a release: those
	// told what changed meanwhile).
	Frozen    bool     `json:"frozen"`
	Nodes     int      `json:"nodes"`
	Started   []string `json:"moving,omitempty"`
	Queued    []string `json:"queued,omitempty"`
	Held      []string `json:"held,omitempty"`
	Unmovable []string `json:"unmovable,omitempty"`
}

func newEvents(r *Running) *events {
	ev := &events{frozen: map[string]*freeze{}, moving: map[string]*eventMove{},
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_xds_events_total", Help: "Security events from the authorizer, by kind and result (accepted, invalid, refused).",
		}, []string{"kind", "result"}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_xds_event_moves_total", Help: "What events did with the services they concern (started, queued, held, unmovable; failed: a started move did not complete).",
		}, []string{"result"}),
	}
	frozen := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meshward_xds_frozen_identities", Help: "Quarantined identities whose nodes are told nothing new.",
	}, func() float64 { ev.mu.Lock(); defer ev.mu.Unlock(); return float64(len(ev.frozen)) })
	nodes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meshward_xds_frozen_nodes", Help: "Known nodes of quarantined identities, told nothing new.",
	}, func() float64 { return float64(r.frozenNodes()) })
	r.metrics.reg.MustRegister(ev.total, ev.moves, frozen, nodes)
	r.acks.frozen = r.frozen // no move waits for a node told nothing on purpose
	return ev
}

// serveEvents: POST /events, from the authorizer (AdminAuth admitted it).
// The moves run on after the answer (202): the caller learns which began,
// which were held, and /status how they went.
func (r *Running) serveEvents(w http.ResponseWriter, req *http.Request) {
	e, err := xdsevent.Decode(http.MaxBytesReader(w, req.Body, xdsevent.MaxBytes+1))
	if err != nil {
		r.ev.total.WithLabelValues("invalid", "invalid").Inc()
		r.refuse(w, req, &refusal{http.StatusBadRequest, "bad-event", err.Error()})
		return
	}
	res, f := r.handleEvent(e)
	if f != nil {
		r.ev.total.WithLabelValues(string(e.Kind), "refused").Inc()
		r.refuse(w, req, f)
		return
	}
	r.ev.total.WithLabelValues(string(e.Kind), "accepted").Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(res)
}

// handleEvent acts on a valid event: a release thaws the workload's nodes;
// a quarantine freezes them first, so that no move it causes reaches them;
// a scan, a lateral-movement suspect or a quarantine then moves, at once and
// side by side, every service the workload could reach (and the one it went
// for), so that what it learned of them goes stale.
func (r *Running) handleEvent(e xdsevent.Event) (EventResult, *refusal) {
	res := EventResult{Kind: e.Kind, Workload: e.Workload}
	if e.Kind == xdsevent.Release {
		n, err := r.thaw(e.Workload, 0)
		if err != nil {
			return res, &refusal{http.StatusInternalServerError, "internal", err.Error()}
		}
		res.Nodes = n
		r.logEvent(e, res)
		return res, nil
	}
	targets, f := r.targets(e)
	if f != nil {
		return res, f
	}
	if e.Kind == xdsevent.Quarantine {
		if err := r.freeze(e.Workload, e.TTL()); err != nil {
			return res, &refusal{http.StatusServiceUnavailable, "too-many-frozen", err.Error()}
		}
		res.Frozen = true
	}
	res.Nodes = r.nodesOf(e.Workload)
	for _, s := range targets {
		out := r.eventMove(s)
		r.ev.moves.WithLabelValues(out).Inc()
		switch out {
		case outcomeStarted:
			res.Started = append(res.Started, s.Name)
		case outcomeQueued:
			res.Queued = append(res.Queued, s.Name)
		case outcomeHeld:
			res.Held = append(res.Held, s.Name)
		default:
			res.Unmovable = append(res.Unmovable, s.Name)
		}
	}
	r.logEvent(e, res)
	return res, nil
}

// targets are the services the workload could reach, and the one the event
// names. Its own service is not among them: it knows where it is, and a
// frozen sidecar could not follow its own move.
func (r *Running) targets(e xdsevent.Event) ([]catalog.Service, *refusal) {
	if _, ok := r.planner.Catalog().Lookup(e.Service); e.Service != "" && !ok {
		return nil, &refusal{http.StatusBadRequest, "bad-event", fmt.Sprintf("event: field \"service\": no service %q in the catalog", e.Service)}
	}
	r.mu.Lock() // the need-to-know rule is swapped under it
	defer r.mu.Unlock()
	var out []catalog.Service
	for _, s := range r.planner.Catalog().Services {
		if s.Identity == e.Workload {
			continue
		}
		if s.Name == e.Service || r.cfg.Reach == nil || r.cfg.Reach.Reachable(e.Workload, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// eventMove starts moving s for an event, unless it cannot move or may not
// now. Event moves of one service coalesce: while one is under way, any
// number of events ask for one more, which begins after it (so after each
// of them, and after the freeze of each).
func (r *Running) eventMove(s catalog.Service) string {
	if s.PoolPorts() == 0 && len(s.Addresses) == 0 {
		return outcomeUnmovable
	}
	if err := r.planner.Admit(s.Name, rotation.CauseEvent, time.Now()); errors.Is(err, rotation.ErrBudget) {
		r.metrics.held.WithLabelValues(s.Name, "budget").Inc()
		return outcomeHeld
	}
	r.ev.mu.Lock()
	defer r.ev.mu.Unlock()
	if m, busy := r.ev.moving[s.Name]; busy {
		m.again = true
		return outcomeQueued
	}
	r.ev.moving[s.Name] = &eventMove{}
	go r.runEventMoves(s.Name)
	return outcomeStarted
}

func (r *Running) runEventMoves(service string) {
	ctx, cancel := r.untilStop()
	defer cancel()
	for {
		r.moveForEvent(ctx, service)
		r.ev.mu.Lock()
		m := r.ev.moving[service]
		again := m.again
		m.again = false
		if !again {
			delete(r.ev.moving, service)
		}
		r.ev.mu.Unlock()
		if !again {
			return
		}
	}
}

func (r *Running) moveForEvent(ctx context.Context, service string) {
	_, err := r.Move(ctx, service, 0, string(rotation.CauseEvent))
	switch {
	case err == nil:
	case errors.Is(err, rotation.ErrBudget):
		r.metrics.held.WithLabelValues(service, "budget").Inc()
		r.ev.moves.WithLabelValues(outcomeFailed).Inc()
		r.log.Warn().Str("service", service).Err(err).Msg("event move held back")
	default:
		r.ev.moves.WithLabelValues(outcomeFailed).Inc()
		r.log.Error().Str("service", service).Err(err).Msg("event move failed")
	}
}

func (r *Running) logEvent(e xdsevent.Event, res EventResult) {
	r.log.Warn().Str("kind", string(e.Kind)).Str("workload", e.Workload).Str("reason", e.Reason).Str("service", e.Service).
		Bool("frozen", res.Frozen).Int("nodes", res.Nodes).Strs("moving", res.Started).Strs("queued", res.Queued).
		Strs("held", res.Held).Strs("unmovable", res.Unmovable).Msg("security event")
}
