package recon

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Scanner maps the open sockets among addresses × ports, and probes a list
// of sockets again.
type Scanner interface {
	Name() string
	Scan(ctx context.Context, addrs []netip.Addr, ports []uint16) ([]netip.AddrPort, error)
	Probe(ctx context.Context, socks []netip.AddrPort) ([]netip.AddrPort, error)
}

// Plan is a half-life measurement: scan, then probe exactly what the scan
// found again after each delay.
type Plan struct {
	Addrs    []netip.Addr
	Ports    []uint16
	Scanners []Scanner
	Deltas   []time.Duration
	Scans    int           // scans per scanner
	Every    time.Duration // from the start of one scan to the next
	// Intervals are the rotation intervals of the services scanned; Owner
	// says which one a socket belongs to. A found socket that belongs to
	// none (another listener on a scanned port) is counted apart.
	Intervals []time.Duration
	Owner     func(netip.AddrPort) (time.Duration, bool)
}

// Sample is one scan's finding for one interval, probed again once.
type Sample struct {
	Interval  time.Duration `json:"interval"`
	Scanner   string        `json:"scanner"`
	Scan      int           `json:"scan"`
	Delta     time.Duration `json:"delta"`
	Took      time.Duration `json:"took"` // the scan, until t0
	Late      time.Duration `json:"late"` // how much after t0+Delta the probe ran
	Found     int           `json:"found"`
	Answering int           `json:"answering"`
}

// Result is what a measurement saw.
type Result struct {
	Samples []Sample
	Unowned int // found sockets of no scanned service
}

// Measure runs the plan: scan k starts at k×Every; each scanner's finding
// is probed again at t0+Δ for every Δ, t0 being when that scan ended (when
// the attacker holds the map). The first error ends the measurement.
func Measure(ctx context.Context, p Plan) (Result, error) {
	if err := p.check(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	m := &measure{plan: p, cancel: cancel}
	start := time.Now()
	for k := range p.Scans {
		if !sleepUntil(ctx, start.Add(time.Duration(k)*p.Every)) {
			break
		}
		for _, s := range p.Scanners {
			m.wg.Add(1)
			go func() { defer m.wg.Done(); m.scan(ctx, k, s) }()
		}
	}
	m.wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}
	return m.res, nil
}

func (p Plan) check() error {
	switch {
	case len(p.Scanners) == 0 || len(p.Deltas) == 0 || p.Scans <= 0:
		return fmt.Errorf("recon: a plan needs scanners (%d), deltas (%d) and scans (%d)", len(p.Scanners), len(p.Deltas), p.Scans)
	case p.Owner == nil || len(p.Intervals) == 0:
		return fmt.Errorf("recon: a plan needs intervals and an owner of sockets")
	}
	_, err := Sockets(p.Addrs, p.Ports)
	return err
}

type measure struct {
	plan   Plan
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    Result
}

func (m *measure) scan(ctx context.Context, k int, s Scanner) {
	start := time.Now()
	found, err := s.Scan(ctx, m.plan.Addrs, m.plan.Ports)
	if err != nil {
		m.cancel(fmt.Errorf("scan %d (%s): %w", k, s.Name(), err))
		return
	}
	t0 := time.Now()
	took := t0.Sub(start)
	owned := map[netip.AddrPort]time.Duration{}
	var probe []netip.AddrPort
	for _, f := range found {
		if iv, ok := m.plan.Owner(f); ok {
			owned[f] = iv
			probe = append(probe, f)
		}
	}
	m.mu.Lock()
	m.res.Unowned += len(found) - len(probe)
	m.mu.Unlock()
	for _, d := range m.plan.Deltas {
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.reprobe(ctx, probeOf{k, s, t0, took, d}, owned, probe) }()
	}
}

// probeOf is which scan a probe follows, and when.
type probeOf struct {
	k     int
	s     Scanner
	t0    time.Time
	took  time.Duration
	delta time.Duration
}

func (m *measure) reprobe(ctx context.Context, p probeOf, owned map[netip.AddrPort]time.Duration, probe []netip.AddrPort) {
	if !sleepUntil(ctx, p.t0.Add(p.delta)) {
		return
	}
	late := time.Since(p.t0.Add(p.delta))
	var answering []netip.AddrPort
	if len(probe) > 0 {
		var err error
		if answering, err = p.s.Probe(ctx, probe); err != nil {
			m.cancel(fmt.Errorf("scan %d (%s), probe after %v: %w", p.k, p.s.Name(), p.delta, err))
			return
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, iv := range m.plan.Intervals {
		smp := Sample{Interval: iv, Scanner: p.s.Name(), Scan: p.k, Delta: p.delta, Took: p.took, Late: late}
		for _, f := range probe {
			smp.Found += b2i(owned[f] == iv)
		}
		for _, a := range answering {
			smp.Answering += b2i(owned[a] == iv)
		}
		m.res.Samples = append(m.res.Samples, smp)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
