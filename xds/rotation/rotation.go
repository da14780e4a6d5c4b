// Package rotation plans moving-target defense: where each service's
// endpoints are now, and where they go next. Every change yields a new,
// immutable, versioned Placement; serving it is the xDS layer's job.
package rotation

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/meshward/meshward/xds/catalog"
)

// Why a move is refused; callers tell them apart with errors.Is.
var (
	ErrUnknownService = errors.New("no such service")
	ErrOtherService   = errors.New("port belongs to another service")
	ErrOutsidePool    = errors.New("port outside the service's pool")
	ErrNoPort         = errors.New("no port to rotate to")
)

// Placement is where every service's endpoints are at one version.
type Placement struct {
	Version   uint64
	endpoints map[string][]catalog.Endpoint
}

// Endpoints returns a service's endpoints (a copy).
func (p *Placement) Endpoints(service string) []catalog.Endpoint {
	return slices.Clone(p.endpoints[service])
}

// Services lists the services, sorted.
func (p *Placement) Services() []string {
	return slices.Sorted(maps.Keys(p.endpoints))
}

// Planner owns the current placement.
type Planner struct {
	mu   sync.Mutex
	cat  *catalog.Catalog
	cur  *Placement
	next map[string]int // index into the service's port pool
}

// New starts from the catalog's endpoints, at version 1.
func New(cat *catalog.Catalog) *Planner {
	eps := map[string][]catalog.Endpoint{}
	for _, s := range cat.Services {
		eps[s.Name] = slices.Clone(s.Endpoints)
	}
	return &Planner{cat: cat, cur: &Placement{Version: 1, endpoints: eps}, next: map[string]int{}}
}

// Current is the placement now.
func (p *Planner) Current() *Placement {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Move puts every endpoint of service on port, keeping its address. The
// port must be in the service's pool: a port the operator did not give the
// service may be another service's, or nothing's (both break its clients).
func (p *Planner) Move(service string, port uint32) (*Placement, error) {
	s, ok := p.cat.Lookup(service)
	if !ok {
		return nil, fmt.Errorf("rotation: %w: %q", ErrUnknownService, service)
	}
	for _, e := range s.Endpoints {
		if o, taken := p.cat.Owner(e.Address, port); taken && o != service {
			return nil, fmt.Errorf("rotation: %w: %s:%d is service %q's", ErrOtherService, e.Address, port, o)
		}
	}
	if !s.InPool(port) {
		return nil, fmt.Errorf("rotation: %w: service %q may move to %v, not to %d", ErrOutsidePool, service, s.Ports, port)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.moveLocked(service, port), nil
}

// moveLocked applies a checked move.
func (p *Planner) moveLocked(service string, port uint32) *Placement {
	old := p.cur.endpoints[service]
	moved := make([]catalog.Endpoint, len(old))
	for i, e := range old {
		moved[i] = catalog.Endpoint{Address: e.Address, Port: port}
	}
	eps := maps.Clone(p.cur.endpoints)
	eps[service] = moved
	p.cur = &Placement{Version: p.cur.Version + 1, endpoints: eps}
	return p.cur
}

// Rotate moves service to the next port of its pool that it is not on now.
func (p *Planner) Rotate(service string) (*Placement, error) {
	s, ok := p.cat.Lookup(service)
	if !ok {
		return nil, fmt.Errorf("rotation: %w: %q", ErrUnknownService, service)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cur.endpoints[service][0].Port
	for range s.Ports {
		i := p.next[service] % len(s.Ports)
		p.next[service] = i + 1
		if s.Ports[i] != now {
			return p.moveLocked(service, s.Ports[i]), nil
		}
	}
	return nil, fmt.Errorf("rotation: %w: service %q (pool %v, now on %d)", ErrNoPort, service, s.Ports, now)
}
