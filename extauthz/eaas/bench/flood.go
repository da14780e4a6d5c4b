package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// Flood phases.
const (
	NoFlood       = "no flood"
	MemberFlood   = "member of another subscriber"
	OutsiderFlood = "workload of no subscriber"
)

// FloodPhase is what legitimate requesters and attackers got in a phase.
type FloodPhase struct {
	Name          string
	Legit, Attack Result
}

// FloodReport is part 4.
type FloodReport struct {
	// Capacities are each round's C: real messages per second (an
	// encryption and a decryption per round trip) with Workers requesters
	// in a closed loop.
	Capacities []float64
	Workers    int
	Messages   int // frames per attack batch
	Timeout    time.Duration
	Rounds     int
	Duration   time.Duration
	Phases     []FloodPhase
}

type floodSetup struct {
	pairs      []*Pair
	next       atomic.Uint64
	data, fake []byte
	// The attackers, in this process or as processes of their own.
	clients map[string]rpc.RequesterClient
	orders  map[string]Attack
}

func newFloodSetup(ctx context.Context, m *Mesh, sc *Scenario, cfg Config) (*floodSetup, error) {
	victim, err := sc.Register(ctx, 911, cfg.Deception, "aes256-gcm")
	if err != nil {
		return nil, err
	}
	other, err := sc.Register(ctx, 912, cfg.FloodDeception, "aes256-gcm")
	if err != nil {
		return nil, err
	}
	f := &floodSetup{data: make([]byte, cfg.Size)}
	if _, err := rand.Read(f.data); err != nil {
		return nil, err
	}
	for range cfg.Workers {
		p, err := NewPair(ctx, m, victim)
		if err != nil {
			return nil, err
		}
		f.pairs = append(f.pairs, p)
	}
	// The attacker's fakes are well formed for its own subscriber: only
	// the token is wrong. The outsider sends the same bytes.
	mallory, err := newMember(m, other.A, other.URL)
	if err != nil {
		return nil, err
	}
	ms, err := mallory.session(ctx, nil)
	if err != nil {
		return nil, err
	}
	pal, err := newMember(m, other.B, other.URL)
	if err != nil {
		return nil, err
	}
	palID, err := pal.requesterID(ctx)
	if err != nil {
		return nil, err
	}
	if f.fake, err = FakeBatch(ms.E, palID, cfg.Size); err != nil {
		return nil, err
	}
	eveID := identity.SPIFFE("bench-none", "eve")
	eve, err := m.Client(eveID)
	if err != nil {
		return nil, err
	}
	f.clients = map[string]rpc.RequesterClient{MemberFlood: mallory.client,
		OutsiderFlood: {HTTP: eve, Base: other.URL}}
	return f, f.writeOrders(m, other.URL, map[string]string{MemberFlood: other.A, OutsiderFlood: eveID})
}

// writeOrders writes what attacker processes need: their identities and
// the batch.
func (f *floodSetup) writeOrders(m *Mesh, url string, ids map[string]string) error {
	dir, err := m.TempDir()
	if err != nil {
		return err
	}
	batch := filepath.Join(dir, "fake-batch")
	if err := os.WriteFile(batch, f.fake, 0o600); err != nil {
		return err
	}
	f.orders = map[string]Attack{}
	for name, id := range ids {
		a := Attack{URL: url, Batch: batch}
		if a.CA, a.Cert, a.Key, err = m.WriteIdentity(dir, id); err != nil {
			return err
		}
		f.orders[name] = a
	}
	return nil
}

func (f *floodSetup) legit(ctx context.Context, _ int) error {
	p := f.pairs[f.next.Add(1)%uint64(len(f.pairs))]
	return p.RoundTrip(ctx, f.data)
}

