// Package rotation plans moving-target defense: where each service's
// endpoints are now, and where they go next. Every change yields a new,
// immutable, versioned Placement; serving it is the xDS layer's job.
//
// A move is made before it breaks anything: Plan draws the new sockets,
// Open has the service's sidecars listen on them too, Announce gives them
// to its callers (the old ones keep being served, draining), Close stops
// serving the old ones.
package rotation

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/meshward/meshward/xds/catalog"
)

// Why a move is refused; callers tell them apart with errors.Is.
var (
	ErrUnknownService = errors.New("no such service")
	ErrOtherService   = errors.New("port belongs to another service")
	ErrOutsidePool    = errors.New("port outside the service's pool")
	ErrNoPort         = errors.New("no port or address to rotate to")
	ErrMoving         = errors.New("the service is already moving")
	ErrStale          = errors.New("the move is not the service's current one")
)

// Placement is where every service's endpoints are at one version.
type Placement struct {
	Version uint64
	// Announced counts the changes callers see (Announce): opening and
	// closing sockets change only what the service's sidecars serve.
	Announced uint64
	endpoints map[string][]catalog.Endpoint // announced to callers
	extra     map[string][]catalog.Endpoint // served but not announced: opening or draining
	draining  map[string]bool               // the extra sockets are the old ones
}

// Endpoints returns a service's announced endpoints (a copy).
func (p *Placement) Endpoints(service string) []catalog.Endpoint {
	return slices.Clone(p.endpoints[service])
}

// Serving returns every socket the service's sidecars listen on: the
// announced ones, then those opening or draining.
func (p *Placement) Serving(service string) []catalog.Endpoint {
	return append(slices.Clone(p.endpoints[service]), p.extra[service]...)
}

// Socket is what one endpoint of a service serves: its announced socket,
// and another one while it moves (opening, or draining if drain).
type Socket struct {
	Announced catalog.Endpoint
	Other     *catalog.Endpoint
	Drain     bool
}

// Instance is what endpoint i of service serves, if it exists.
func (p *Placement) Instance(service string, i int) (Socket, bool) {
	eps := p.endpoints[service]
	if i < 0 || i >= len(eps) {
		return Socket{}, false
	}
	s := Socket{Announced: eps[i], Drain: p.draining[service]}
	if x := p.extra[service]; i < len(x) {
		o := x[i]
		s.Other = &o
	}
	return s, true
}

// Services lists the services, sorted.
func (p *Placement) Services() []string {
	return slices.Sorted(maps.Keys(p.endpoints))
}

// Move is one planned move of a service.
type Move struct {
	Service  string
	From, To []catalog.Endpoint
	id       uint64
}

// Planner owns the current placement.
type Planner struct {
	mu     sync.Mutex
	cat    *catalog.Catalog
	cur    *Placement
	recent map[string]*history
	moving map[string]uint64 // service -> id of its move under way
	nextID uint64
	moves  map[string][]time.Time // admitted moves in the last hour, for MaxPerHour
	now    func() time.Time
}

// New starts from the catalog's endpoints, at version 1.
func New(cat *catalog.Catalog) *Planner {
	eps := map[string][]catalog.Endpoint{}
	for _, s := range cat.Services {
		eps[s.Name] = slices.Clone(s.Endpoints)
	}
	return &Planner{cat: cat, cur: &Placement{Version: 1, Announced: 1, endpoints: eps, extra: map[string][]catalog.Endpoint{}, draining: map[string]bool{}},
		recent: map[string]*history{}, moving: map[string]uint64{}, moves: map[string][]time.Time{}, now: time.Now}
}

