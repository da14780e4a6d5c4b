package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
)

// Parts of the benchmark.
const (
	PartRoundTrips = 1 // per cipher and scenario
	PartCryptor    = 2 // cryptor ÷ raw Tink
	PartDrops      = 3 // dropped fakes ÷ real decryption
	PartFlood      = 4 // legitimate traffic under a flood
)

// Config says what to measure and for how long.
type Config struct {
	Parts     []int
	Scenarios []string
	Ciphers   []string
	Size      int   // bytes of plaintext per message
	Workers   int   // concurrent requesters (part 1, and C in part 4)
	Deception uint8 // t of every subscriber

	Rounds   int           // part 1: rounds of every configuration
	Duration time.Duration // part 1: per configuration and round

	CryptorSizes    []int
	CryptorDuration time.Duration // part 2 in all

	DropOps, DropRounds int // part 3: operations per block, rounds of blocks

	CapacityDuration time.Duration // part 4: measuring C
	FloodRounds      int
	FloodDuration    time.Duration // per phase and round
	FloodFactor      float64       // fake messages per second ÷ C
	FloodInFlight    int           // requests an attacker keeps open at most
	// FloodProcesses splits each attack over this many attacker
	// processes (a process's HTTPS client, not the coordinator, is what
	// caps one attacker's rate).
	FloodProcesses int
	// FloodDeception is t of the attackers' own subscriber: a member
	// registers with the deception factor it likes, and a larger t puts
	// 2^t fakes in each request it sends.
	FloodDeception uint8
	LegitShare     float64       // legitimate messages per second ÷ C
	LegitTimeout   time.Duration // a legitimate round trip later than this failed
	// AttackerCommand runs an attacker as a process of its own (the
	// command's arguments are then Attack.Args; it calls RunAttacker);
	// empty: attackers run in this process and share its CPU.
	AttackerCommand []string
}

// Defaults fit the whole run in about three minutes on two busy cores.
func Defaults() Config {
	return Config{Parts: []int{PartRoundTrips, PartCryptor, PartDrops, PartFlood},
		Scenarios: Scenarios, Ciphers: cipherNames(), Size: 1024, Workers: 8, Deception: 2,
		Rounds: 3, Duration: 1500 * time.Millisecond,
		CryptorSizes: []int{1 << 10, 64 << 10}, CryptorDuration: 8 * time.Second,
		DropOps: 300, DropRounds: 5,
		CapacityDuration: 1500 * time.Millisecond, FloodRounds: 2, FloodDuration: 4 * time.Second, FloodFactor: 10,
		FloodInFlight: 64, FloodProcesses: 2, FloodDeception: 5, LegitShare: 0.1, LegitTimeout: time.Second}
}

func cipherNames() []string {
	var out []string
	for _, c := range keymanager.Ciphers() {
		out = append(out, string(c))
	}
	return out
}

// Validate refuses a configuration that cannot run.
func (c Config) Validate() error {
	switch {
	case c.Size < 1 || c.Size > 1<<20:
		return fmt.Errorf("size %d: want 1 byte to 1 MiB", c.Size)
	case c.Workers < 1 || c.Workers > 1024:
		return fmt.Errorf("workers %d: want 1 to 1024", c.Workers)
	case c.Deception < 1 || c.Deception > 6:
		return fmt.Errorf("deception %d: want 1 to 6 (a fake needs a token other than the real one)", c.Deception)
	case c.Rounds < 1 || c.DropOps < 1 || c.DropRounds < 1 || c.FloodRounds < 1:
		return errors.New("rounds and operations must be at least 1")
	case c.FloodFactor <= 0 || c.LegitShare <= 0 || c.FloodInFlight < 1 || c.FloodProcesses < 1:
		return errors.New("flood factor, legitimate share, attackers' requests in flight and processes must be positive")
	case c.FloodDeception < 1 || c.FloodDeception > 8:
		return fmt.Errorf("flood deception %d: want 1 to 8", c.FloodDeception)
	}
	for _, p := range c.Parts {
		if p < PartRoundTrips || p > PartFlood {
			return fmt.Errorf("part %d: want 1 to 4", p)
		}
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("scenario %q: want one of %v", s, Scenarios)
		}
	}
	for _, ci := range c.Ciphers {
		if _, err := eaas.ParseCipher(ci); err != nil {
			return err
		}
	}
	return nil
}

// Report is every part's figures.
type Report struct {
	Config     Config
	RoundTrips []RoundTripRow
	Cryptor    []CryptorRow
	Drops      *DropReport
	Flood      *FloodReport
}

// Run measures the parts cfg names, writing progress to log.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := NewMesh(max(cfg.Workers, cfg.FloodInFlight))
	if err != nil {
		return nil, err
	}
	defer m.Close()
	rep := &Report{Config: cfg}
	if slices.Contains(cfg.Parts, PartRoundTrips) {
		if err := rep.roundTrips(ctx, m, log); err != nil {
			return nil, fmt.Errorf("part 1: %w", err)
		}
	}
	if slices.Contains(cfg.Parts, PartCryptor) {
		fmt.Fprintln(log, "part 2: cryptor ÷ raw Tink")
		if rep.Cryptor, err = CryptorVsTink(ctx, m, cfg.CryptorSizes, cfg.CryptorDuration); err != nil {
			return nil, fmt.Errorf("part 2: %w", err)
		}
	}
	if !slices.Contains(cfg.Parts, PartDrops) && !slices.Contains(cfg.Parts, PartFlood) {
		return rep, nil
	}
	// Parts 3 and 4 get an α of their own, idle but for them.
	alpha, err := Start(m, Alpha)
	if err != nil {
		return nil, err
	}
	if slices.Contains(cfg.Parts, PartDrops) {
		fmt.Fprintln(log, "part 3: dropped fakes ÷ real decryptions")
		if rep.Drops, err = Drops(ctx, m, alpha, cfg); err != nil {
			return nil, fmt.Errorf("part 3: %w", err)
		}
	}
	if slices.Contains(cfg.Parts, PartFlood) {
		fmt.Fprintln(log, "part 4: flood")
		if rep.Flood, err = Flood(ctx, m, alpha, cfg, log); err != nil {
			return nil, fmt.Errorf("part 4: %w", err)
		}
	}
	return rep, nil
}

func (r *Report) roundTrips(ctx context.Context, m *Mesh, log io.Writer) error {
	var scs []*Scenario
	for _, name := range r.Config.Scenarios {
		start := time.Now()
		sc, err := Start(m, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "part 1: scenario %s: %d replicas up in %v\n", name, sc.Replicas, time.Since(start).Round(time.Millisecond))
		scs = append(scs, sc)
	}
	var err error
	r.RoundTrips, err = RoundTrips(ctx, m, scs, r.Config, log)
	return err
}
