package catalog

import (
	"fmt"
	"net/netip"
	"slices"
)

// validatePools checks the ports and addresses a service may move to.
func (s *Service) validatePools() error {
	if len(s.Ports) > MaxPoolPorts {
		return fmt.Errorf("%d pool ports, want at most %d", len(s.Ports), MaxPoolPorts)
	}
	for _, p := range s.Ports {
		if p == 0 || p > 65535 {
			return fmt.Errorf("port %d out of range", p)
		}
	}
	if r := s.PortRange; r != nil && (r.From == 0 || r.To > 65535 || r.From > r.To) {
		return fmt.Errorf("portRange %d-%d: want 1 ≤ from ≤ to ≤ 65535", r.From, r.To)
	}
	if len(s.Addresses) > MaxPoolAddresses {
		return fmt.Errorf("%d pool addresses, want at most %d", len(s.Addresses), MaxPoolAddresses)
	}
	seen := map[netip.Addr]bool{}
	for i, a := range s.Addresses {
		ip, err := parseUnicast(a)
		if err != nil {
			return fmt.Errorf("pool address %d: %v", i, err)
		}
		if seen[ip] {
			return fmt.Errorf("pool address %s listed twice", a)
		}
		seen[ip] = true
	}
	if n := len(s.Addresses); n > 0 && n < len(s.Endpoints) {
		return fmt.Errorf("%d pool addresses for %d endpoints: each endpoint moves to an address of its own", n, len(s.Endpoints))
	}
	return nil
}

func parseUnicast(a string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return ip, fmt.Errorf("address %q is not an IP address", a)
	}
	if !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsGlobalUnicast() {
		return ip, fmt.Errorf("address %q is not a unicast address", a)
	}
	return ip.Unmap(), nil
}

// InPool reports whether port is one the service may move to.
func (s Service) InPool(port uint32) bool {
	if r := s.PortRange; r != nil && port >= r.From && port <= r.To {
		return true
	}
	return slices.Contains(s.Ports, port)
}

// PoolPorts counts the ports the service may move to (a port both listed
// and in the range counts twice: the count only bounds the draw).
func (s Service) PoolPorts() int {
	n := len(s.Ports)
	if r := s.PortRange; r != nil {
		n += int(r.To-r.From) + 1
	}
	return n
}

// PoolPort is the i-th pool port, 0 ≤ i < PoolPorts().
func (s Service) PoolPort(i int) uint32 {
	if i < len(s.Ports) {
		return s.Ports[i]
	}
	return s.PortRange.From + uint32(i-len(s.Ports))
}

// InAddressPool reports whether address is one the service's endpoints may
// move to.
func (s Service) InAddressPool(address string) bool {
	ip, err := netip.ParseAddr(address)
	if err != nil {
		return false
	}
	for _, a := range s.Addresses {
		if p, err := netip.ParseAddr(a); err == nil && p.Unmap() == ip.Unmap() {
			return true
		}
	}
	return false
}

// reach is every address and port a service may ever be on.
type reach struct {
	addrs map[netip.Addr]bool
	ports map[uint32]bool
	rng   *PortRange
}

func reachOf(s Service) reach {
	r := reach{addrs: map[netip.Addr]bool{}, ports: map[uint32]bool{}, rng: s.PortRange}
	for _, e := range s.Endpoints {
		if ip, err := netip.ParseAddr(e.Address); err == nil {
			r.addrs[ip.Unmap()] = true
		}
		r.ports[e.Port] = true
	}
	for _, a := range s.Addresses {
		if ip, err := netip.ParseAddr(a); err == nil {
			r.addrs[ip.Unmap()] = true
		}
	}
	for _, p := range s.Ports {
		r.ports[p] = true
	}
	return r
}

func (r reach) hasPort(p uint32) bool {
	return r.ports[p] || (r.rng != nil && p >= r.rng.From && p <= r.rng.To)
}

// overlap is an address:port both may hold, if any.
func (r reach) overlap(o reach) (netip.AddrPort, bool) {
	var addr netip.Addr
	for a := range r.addrs {
		if o.addrs[a] && (!addr.IsValid() || a.Less(addr)) {
			addr = a
		}
	}
	if !addr.IsValid() {
		return netip.AddrPort{}, false
	}
	port, ok := r.commonPort(o)
	return netip.AddrPortFrom(addr, uint16(port)), ok
}

// commonPort is the lowest port both may use.
func (r reach) commonPort(o reach) (uint32, bool) {
	best, found := uint32(0), false
	try := func(p uint32) {
		if !found || p < best {
			best, found = p, true
		}
	}
	for p := range r.ports {
		if o.hasPort(p) {
			try(p)
		}
	}
	for p := range o.ports {
		if r.hasPort(p) {
			try(p)
		}
	}
	if r.rng != nil && o.rng != nil {
		if lo, hi := max(r.rng.From, o.rng.From), min(r.rng.To, o.rng.To); lo <= hi {
			try(lo)
		}
	}
	return best, found
}

// Owner returns the service that may be reached at address:port, if any.
func (c *Catalog) Owner(address string, port uint32) (string, bool) {
	ip, err := netip.ParseAddr(address)
	if err != nil {
		return "", false
	}
	for i, r := range c.reaches {
		if r.addrs[ip.Unmap()] && r.hasPort(port) {
			return c.Services[i].Name, true
		}
	}
	return "", false
}
