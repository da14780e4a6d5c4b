package rotation

import (
	"fmt"
	"maps"
	"slices"

	"github.com/meshward/meshward/xds/catalog"
)

// State is a placement as data: what a leading replica records before it
// serves a placement, and what the other replicas (and the next leader)
// serve from the record.
type State struct {
	Version   uint64                        `json:"version"`
	Announced uint64                        `json:"announced"`
	Endpoints map[string][]catalog.Endpoint `json:"endpoints"`
	Extra     map[string][]catalog.Endpoint `json:"extra,omitempty"`
	Draining  map[string]bool               `json:"draining,omitempty"`
}

// State returns the placement as data (copies).
func (p *Placement) State() State {
	st := State{Version: p.Version, Announced: p.Announced, Endpoints: map[string][]catalog.Endpoint{},
		Extra: map[string][]catalog.Endpoint{}, Draining: map[string]bool{}}
	for s, eps := range p.endpoints {
		st.Endpoints[s] = slices.Clone(eps)
	}
	for s, eps := range p.extra {
		st.Extra[s] = slices.Clone(eps)
	}
	for s, d := range p.draining {
		if d {
			st.Draining[s] = true
		}
	}
	return st
}

// Adopt serves a recorded placement: a follower takes its leader's, a new
// leader the last one recorded. The record is the authority, whatever this
// planner made meanwhile (a leader that lost its term may have made a step
// it could not record): the moves it had under way are void. The record
// must name only the catalog's services, each with as many endpoints as
// it has.
func (p *Planner) Adopt(st State) (*Placement, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fits(st); err != nil {
		return nil, fmt.Errorf("rotation: placement v%d: %w", st.Version, err)
	}
	next := &Placement{Version: st.Version, Announced: st.Announced, endpoints: map[string][]catalog.Endpoint{},
		extra: map[string][]catalog.Endpoint{}, draining: map[string]bool{}}
	for s, eps := range st.Endpoints {
		next.endpoints[s] = slices.Clone(eps)
	}
	for s, eps := range st.Extra {
		if len(eps) > 0 {
			next.extra[s] = slices.Clone(eps)
			next.draining[s] = st.Draining[s]
		}
	}
	p.cur = next
	clear(p.moving) // their next steps are stale
	return next, nil
}

// fits checks a recorded placement against the catalog.
func (p *Planner) fits(st State) error {
	if st.Announced > st.Version {
		return fmt.Errorf("announced %d after version %d", st.Announced, st.Version)
	}
	for _, s := range p.cat.Services {
		if len(st.Endpoints[s.Name]) != len(s.Endpoints) {
			return fmt.Errorf("service %q: %d endpoints, the catalog has %d", s.Name, len(st.Endpoints[s.Name]), len(s.Endpoints))
		}
	}
	for _, m := range []map[string][]catalog.Endpoint{st.Endpoints, st.Extra} {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			s, ok := p.cat.Lookup(name)
			if !ok {
				return fmt.Errorf("%w: %q", ErrUnknownService, name)
			}
			if n := len(m[name]); n != 0 && n != len(s.Endpoints) {
				return fmt.Errorf("service %q: %d endpoints, the catalog has %d", name, n, len(s.Endpoints))
			}
		}
	}
	return nil
}

// Resume takes over a move a previous leader left half done in the
// placement now served: announced, it has to be closed (its old sockets
// drain); not announced, abandoned (callers never heard of the new ones).
// ok is false when the service is not moving.
func (p *Planner) Resume(service string) (m Move, announced, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	extra := p.cur.extra[service]
	if len(extra) == 0 || p.moving[service] != 0 {
		return Move{}, false, false
	}
	p.nextID++
	p.moving[service] = p.nextID
	announced = p.cur.draining[service]
	m = Move{Service: service, From: slices.Clone(p.cur.endpoints[service]), To: slices.Clone(extra), id: p.nextID}
	if announced {
		m.From, m.To = m.To, m.From
	}
	return m, announced, true
}
