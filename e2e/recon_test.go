package e2e

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/meshward/meshward/e2e/recon"
	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/xds/catalog"
)

// An attacker inside the mesh scans orders' pools (the connect scanner and
// nmap), while the xDS server's timers move orders every 4 s ± 0.4 s and
// frontend callers that follow their EDS call it the whole time. Probed
// again at once, what the scans found answers; probed 10 s later (two or
// more moves), it does not: every port left stays out of the next draws
// (recent), so nothing found comes back within the delay. The callers saw
// no failure.
func TestReconFindingsGoStale(t *testing.T) {
	const every = 4 * time.Second
	deltas := []time.Duration{0, 10 * time.Second}
	ctx, x := startSidecarXDS(t, system.SidecarXDSOptions{Ports: 9, Addresses: 4, Callers: 2,
		AckTimeout: 10 * time.Second, Grace: 250 * time.Millisecond})
	if err := x.Callers.WaitCalledOn(ctx, endpointOf(x), 0); err != nil {
		t.Fatal(err)
	}
	sc := catalog.Schedule{Every: every, Jitter: every / 10, Grace: 250 * time.Millisecond, AckTimeout: 10 * time.Second,
		HardDeadline: 10 * time.Second}
	if err := x.Rotate(ctx, sc, 0); err != nil {
		t.Fatal(err)
	}
	scanners := []recon.Scanner{recon.Connect{}}
	nmap, nmapErr := recon.FindNmap()
	if nmapErr == nil {
		scanners = append(scanners, nmap)
	}
	addrs, ports, owner, err := system.ScanTargets([]*system.SidecarXDS{x})
	if err != nil {
		t.Fatal(err)
	}
	res, err := recon.Measure(ctx, recon.Plan{Addrs: addrs, Ports: ports, Scanners: scanners, Deltas: deltas,
		Scans: 8, Every: time.Second, Intervals: []time.Duration{every},
		Owner: func(s netip.AddrPort) (time.Duration, bool) { _, ok := owner(s); return every, ok }})
	if err != nil {
		t.Fatal(err)
	}
	cells := recon.Summarize(res.Samples)
	moves, err := x.Metric("meshward_xds_rotations_total", `trigger="timer"`)
	if err != nil {
		t.Fatal(err)
	}
	x.Callers.Stop()
	rep := x.Callers.Report()
	t.Logf("%v timed moves; %d legitimate calls on %d sockets, %d failed", moves, rep.Calls, len(rep.BySocket), rep.Failed)
	for _, s := range scanners {
		t.Run(s.Name(), func(t *testing.T) { assertStale(t, cells, every, s.Name(), deltas) })
	}
	if nmapErr != nil {
		t.Run("nmap", func(t *testing.T) { t.Skip(nmapErr) })
	}
	if rep.Failed != 0 || len(rep.Unready) != 0 {
		t.Fatalf("%d legitimate calls failed (first: %v); endpoints announced before they accepted: %v", rep.Failed, rep.FirstError, rep.Unready)
	}
}

func assertStale(t *testing.T, cells []recon.Cell, every time.Duration, scanner string, deltas []time.Duration) {
	now, err1 := share(cells, every, scanner, deltas[0])
	later, err2 := share(cells, every, scanner, deltas[1])
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	t.Logf("still answering: %.2f at once, %.2f after %v", now, later, deltas[1])
	if later > 0.1 || later >= now {
		t.Fatalf("after %v (rotation every %v) %.2f of what the scans found still answers (%.2f at once)", deltas[1], every, later, now)
	}
}

func share(cells []recon.Cell, every time.Duration, scanner string, d time.Duration) (float64, error) {
	c, ok := recon.Find(cells, every, scanner, d)
	if !ok || c.Share == nil || c.Samples == 0 {
		return 0, errors.New(scanner + ": no scan found orders (" + d.String() + ")")
	}
	return *c.Share, nil
}
