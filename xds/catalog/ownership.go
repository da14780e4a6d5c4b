package catalog

import (
	"fmt"
	"net/netip"
)

// MaxSockets bounds the address:port pairs a catalog may give its services
// (endpoints times one plus the pool ports, summed): the ownership index is
// that large.
const MaxSockets = 1 << 20

// socket is one address:port a service may be reached at.
type socket struct {
	addr netip.Addr
	port uint32
}

// index maps every address:port a service may be reached at to that service.
// A service may be reached on each of its endpoints' addresses, at the
// endpoint's port or at a pool port.
//
// It refuses a catalog in which two services could ever hold the same
// address:port: a rotation to such a port would send one service's clients
// to the other.
func index(services []Service) (map[socket]string, error) {
	total := 0
	for _, s := range services {
		total += len(s.Endpoints) * (1 + len(s.Ports))
		if total > MaxSockets {
			return nil, fmt.Errorf("%d: more than %d address:port pairs in endpoints times pool ports", s.Line, MaxSockets)
		}
	}
	owner := make(map[socket]string, total)
	line := map[string]int{}
	for _, s := range services {
		line[s.Name] = s.Line
		for _, k := range sockets(s) {
			if o, taken := owner[k]; taken && o != s.Name {
				return nil, fmt.Errorf("%d: service %q may be on %s, which service %q (line %d) may also hold",
					s.Line, s.Name, netip.AddrPortFrom(k.addr, uint16(k.port)), o, line[o])
			}
			owner[k] = s.Name
		}
	}
	return owner, nil
}

func sockets(s Service) []socket {
	out := make([]socket, 0, len(s.Endpoints)*(1+len(s.Ports)))
	for _, e := range s.Endpoints {
		a, err := netip.ParseAddr(e.Address)
		if err != nil {
			continue // validated before it gets here
		}
		a = a.Unmap()
		out = append(out, socket{a, e.Port})
		for _, p := range s.Ports {
			out = append(out, socket{a, p})
		}
	}
	return out
}

// Owner returns the service that may be reached at address:port, if any.
func (c *Catalog) Owner(address string, port uint32) (string, bool) {
	a, err := netip.ParseAddr(address)
	if err != nil {
		return "", false
	}
	name, ok := c.owners[socket{a.Unmap(), port}]
	return name, ok
}
