package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
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
	LastNACK     *NACKRecord         `json:"last_nack,omitempty"`
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
	st.LastNACK = r.lastNACKRecord()
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

// NACKRecord is the last configuration a node refused: what an operator
// asks first when a move waits or a sidecar misbehaves.
type NACKRecord struct {
	At       time.Time `json:"at"`
	Node     string    `json:"node"`
	Identity string    `json:"identity,omitempty"` // the stream's certificate's, when ADS needs one
	Type     string    `json:"type"`
	Error    string    `json:"error"`
}

// maxStatusText bounds what a node wrote (its id, its error) in the status.
const maxStatusText = 512

// nackLog keeps the last NACK; NACKs are rare, a mutex is enough.
type nackLog struct {
	mu   sync.Mutex
	last *NACKRecord
}

// noteNACK records a refused response of stream id. The node id and the
// error come from the client: bounded, and stripped of control and format
// characters so that they cannot drive the terminal `xds status` prints to.
func (r *Running) noteNACK(id int64, node, typ, detail string) {
	ident := ""
	r.acks.mu.Lock()
	if s := r.acks.streams[id]; s != nil {
		ident = s.guard.id
		if node == "" {
			node = s.node
		}
	}
	r.acks.mu.Unlock()
	rec := &NACKRecord{At: time.Now().UTC(), Node: inert(node), Identity: ident, Type: inert(typ), Error: inert(detail)}
	r.lastNACK.mu.Lock()
	r.lastNACK.last = rec
	r.lastNACK.mu.Unlock()
}

func (r *Running) lastNACKRecord() *NACKRecord {
	r.lastNACK.mu.Lock()
	defer r.lastNACK.mu.Unlock()
	return r.lastNACK.last
}

func inert(s string) string {
	s = clipped(s, maxStatusText)
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == unicode.ReplacementChar {
			return '?'
		}
		return c
	}, strings.ToValidUTF8(s, "?"))
}
