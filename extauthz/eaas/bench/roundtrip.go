package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
)

// RoundTripRow is part 1's figure for one scenario and cipher.
type RoundTripRow struct {
	Scenario, Cipher string
	Subscribers      int // spread over the scenario's coordinators
	Coordinators     int // that serve them
	Result
	// Ratio is the throughput over the first configuration's, the median
	// of the rounds' ratios (each round runs every configuration once).
	Ratio float64
}

type rtConfig struct {
	row   *RoundTripRow
	pairs []*Pair
	ratio []float64
}

// subscribersPer says how many subscribers of each cipher a scenario gets:
// λ has five, so that its registrar spreads them over five coordinators.
func subscribersPer(scenario string) int {
	if scenario == Lambda {
		return 5
	}
	return 1
}

// prepareRoundTrips registers each cipher's subscribers in each scenario
// and enrols the pairs of cfg.Workers requesters per configuration.
func prepareRoundTrips(ctx context.Context, m *Mesh, scs []*Scenario, cfg Config) ([]*rtConfig, error) {
	var out []*rtConfig
	for _, sc := range scs {
		for ci, cipher := range cfg.Ciphers {
			n := subscribersPer(sc.Name)
			rc := &rtConfig{row: &RoundTripRow{Scenario: sc.Name, Cipher: cipher, Subscribers: n}}
			var targets []Target
			coords := map[string]bool{}
			for k := range n {
				t, err := sc.Register(ctx, uint32(100*(ci+1)+k), cfg.Deception, cipher)
				if err != nil {
					return nil, err
				}
				targets, coords[t.Coordinator] = append(targets, t), true
			}
			rc.row.Coordinators = len(coords)
			for w := range cfg.Workers {
				p, err := NewPair(ctx, m, targets[w%len(targets)])
				if err != nil {
					return nil, err
				}
				rc.pairs = append(rc.pairs, p)
			}
			out = append(out, rc)
		}
	}
	return out, nil
}

// RoundTrips runs part 1: every configuration once per round, in an order
// rotated each round, with cfg.Workers requesters in a closed loop.
func RoundTrips(ctx context.Context, m *Mesh, scs []*Scenario, cfg Config, log io.Writer) ([]RoundTripRow, error) {
	cs, err := prepareRoundTrips(ctx, m, scs, cfg)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	data := make([]byte, cfg.Size)
	if _, err := rand.Read(data); err != nil {
		return nil, err
	}
	for _, c := range cs { // keys made, primitives parsed, connections open
		for _, p := range c.pairs {
			if err := p.RoundTrip(ctx, data); err != nil {
				return nil, fmt.Errorf("warm-up %s %s: %w", c.row.Scenario, c.row.Cipher, err)
			}
		}
	}
	for r := range cfg.Rounds {
		tp := make([]float64, len(cs))
		for k := range cs {
			i := (k + r) % len(cs)
			c := cs[i]
			res := ClosedLoop(ctx, len(c.pairs), cfg.Duration, func(ctx context.Context, w int) error {
				return c.pairs[w].RoundTrip(ctx, data)
			}, classify)
			c.row.Add(res)
			tp[i] = res.Throughput()
			fmt.Fprintf(log, "  round %d %s %-18s %8.0f round trips/s  mean %s ms  failures: %s\n",
				r+1, c.row.Scenario, c.row.Cipher, res.Throughput(), ms(res.Mean()), res.FailureSummary())
			if res.FirstError != "" {
				fmt.Fprintf(log, "    first error: %s\n", res.FirstError)
			}
		}
		for i, c := range cs {
			if tp[0] > 0 {
				c.ratio = append(c.ratio, tp[i]/tp[0])
			}
		}
	}
	rows := make([]RoundTripRow, len(cs))
	for i, c := range cs {
		c.row.Ratio = median(c.ratio)
		rows[i] = *c.row
	}
	return rows, nil
}
