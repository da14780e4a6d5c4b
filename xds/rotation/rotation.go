// Package rotation plans moving-target defense: where each service's
// endpoints are now, and where they go next. Every change yields a new,
// immutable, versioned Placement; serving it is the xDS layer's job.
package rotation

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/meshward/meshward/xds/catalog"
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

// Move puts every endpoint of service on port, keeping its address.
func (p *Planner) Move(service string, port uint32) (*Placement, error) {
	if port == 0 || port > 65535 {
		return nil, fmt.Errorf("rotation: port %d out of range", port)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.moveLocked(service, port)
}

func (p *Planner) moveLocked(service string, port uint32) (*Placement, error) {
	old, ok := p.cur.endpoints[service]
	if !ok {
		return nil, fmt.Errorf("rotation: no service %q", service)
	}
	moved := make([]catalog.Endpoint, len(old))
	for i, e := range old {
		moved[i] = catalog.Endpoint{Address: e.Address, Port: port}
	}
	eps := maps.Clone(p.cur.endpoints)
	eps[service] = moved
	p.cur = &Placement{Version: p.cur.Version + 1, endpoints: eps}
	return p.cur, nil
}

// Rotate moves service to the next port of its pool that it is not on now.
func (p *Planner) Rotate(service string) (*Placement, error) {
	s, ok := p.cat.Lookup(service)
	if !ok {
		return nil, fmt.Errorf("rotation: no service %q", service)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cur.endpoints[service][0].Port
	for range s.Ports {
		i := p.next[service] % len(s.Ports)
		p.next[service] = i + 1
		if s.Ports[i] != now {
			return p.moveLocked(service, s.Ports[i])
		}
	}
	return nil, fmt.Errorf("rotation: service %q has no port to rotate to (pool %v, now on %d)", service, s.Ports, now)
}
