package envoy

import (
	"fmt"
	"net/netip"
)

// socketUse says what a socket is for: which addresses make sense differs.
type socketUse int

const (
	listen   socketUse = iota // Envoy binds it
	loopback                  // Envoy binds it and only local processes may reach it
	upstream                  // Envoy connects to it
)

// addrPort checks a socket for its use and returns it parsed.
func (s Socket) addrPort(use socketUse) (netip.AddrPort, error) {
	ip, err := netip.ParseAddr(s.Address)
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("address %q is not an IP address", s.Address)
	}
	if s.Port == 0 || s.Port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range 1-65535", s.Port)
	}
	ip = ip.Unmap()
	switch {
	case ip.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("address %s is multicast", ip)
	case use == upstream && ip.IsUnspecified():
		return netip.AddrPort{}, fmt.Errorf("address %s is unspecified: nothing to connect to", ip)
	case use == loopback && !ip.IsLoopback():
		return netip.AddrPort{}, fmt.Errorf("address %s is not loopback: any workload that reaches it would call with this sidecar's identity", ip)
	}
	return netip.AddrPortFrom(ip, uint16(s.Port)), nil
}

// bindsClash reports whether two listeners cannot both bind: the same
// socket, or the same port where one is the wildcard of the other's family.
func bindsClash(a, b netip.AddrPort) bool {
	if a.Port() != b.Port() {
		return false
	}
	if a.Addr() == b.Addr() {
		return true
	}
	return a.Addr().Is4() == b.Addr().Is4() && (a.Addr().IsUnspecified() || b.Addr().IsUnspecified())
}
