// Package recon is an attacker's reconnaissance of a moving target: a TCP
// connect scanner of its own, a runner for nmap's connect scan, and the
// half-life measurement (how much of what a scan found still answers a
// while later). Targets are explicit loopback addresses only: these tools
// run beside the tests on shared machines, and must never send a packet
// off the host.
package recon

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// MaxProbes bounds one scan (addresses × ports): a scan is a list of
// sockets held in memory.
const MaxProbes = 1 << 20

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// CheckTarget refuses anything but a plain IPv4 address in 127.0.0.0/8.
// An IPv4-mapped IPv6 form is refused too: a target is named one way.
func CheckTarget(a netip.Addr) error {
	if !a.Is4() || !loopback.Contains(a) {
		return fmt.Errorf("recon: target %v is outside 127.0.0.0/8: refused", a)
	}
	return nil
}

// Sockets is every address with every port, after checking both.
func Sockets(addrs []netip.Addr, ports []uint16) ([]netip.AddrPort, error) {
	if len(addrs) == 0 || len(ports) == 0 {
		return nil, errors.New("recon: no addresses or no ports to scan")
	}
	if len(addrs)*len(ports) > MaxProbes {
		return nil, fmt.Errorf("recon: %d addresses × %d ports is over %d probes", len(addrs), len(ports), MaxProbes)
	}
	out := make([]netip.AddrPort, 0, len(addrs)*len(ports))
	for _, a := range addrs {
		if err := CheckTarget(a); err != nil {
			return nil, err
		}
		for _, p := range ports {
			if p == 0 {
				return nil, fmt.Errorf("recon: port 0 on %v", a)
			}
			out = append(out, netip.AddrPortFrom(a, p))
		}
	}
	return out, nil
}

// checkSockets refuses a list with a socket off loopback or on port 0.
func checkSockets(socks []netip.AddrPort) error {
	if len(socks) > MaxProbes {
		return fmt.Errorf("recon: %d sockets is over %d probes", len(socks), MaxProbes)
	}
	for _, s := range socks {
		if err := CheckTarget(s.Addr()); err != nil {
			return err
		}
		if s.Port() == 0 {
			return fmt.Errorf("recon: port 0 on %v", s.Addr())
		}
	}
	return nil
}

// PortList writes ports as nmap's -p takes them: sorted, runs as ranges
// ("40000-40003,41007").
func PortList(ports []uint16) string {
	ps := slices.Clone(ports)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	var b strings.Builder
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(ps[i])))
		if j > i {
			b.WriteString("-" + strconv.Itoa(int(ps[j])))
		}
		i = j + 1
	}
	return b.String()
}

// sortSockets orders sockets by address, then port.
func sortSockets(s []netip.AddrPort) {
	slices.SortFunc(s, func(a, b netip.AddrPort) int { return a.Compare(b) })
}