// Flood runs part 4 on scenario sc (α). Each round measures C anew (the
// machine is shared: what it can do moves), then runs every phase with the
// legitimate load at cfg.LegitShare × C and each attack at cfg.FloodFactor × C.
func Flood(ctx context.Context, m *Mesh, sc *Scenario, cfg Config, log io.Writer) (*FloodReport, error) {
	f, err := newFloodSetup(ctx, m, sc, cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range f.pairs {
		if err := p.RoundTrip(ctx, f.data); err != nil {
			return nil, fmt.Errorf("flood warm-up: %w", err)
		}
	}
	rep := &FloodReport{Workers: cfg.Workers, Messages: 1 << cfg.FloodDeception, Timeout: cfg.LegitTimeout,
		Rounds: cfg.FloodRounds, Duration: cfg.FloodDuration}
	names := []string{NoFlood, MemberFlood, OutsiderFlood}
	phases := map[string]*FloodPhase{}
	for _, n := range names {
		phases[n] = &FloodPhase{Name: n}
	}
	for r := range cfg.FloodRounds {
		c, err := f.capacity(ctx, cfg)
		if err != nil {
			return nil, err
		}
		rep.Capacities = append(rep.Capacities, c)
		fmt.Fprintf(log, "  round %d: C = %.0f real messages/s\n", r+1, c)
		for k := range names {
			ph := phases[names[(k+r)%len(names)]]
			legit, attack, err := f.phase(ctx, cfg, c, ph.Name)
			if err != nil {
				return nil, err
			}
			ph.Legit.Add(legit)
			ph.Attack.Add(attack)
			fmt.Fprintf(log, "  round %d %-28s legitimate %6.2f %% ok (p99 %s ms); attackers got: %s\n",
				r+1, ph.Name, 100*legit.SuccessRate(), ms(legit.Quantile(0.99)), attack.FailureSummary())
			if legit.FirstError != "" {
				fmt.Fprintf(log, "    first legitimate error: %s\n", legit.FirstError)
			}
		}
	}
	for _, n := range names {
		rep.Phases = append(rep.Phases, *phases[n])
	}
	return rep, nil
}

// capacity is C: real messages per second (two per round trip) with
// cfg.Workers requesters in a closed loop.
func (f *floodSetup) capacity(ctx context.Context, cfg Config) (float64, error) {
	res := ClosedLoop(ctx, cfg.Workers, cfg.CapacityDuration, f.legit, classify)
	if res.Failed() > 0 || res.OK() == 0 {
		return 0, fmt.Errorf("measuring capacity: %d round trips, failures: %s", res.OK(), res.FailureSummary())
	}
	return 2 * res.Throughput(), nil
}

// phase runs the legitimate load, and the attack of the phase, for the
// phase's duration; c is the round's capacity.
func (f *floodSetup) phase(ctx context.Context, cfg Config, c float64, name string) (Result, Result, error) {
	wait := func() (Result, error) { return Result{}, nil }
	if name != NoFlood {
		var err error
		if wait, err = f.attack(ctx, cfg, c, name); err != nil {
			return Result{}, Result{}, err
		}
	}
	rate := cfg.LegitShare * c / 2
	// Room for every round trip the timeout lets live (Little's law, twice):
	// a round trip the load could not start would have timed out anyway.
	open := int(2*rate*cfg.LegitTimeout.Seconds()) + cfg.Workers
	legit := OpenLoop(ctx, rate, cfg.FloodDuration, cfg.LegitTimeout, open, f.legit, classify)
	attack, err := wait()
	return legit, attack, err
}

// attack starts the phase's attackers, as processes of their own when
// cfg.AttackerCommand says how, and returns when they are under way.
func (f *floodSetup) attack(ctx context.Context, cfg Config, c float64, name string) (func() (Result, error), error) {
	batches := cfg.FloodFactor * c / float64(int(1)<<cfg.FloodDeception)
	if len(cfg.AttackerCommand) > 0 {
		return f.spawnAll(ctx, cfg, batches, name)
	}
	client := f.clients[name]
	done := make(chan Result, 1)
	go func() {
		done <- OpenLoop(ctx, batches, cfg.FloodDuration, cfg.LegitTimeout, cfg.FloodInFlight,
			func(ctx context.Context, _ int) error {
				_, err := client.Send(ctx, f.fake)
				return err
			}, attackClass)
	}()
	return func() (Result, error) { return <-done, nil }, nil
}

// spawnAll starts cfg.FloodProcesses attackers sharing the rate; wait
// merges what they got as one attack that lasted as long as the longest.
func (f *floodSetup) spawnAll(ctx context.Context, cfg Config, batches float64, name string) (func() (Result, error), error) {
	var waits []func() (Result, error)
	for range cfg.FloodProcesses {
		a := f.orders[name]
		a.Rate, a.Duration, a.Timeout, a.InFlight = batches/float64(cfg.FloodProcesses), cfg.FloodDuration,
			cfg.LegitTimeout, cfg.FloodInFlight
		w, err := spawnAttack(ctx, cfg.AttackerCommand, a)
		if err != nil {
			for _, w := range waits {
				_, _ = w()
			}
			return nil, err
		}
		waits = append(waits, w)
	}
	return func() (Result, error) {
		var all Result
		var first error
		for _, w := range waits {
			res, err := w()
			if err != nil && first == nil {
				first = err
			}
			all.AddParallel(res)
		}
		return all, first
	}, nil
}

// attackClass counts every answer to an attacker as a "failure" by class:
// an attacker succeeds at nothing, the report says how it was turned away.
func attackClass(err error) string {
	if err == nil {
		return "200 served"
	}
	return classify(err)
}