// Current is the placement now.
func (p *Planner) Current() *Placement {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Plan draws where service goes next: a port of its pool and, with an
// address pool, an address per endpoint, at random (crypto/rand), never
// the current ones nor recently used ones.
func (p *Planner) Plan(service string) (Move, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.cat.Lookup(service)
	if !ok {
		return Move{}, fmt.Errorf("rotation: %w: %q", ErrUnknownService, service)
	}
	if _, busy := p.moving[service]; busy {
		return Move{}, fmt.Errorf("rotation: %w: %q", ErrMoving, service)
	}
	from := p.cur.endpoints[service]
	to, err := p.draw(s, from)
	if err != nil {
		return Move{}, err
	}
	return p.begin(service, from, to), nil
}

// PlanPort plans moving every endpoint of service to port, keeping its
// address. The port must be in the service's pool: a port the operator did
// not give the service may be another service's, or nothing's (both break
// its clients).
func (p *Planner) PlanPort(service string, port uint32) (Move, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.cat.Lookup(service)
	if !ok {
		return Move{}, fmt.Errorf("rotation: %w: %q", ErrUnknownService, service)
	}
	from := p.cur.endpoints[service]
	to := make([]catalog.Endpoint, len(from))
	for i, e := range from {
		if o, taken := p.cat.Owner(e.Address, port); taken && o != service {
			return Move{}, fmt.Errorf("rotation: %w: %s:%d is service %q's", ErrOtherService, e.Address, port, o)
		}
		to[i] = catalog.Endpoint{Address: e.Address, Port: port}
	}
	if !s.InPool(port) {
		return Move{}, fmt.Errorf("rotation: %w: service %q may move to %s, not to %d", ErrOutsidePool, service, poolText(s), port)
	}
	if _, busy := p.moving[service]; busy {
		return Move{}, fmt.Errorf("rotation: %w: %q", ErrMoving, service)
	}
	return p.begin(service, from, to), nil
}

func poolText(s catalog.Service) string {
	t := fmt.Sprint(s.Ports)
	if r := s.PortRange; r != nil {
		t += fmt.Sprintf(" and %d-%d", r.From, r.To)
	}
	return t
}

func (p *Planner) begin(service string, from, to []catalog.Endpoint) Move {
	p.nextID++
	p.moving[service] = p.nextID
	p.count(service)
	h := p.history(service)
	for _, e := range from {
		h.add(e)
	}
	return Move{Service: service, From: slices.Clone(from), To: to, id: p.nextID}
}

// Open serves the move's new sockets beside the old ones; callers are not
// told yet.
func (p *Planner) Open(m Move) (*Placement, error) {
	return p.step(m, func(eps, extra map[string][]catalog.Endpoint) {
		extra[m.Service] = slices.Clone(m.To)
	}, false, false)
}

// Announce gives callers the new sockets; the old ones drain.
func (p *Planner) Announce(m Move) (*Placement, error) {
	return p.step(m, func(eps, extra map[string][]catalog.Endpoint) {
		eps[m.Service], extra[m.Service] = slices.Clone(m.To), slices.Clone(m.From)
	}, true, true)
}

// Close stops serving the old sockets and ends the move.
func (p *Planner) Close(m Move) (*Placement, error) {
	return p.end(m, func(eps, extra map[string][]catalog.Endpoint) {
		eps[m.Service] = slices.Clone(m.To)
		delete(extra, m.Service)
	})
}

// Abandon ends a move that was planned or opened but not announced: its
// new sockets are no longer served, callers never heard of them.
func (p *Planner) Abandon(m Move) (*Placement, error) {
	return p.end(m, func(eps, extra map[string][]catalog.Endpoint) {
		delete(extra, m.Service)
	})
}

// end is a move's last step: the service may move again after it.
func (p *Planner) end(m Move, change func(eps, extra map[string][]catalog.Endpoint)) (*Placement, error) {
	pl, err := p.step(m, change, false, false)
	if err == nil {
		p.mu.Lock()
		delete(p.moving, m.Service)
		p.mu.Unlock()
	}
	return pl, err
}

func (p *Planner) step(m Move, change func(eps, extra map[string][]catalog.Endpoint), announce, drain bool) (*Placement, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.moving[m.Service] != m.id || m.id == 0 {
		return nil, fmt.Errorf("rotation: %w: %q", ErrStale, m.Service)
	}
	eps, extra := maps.Clone(p.cur.endpoints), maps.Clone(p.cur.extra)
	change(eps, extra)
	draining := maps.Clone(p.cur.draining)
	draining[m.Service] = drain
	next := &Placement{Version: p.cur.Version + 1, Announced: p.cur.Announced, endpoints: eps, extra: extra, draining: draining}
	if announce {
		next.Announced++
	}
	p.cur = next
	return p.cur, nil
}

// Rotate moves service at once, all steps in a row: for callers that do
// not wait for anyone between them.
func (p *Planner) Rotate(service string) (*Placement, error) {
	m, err := p.Plan(service)
	if err != nil {
		return nil, err
	}
	return p.finish(m)
}

// MovePort moves service to port at once.
func (p *Planner) MovePort(service string, port uint32) (*Placement, error) {
	m, err := p.PlanPort(service, port)
	if err != nil {
		return nil, err
	}
	return p.finish(m)
}

func (p *Planner) finish(m Move) (*Placement, error) {
	if _, err := p.Open(m); err != nil {
		return nil, err
	}
	if _, err := p.Announce(m); err != nil {
		return nil, err
	}
	return p.Close(m)
}
