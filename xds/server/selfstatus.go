package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"
)

// ControlPlaneStatus is where the ADS port is and how its moves go.
type ControlPlaneStatus struct {
	Address   string          `json:"address"`   // the current listener
	Listening []string        `json:"listening"` // every open one: two while a move is under way
	Announced string          `json:"announced,omitempty"`
	Epoch     uint64          `json:"epoch,omitempty"`
	Pool      int             `json:"pool,omitempty"` // sockets to move among (0: it does not move)
	NodesOn   map[string]int  `json:"nodes_on"`       // address -> nodes with a stream there
	Moving    bool            `json:"moving"`
	LastMove  *SelfMoveRecord `json:"last_move,omitempty"`
	NextDue   *time.Time      `json:"next_due,omitempty"`
}

func (r *Running) selfStatus() *ControlPlaneStatus {
	st := &ControlPlaneStatus{NodesOn: map[string]int{}}
	byGen := r.acks.nodesByGen()
	r.listeners.mu.Lock()
	st.Address = r.listeners.current.addr.String()
	for g, l := range r.listeners.live {
		st.Listening = append(st.Listening, l.addr.String())
		st.NodesOn[l.addr.String()] = byGen[g]
	}
	r.listeners.mu.Unlock()
	slices.Sort(st.Listening)
	s := &r.self
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Announced, st.Epoch, st.Moving, st.LastMove = s.announced, s.epoch, s.onOld != nil, s.last
	if s.pool != nil {
		st.Pool = len(s.pool.addrs)
	}
	if !s.nextDue.IsZero() {
		t := s.nextDue
		st.NextDue = &t
	}
	return st
}

// serveRotateSelf: POST /rotate-self moves the ADS port and answers how it
// went, once every node reconnected or the hard deadline passed.
func (r *Running) serveRotateSelf(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := r.untilStop() // a caller who hangs up does not cut the move short
	defer cancel()
	rec, err := r.MoveSelf(ctx, "admin")
	switch {
	case errors.Is(err, ErrNoAddrPool):
		r.refuse(w, req, &refusal{http.StatusConflict, "no-addr-pool", err.Error()})
		return
	case errors.Is(err, ErrSelfMoving):
		r.refuse(w, req, &refusal{http.StatusConflict, "self-moving", err.Error()})
		return
	case err != nil:
		r.refuse(w, req, &refusal{http.StatusInternalServerError, "internal", err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rec)
}
