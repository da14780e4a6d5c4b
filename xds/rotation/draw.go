package rotation

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/meshward/meshward/xds/catalog"
)

// history is what a service was on lately: a port or address it left is
// not drawn again until Recent others were, so an attacker who mapped the
// service once cannot wait for it to come back.
type history struct {
	ports []uint32
	addrs []string
}

func (p *Planner) history(service string) *history {
	h := p.recent[service]
	if h == nil {
		h = &history{}
		p.recent[service] = h
	}
	return h
}

// maxHistory bounds what a history keeps, whatever the pool's size.
const maxHistory = 1024

func (h *history) add(e catalog.Endpoint) {
	h.ports = pushRecent(h.ports, e.Port)
	h.addrs = pushRecent(h.addrs, e.Address)
}

func pushRecent[T comparable](xs []T, x T) []T {
	if i := slices.Index(xs, x); i >= 0 {
		xs = slices.Delete(xs, i, i+1)
	}
	xs = append(xs, x)
	if len(xs) > maxHistory {
		xs = xs[len(xs)-maxHistory:]
	}
	return xs
}

// last is the n most recent entries.
func last[T any](xs []T, n int) []T {
	return xs[max(0, len(xs)-n):]
}

// recentFor is how many past ports or addresses the service avoids: its
// schedule's Recent, or half its pool.
func recentFor(s catalog.Service, pool int) int {
	if s.Rotation != nil && s.Rotation.Recent > 0 {
		return s.Rotation.Recent
	}
	return pool / 2
}

// draw picks the sockets of a move: a fresh port (if the service has a
// port pool) and a fresh address per endpoint (if it has an address pool).
func (p *Planner) draw(s catalog.Service, from []catalog.Endpoint) ([]catalog.Endpoint, error) {
	if s.PoolPorts() == 0 && len(s.Addresses) == 0 {
		return nil, fmt.Errorf("rotation: %w: service %q has neither a port nor an address pool", ErrNoPort, s.Name)
	}
	h := p.history(s.Name)
	port := from[0].Port
	if n := s.PoolPorts(); n > 0 {
		avoid := append(slices.Clone(last(h.ports, recentFor(s, n))), endpointPorts(from)...)
		i, err := pick(n, func(i int) bool { return !slices.Contains(avoid, s.PoolPort(i)) },
			func(i int) bool { return !slices.Contains(endpointPorts(from), s.PoolPort(i)) })
		if err != nil {
			return nil, fmt.Errorf("rotation: %w: service %q: every pool port is in use now", ErrNoPort, s.Name)
		}
		port = s.PoolPort(i)
	}
	to := make([]catalog.Endpoint, len(from))
	taken := map[string]bool{}
	for i, e := range from {
		to[i] = catalog.Endpoint{Address: e.Address, Port: port}
		if len(s.Addresses) == 0 {
			continue
		}
		a, err := p.drawAddress(s, from, taken)
		if err != nil {
			return nil, err
		}
		to[i].Address, taken[a] = a, true
	}
	return to, nil
}

func (p *Planner) drawAddress(s catalog.Service, from []catalog.Endpoint, taken map[string]bool) (string, error) {
	h := p.history(s.Name)
	current := map[string]bool{}
	for _, e := range from {
		current[canonical(e.Address)] = true
	}
	recent := map[string]bool{}
	for _, a := range last(h.addrs, recentFor(s, len(s.Addresses))) {
		recent[canonical(a)] = true
	}
	free := func(i int) bool {
		a := canonical(s.Addresses[i])
		return !current[a] && !taken[a]
	}
	i, err := pick(len(s.Addresses), func(i int) bool { return free(i) && !recent[canonical(s.Addresses[i])] }, free)
	if err != nil {
		return "", fmt.Errorf("rotation: %w: service %q: every pool address is in use now", ErrNoPort, s.Name)
	}
	return canonical(s.Addresses[i]), nil
}

func canonical(a string) string {
	if ip, err := netip.ParseAddr(a); err == nil {
		return ip.Unmap().String()
	}
	return a
}

func endpointPorts(eps []catalog.Endpoint) []uint32 {
	out := make([]uint32, len(eps))
	for i, e := range eps {
		out[i] = e.Port
	}
	return out
}

// pick draws an index in [0, n) uniformly at random (crypto/rand) among
// those best allows, or, if none, among those ok allows.
func pick(n int, best, ok func(int) bool) (int, error) {
	for _, allowed := range []func(int) bool{best, ok} {
		if i, found := pickAmong(n, allowed); found {
			return i, nil
		}
	}
	return 0, ErrNoPort
}

// pickAmong tries rejection sampling first (pools are mostly free), then
// draws among the allowed indices listed.
func pickAmong(n int, allowed func(int) bool) (int, bool) {
	for range 32 {
		if i := uniform(n); allowed(i) {
			return i, true
		}
	}
	var free []int
	for i := range n {
		if allowed(i) {
			free = append(free, i)
		}
	}
	if len(free) == 0 {
		return 0, false
	}
	return free[uniform(len(free))], true
}

// uniform is a uniformly random int in [0, n), n > 0, from crypto/rand
// (rejection of the biased top so every value is equally likely).
func uniform(n int) int {
	limit := ^uint64(0) - ^uint64(0)%uint64(n)
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
		if v := binary.LittleEndian.Uint64(b[:]); v < limit {
			return int(v % uint64(n))
		}
	}
}
