package system

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/meshward/meshward/xds/catalog"
)

// StartSideBySide starts n runs of StartSidecarXDS in one process, for a
// scanner to map them all at once. The runs share the pools' addresses
// (StartSidecarXDS derives them from the process id), so the runs' ports
// must not overlap: a run whose ports meet an earlier run's is started
// again, and a scanner tells the runs apart by port.
func StartSideBySide(ctx context.Context, so Options, o SidecarXDSOptions, n int) ([]*SidecarXDS, error) {
	var runs []*SidecarXDS
	taken := map[uint32]bool{}
	for len(runs) < n {
		x, err := startApart(ctx, so, o, taken)
		if err != nil {
			for _, r := range runs {
				r.Close()
			}
			return nil, err
		}
		for _, p := range x.Ports {
			taken[p] = true
		}
		runs = append(runs, x)
	}
	return runs, nil
}

func startApart(ctx context.Context, so Options, o SidecarXDSOptions, taken map[uint32]bool) (*SidecarXDS, error) {
	for range 5 {
		x, err := StartSidecarXDS(ctx, so, o)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(x.Ports, func(p uint32) bool { return taken[p] }) {
			return x, nil
		}
		x.Close()
	}
	return nil, errors.New("five runs in a row drew a port of an earlier run")
}

// Rotate has orders move by itself on schedule sc (the server's timers,
// not moves asked for): the run's catalog is served again with sc as
// orders' rotation. The timers live as long as ctx.
//
// With a phase, the first move comes phase after the call and the moves
// every sc.Every ± sc.Jitter after that: a first schedule of Every = phase
// (at least 1 s, the catalog's minimum) and then sc. Rotate returns once sc
// is served. A scan made at the call's time thus meets the rotation at
// the phase the caller drew.
func (x *SidecarXDS) Rotate(ctx context.Context, sc catalog.Schedule, phase time.Duration) error {
	if phase <= 0 {
		return x.serveSchedule(ctx, sc)
	}
	first := x.XDS.Server.Current().Endpoints(Moved)[0].String()
	lead := sc
	lead.Every, lead.Jitter = phase, 0
	if err := x.serveSchedule(ctx, lead); err != nil {
		return err
	}
	// The first move opens its new socket before anything else; serving sc
	// then waits until that move ended.
	moved := func(s map[string]bool) bool {
		_, still := s[first]
		return len(s) > 1 || !still && len(s) > 0
	}
	if err := x.WaitSockets(ctx, moved); err != nil {
		return err
	}
	return x.serveSchedule(ctx, sc)
}

// serveSchedule reloads the catalog StartSidecarXDS serves, with orders'
// rotation schedule sc.
func (x *SidecarXDS) serveSchedule(ctx context.Context, sc catalog.Schedule) error {
	cat, err := x.catalog(&sc)
	if err != nil {
		return err
	}
	return x.XDS.Server.Reload(ctx, cat)
}

// ScanTargets is what a scanner of the runs is pointed at: their pools'
// addresses and every port of their pools, and which run owns a socket
// (its index in runs): a socket on a run's port and address.
func ScanTargets(runs []*SidecarXDS) (addrs []netip.Addr, ports []uint16, owner func(netip.AddrPort) (int, bool), err error) {
	byPort := map[uint16]int{}
	inPool := map[netip.AddrPort]bool{}
	seen := map[netip.Addr]bool{}
	for i, x := range runs {
		for _, a := range x.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return nil, nil, nil, err
			}
			if !seen[ip] {
				seen[ip] = true
				addrs = append(addrs, ip)
			}
			for _, p := range x.Ports {
				inPool[netip.AddrPortFrom(ip, uint16(p))] = true
			}
		}
		for _, p := range x.Ports {
			byPort[uint16(p)] = i
			ports = append(ports, uint16(p))
		}
	}
	owner = func(s netip.AddrPort) (int, bool) {
		i, ok := byPort[s.Port()]
		return i, ok && inPool[s]
	}
	return addrs, ports, owner, nil
}
