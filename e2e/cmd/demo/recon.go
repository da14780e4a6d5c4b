package main

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/meshward/meshward/e2e/recon"
	"github.com/meshward/meshward/e2e/system"
)

// reconStep shows what the moves do to an attacker's map: a scanner maps
// orders' pools (orders behind an e2e sidecar that follows LDS, frontend
// callers that follow their EDS), then orders moves twice, its port named
// by an operator and then port and address drawn by the server; each
// time the socket the scanner holds is closed while the callers followed.
func reconStep(ctx context.Context, o system.Options) error {
	wasm, err := filepath.Abs(o.WasmPath)
	if err != nil {
		return err
	}
	o.WasmPath = wasm
	x, err := system.StartSidecarXDS(ctx, o, system.SidecarXDSOptions{Ports: 4, Addresses: 3, Callers: 2,
		AckTimeout: 5 * time.Second, Grace: 20 * time.Millisecond})
	if err != nil {
		return err
	}
	defer x.Close()
	addrs, ports, owner, err := system.ScanTargets([]*system.SidecarXDS{x})
	if err != nil {
		return err
	}
	at := x.XDS.Server.Current().Endpoints(system.Moved)[0].String()
	if err := x.Callers.WaitCalledOn(ctx, at, 20); err != nil {
		return err
	}
	mapped, err := scanOrders(ctx, addrs, ports, owner)
	if err != nil {
		return err
	}
	fmt.Printf("   recon    a scanner inside the mesh maps orders' pools (%d addresses × %d ports); orders' sidecar follows LDS:\n", len(addrs), len(ports))
	fmt.Printf("   %-11s %-38s %s\n", "", "the scanner's map", "the callers (each follows its own EDS)")
	fmt.Printf("   %-11s %-38s %s\n", "mapped", mapped.String()+" open", calls(x, at))
	for _, m := range []struct {
		name, why string
		port      uint32
	}{
		{"port moved", fmt.Sprintf("an operator's POST /rotate?port=%d", x.Ports[1]), x.Ports[1]},
		{"drawn move", "port and address drawn by the server; the scanner had mapped again", 0},
	} {
		to, err := moveAndWait(ctx, x, m.port)
		if err != nil {
			return err
		}
		still, err := recon.Connect{}.Probe(ctx, []netip.AddrPort{mapped})
		if err != nil {
			return err
		}
		fmt.Printf("   %-11s %-38s %s (%s)\n", m.name, mapped.String()+" "+openOrStale(len(still) > 0), calls(x, to), m.why)
		if mapped, err = scanOrders(ctx, addrs, ports, owner); err != nil { // the attacker maps again
			return err
		}
	}
	return nil
}

// scanOrders is the one socket of orders the connect scanner finds.
func scanOrders(ctx context.Context, addrs []netip.Addr, ports []uint16, owner func(netip.AddrPort) (int, bool)) (netip.AddrPort, error) {
	found, err := recon.Connect{}.Scan(ctx, addrs, ports)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var ours []netip.AddrPort
	for _, f := range found {
		if _, ok := owner(f); ok {
			ours = append(ours, f)
		}
	}
	if len(ours) != 1 {
		return netip.AddrPort{}, fmt.Errorf("the scanner found orders on %v, want one socket", ours)
	}
	return ours[0], nil
}

// moveAndWait moves orders (port 0: drawn by the server) and waits until
// the callers called the new socket and the sidecar closed the old one.
func moveAndWait(ctx context.Context, x *system.SidecarXDS, port uint32) (string, error) {
	old := x.XDS.Server.Current().Endpoints(system.Moved)[0].String()
	p, err := x.XDS.Server.Move(ctx, system.Moved, port, "admin")
	if err != nil {
		return "", err
	}
	to := p.Endpoints(system.Moved)[0].String()
	if err := x.Callers.WaitCalledOn(ctx, to, 20); err != nil {
		return "", err
	}
	return to, x.WaitSockets(ctx, func(s map[string]bool) bool { _, open := s[old]; return !open })
}

func calls(x *system.SidecarXDS, socket string) string {
	r := x.Callers.Report()
	return fmt.Sprintf("on %-21s %4d calls there, %d failed in all", socket, r.BySocket[socket], r.Failed)
}

func openOrStale(open bool) string {
	if open {
		return "still open"
	}
	return "closed (stale)"
}
