package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// MaxAddrPool bounds the control plane's own address pool: the pool is
// configuration, and a range typed by mistake must not become a million
// sockets to draw among.
const MaxAddrPool = 4096

// ErrNoSelfAddr: every address of the pool is current, recent or taken.
var ErrNoSelfAddr = errors.New("no address of the control plane's pool is free")

// ParseAddrPool reads the ADS address pool: items separated by commas, each
// ADDRESS:PORT or ADDRESS:FROM-TO (a port range on one address). Addresses
// must be unicast and specified (a wildcard listener would hold every
// address, so the old one would never close).
func ParseAddrPool(s string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		socks, err := poolItem(item, MaxAddrPool-len(out))
		if err != nil {
			return nil, fmt.Errorf("addr pool item %d (%q): %w", i+1, item, err)
		}
		for _, a := range socks {
			if seen[a] {
				return nil, fmt.Errorf("addr pool item %d (%q): %s is in the pool twice", i+1, item, a)
			}
			seen[a] = true
		}
		out = append(out, socks...)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("addr pool %q: want at least 2 sockets to move among, have %d", s, len(out))
	}
	return out, nil
}

// poolItem reads one item, refusing one that would take the pool past room.
func poolItem(item string, room int) ([]netip.AddrPort, error) {
	host, ports, err := splitHostPorts(item)
	if err != nil {
		return nil, err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	if addr.IsUnspecified() || addr.IsMulticast() || addr.Zone() != "" {
		return nil, fmt.Errorf("address %s: want a specified unicast address without a zone", addr)
	}
	from, to, err := portRange(ports)
	if err != nil {
		return nil, err
	}
	if int(to-from)+1 > room {
		return nil, fmt.Errorf("the pool would hold more than %d sockets", MaxAddrPool)
	}
	out := make([]netip.AddrPort, 0, int(to-from)+1)
	for p := int(from); p <= int(to); p++ {
		out = append(out, netip.AddrPortFrom(addr.Unmap(), uint16(p)))
	}
	return out, nil
}

func splitHostPorts(item string) (host, ports string, err error) {
	i := strings.LastIndexByte(item, ':')
	if i < 0 {
		return "", "", errors.New("want ADDRESS:PORT or ADDRESS:FROM-TO")
	}
	host, ports = item[:i], item[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return host, ports, nil
}

func portRange(s string) (from, to uint16, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if from, err = port(lo); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return from, from, nil
	}
	if to, err = port(hi); err != nil {
		return 0, 0, err
	}
	if to < from {
		return 0, 0, fmt.Errorf("port range %s: the end is before the start", s)
	}
	return from, to, nil
}

func port(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("port %q: want 1-65535", s)
	}
	return uint16(p), nil
}

// selfPool draws the control plane's next address: never the current one,
// never one of the last `recent`, each of the others alike likely
// (crypto/rand, so a watcher of past moves learns nothing of the next).
type selfPool struct {
	addrs   []netip.AddrPort
	recent  int
	history []netip.AddrPort // most recent last; the current address is its last
}

// newSelfPool keeps recent past addresses out of the draw, leaving at
// least one address to move to. Negative: (pool-1)/2, so that at least
// half of the other addresses remain to be drawn (more recent ones would
// make the next address predictable: with a pool of 4 and 2 recent, only
// one is left).
func newSelfPool(addrs []netip.AddrPort, recent int) (*selfPool, error) {
	if len(addrs) < 2 {
		return nil, fmt.Errorf("addr pool: want at least 2 sockets, have %d", len(addrs))
	}
	if recent < 0 {
		recent = (len(addrs) - 1) / 2
	}
	if recent > len(addrs)-2 {
		return nil, fmt.Errorf("addr pool: %d recent addresses kept out of a pool of %d leave nothing to draw (at most %d)",
			recent, len(addrs), len(addrs)-2)
	}
	return &selfPool{addrs: slices.Clone(addrs), recent: recent}, nil
}

// draw picks an address that is neither current nor recent and that
// usable admits (nil: any).
func (p *selfPool) draw(usable func(netip.AddrPort) bool) (netip.AddrPort, error) {
	var candidates []netip.AddrPort
	for _, a := range p.addrs {
		if !p.excluded(a) && (usable == nil || usable(a)) {
			candidates = append(candidates, a)
		}
	}
	if len(candidates) == 0 {
		return netip.AddrPort{}, ErrNoSelfAddr
	}
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(candidates))))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return candidates[i.Int64()], nil
}

// excluded: the current address and the recent ones before it.
func (p *selfPool) excluded(a netip.AddrPort) bool {
	return slices.Contains(p.history[max(0, len(p.history)-1-p.recent):], a)
}

// moved records that the control plane now listens on a.
func (p *selfPool) moved(a netip.AddrPort) {
	p.history = append(p.history, a)
	if len(p.history) > p.recent+1 {
		p.history = slices.Delete(p.history, 0, len(p.history)-p.recent-1)
	}
}

// current is the address moved to last (zero before the first).
func (p *selfPool) current() netip.AddrPort {
	if len(p.history) == 0 {
		return netip.AddrPort{}
	}
	return p.history[len(p.history)-1]
}
