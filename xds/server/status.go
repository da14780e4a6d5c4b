package server

import (
	"encoding/json"
	"net/http"
	"time"
)

// Status is what `xds status` shows an operator: where every service is,
// what it serves besides while it moves, how its last move went, when the
// next one is due, and who is connected.
type Status struct {
	Version   uint64                   `json:"version"` // of what callers were told
	Placement uint64                   `json:"placement_version"`
	Services  map[string]ServiceStatus `json:"services"`
	Streams   int                      `json:"connected_streams"`
	Nodes     int                      `json:"connected_nodes"`
	// ControlPlane is the ADS port's own address and moves.
	ControlPlane *ControlPlaneStatus `json:"control_plane,omitempty"`
}

// ServiceStatus is one service's part of Status.
type ServiceStatus struct {
	Endpoints []string    `json:"endpoints"`
	Opening   []string    `json:"opening,omitempty"`
	Draining  []string    `json:"draining,omitempty"`
	LastMove  *MoveRecord `json:"last_move,omitempty"`
	NextDue   *time.Time  `json:"next_due,omitempty"`
	Nodes     int         `json:"nodes_told"` // connected nodes that may call it
}

// MoveRecord is how a move's announcement went.
type MoveRecord struct {
	At          time.Time `json:"at"`
	Trigger     string    `json:"trigger"`
	ConvergedMS float64   `json:"converged_ms"`
	Behind      int       `json:"behind"` // clients that had not acknowledged by the timeout
}

// Status reports the server's state.
func (r *Running) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.served
	st := Status{Version: p.Announced, Placement: p.Version, Services: map[string]ServiceStatus{}}
	st.Streams, st.Nodes = r.acks.connected()
	st.ControlPlane = r.selfStatus()
	for _, name := range p.Services() {
		ss := ServiceStatus{Endpoints: sockets(p.Endpoints(name)), LastMove: r.lastMove[name]}
		if t, ok := r.nextDue[name]; ok {
			ss.NextDue = &t
		}
		extra := p.Serving(name)[len(ss.Endpoints):]
		if in, ok := p.Instance(name, 0); ok && in.Drain {
			ss.Draining = sockets(extra)
		} else {
			ss.Opening = sockets(extra)
		}
		svc, _ := r.planner.Catalog().Lookup(name)
		for _, n := range r.nodes {
			if r.cfg.Reach == nil || r.cfg.Reach.Reachable(n.identity, svc) {
				ss.Nodes++
			}
		}
		st.Services[name] = ss
	}
	return st
}

func sockets[E interface{ String() string }](eps []E) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.String()
	}
	return out
}

func (r *Running) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(r.Status())
}

// recordMove keeps how a move's announcement went; the caller does not
// hold r.mu.
func (r *Running) recordMove(service, trigger string, took time.Duration, behind int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastMove[service] = &MoveRecord{At: time.Now().UTC(), Trigger: trigger,
		ConvergedMS: float64(took.Microseconds()) / 1000, Behind: behind}
}

func (r *Running) setNextDue(service string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextDue[service] = t.UTC()
}
