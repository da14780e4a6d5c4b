package rotation

import (
	"fmt"
	"maps"
	"slices"

	"github.com/meshward/meshward/xds/catalog"
)

// SetCatalog takes a new catalog (a reload): a service that stays keeps its
// endpoints where the new catalog still lets it be (its endpoints, or
// sockets of its new pools), and starts again from the catalog's endpoints
// otherwise; a new service starts from its endpoints; a service gone is
// gone. Refused while a move is under way (its steps name the old
// catalog's sockets): the caller tries again once it ended.
func (p *Planner) SetCatalog(cat *catalog.Catalog) (*Placement, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.moving) > 0 {
		return nil, fmt.Errorf("rotation: %w: %v", ErrMoving, slices.Sorted(maps.Keys(p.moving)))
	}
	eps := map[string][]catalog.Endpoint{}
	for _, s := range cat.Services {
		eps[s.Name] = slices.Clone(s.Endpoints)
		if cur, ok := p.cur.endpoints[s.Name]; ok && stillValid(cat, s, cur) {
			eps[s.Name] = slices.Clone(cur)
		}
	}
	for name := range p.recent {
		if _, ok := cat.Lookup(name); !ok {
			delete(p.recent, name)
			delete(p.moves, name)
		}
	}
	p.cat = cat
	p.cur = &Placement{Version: p.cur.Version + 1, Announced: p.cur.Announced + 1, endpoints: eps,
		extra: map[string][]catalog.Endpoint{}, draining: map[string]bool{}}
	return p.cur, nil
}

// stillValid: the new catalog lets s be on cur: as many endpoints as it
// lists, each on one of its endpoints' sockets or on its pools, and owned
// by s alone.
func stillValid(cat *catalog.Catalog, s catalog.Service, cur []catalog.Endpoint) bool {
	if len(cur) != len(s.Endpoints) {
		return false
	}
	for i, e := range cur {
		home := s.Endpoints[i]
		addrOK := e.Address == home.Address || s.InAddressPool(e.Address)
		portOK := e.Port == home.Port || s.InPool(e.Port)
		if owner, _ := cat.Owner(e.Address, e.Port); !addrOK || !portOK || owner != s.Name {
			return false
		}
	}
	return true
}

// Catalog is the catalog the planner plans with now.
func (p *Planner) Catalog() *catalog.Catalog {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cat
}
