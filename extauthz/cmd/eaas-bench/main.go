// Command eaas-bench measures EaaS (`make bench-eaas`, issue 9): round
// trips per cipher and replica scenario, the cryptor against raw Tink, the
// cost of dropping fakes, and legitimate traffic under a flood. Progress
// goes to stderr, the report (with the command line) to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/meshward/meshward/extauthz/eaas/bench"
	"github.com/meshward/meshward/internal/machine"
)

var cpuProfile = new(string)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "attack" {
		// An attacker of part 4, started by this command itself.
		if err := bench.RunAttacker(context.Background(), os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "eaas-bench attack:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "eaas-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "eaas-bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eaas-bench:", err)
		os.Exit(1)
	}
	fmt.Printf("eaas-bench: %s\n", strings.Join(os.Args, " "))
	fmt.Printf("machine: %d CPUs, GOMAXPROCS %d, load average at the end %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), machine.LoadAverage())
	rep.Print(os.Stdout)
}

func parse(args []string) (bench.Config, error) {
	cfg := bench.Defaults()
	fs := flag.NewFlagSet("eaas-bench", flag.ContinueOnError)
	fs.StringVar(cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	parts := fs.String("parts", "1,2,3,4", "parts to run: 1 round trips, 2 cryptor vs Tink, 3 drop costs, 4 flood")
	scenarios := fs.String("scenarios", strings.Join(cfg.Scenarios, ","), "part 1: replica scenarios (α, β, λ; a, b, l also work)")
	ciphers := fs.String("ciphers", strings.Join(cfg.Ciphers, ","), "part 1: ciphers")
	deception := fs.Uint("deception", uint(cfg.Deception), "deception factor t of every subscriber (1 to 6)")
	inProcess := fs.Bool("attackers-in-process", false, "part 4: run attackers in this process (sharing its CPU) instead of their own")
	sizes := fs.String("cryptor-sizes", "1024,65536", "part 2: plaintext sizes in bytes")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "plaintext bytes per message")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "concurrent requesters (part 1, and C in part 4)")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "part 1: rounds of every configuration")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "part 1: load per configuration and round")
	fs.DurationVar(&cfg.CryptorDuration, "cryptor-duration", cfg.CryptorDuration, "part 2 in all")
	fs.IntVar(&cfg.DropOps, "drop-ops", cfg.DropOps, "part 3: operations per block")
	fs.IntVar(&cfg.DropRounds, "drop-rounds", cfg.DropRounds, "part 3: rounds of blocks")
	fs.DurationVar(&cfg.CapacityDuration, "capacity-duration", cfg.CapacityDuration, "part 4: measuring C")
	fs.IntVar(&cfg.FloodRounds, "flood-rounds", cfg.FloodRounds, "part 4: rounds of every phase")
	fs.DurationVar(&cfg.FloodDuration, "flood-duration", cfg.FloodDuration, "part 4: per phase and round")
	fs.Float64Var(&cfg.FloodFactor, "flood-factor", cfg.FloodFactor, "part 4: fake messages per second ÷ C")
	fs.IntVar(&cfg.FloodInFlight, "flood-in-flight", cfg.FloodInFlight, "part 4: requests an attacker process keeps open at most")
	fs.IntVar(&cfg.FloodProcesses, "flood-processes", cfg.FloodProcesses, "part 4: attacker processes per attack")
	floodDeception := fs.Uint("flood-deception", uint(cfg.FloodDeception), "part 4: t of the attackers' own subscriber (2^t fakes per request)")
	fs.Float64Var(&cfg.LegitShare, "legit-share", cfg.LegitShare, "part 4: legitimate messages per second ÷ C")
	fs.DurationVar(&cfg.LegitTimeout, "legit-timeout", cfg.LegitTimeout, "part 4: a legitimate round trip later than this failed")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *deception > 8 {
		return cfg, fmt.Errorf("deception %d: at most 8", *deception)
	}
	cfg.Deception = uint8(*deception)
	if *floodDeception > 8 {
		return cfg, fmt.Errorf("flood deception %d: at most 8", *floodDeception)
	}
	cfg.FloodDeception = uint8(*floodDeception)
	var err error
	if cfg.Parts, err = ints(*parts); err != nil {
		return cfg, fmt.Errorf("-parts: %w", err)
	}
	if cfg.CryptorSizes, err = ints(*sizes); err != nil {
		return cfg, fmt.Errorf("-cryptor-sizes: %w", err)
	}
	cfg.Scenarios = scenarioNames(list(*scenarios))
	cfg.Ciphers = list(*ciphers)
	if *inProcess {
		return cfg, cfg.Validate()
	}
	exe, err := os.Executable()
	if err != nil {
		return cfg, err
	}
	cfg.AttackerCommand = []string{exe, "attack"}
	return cfg, cfg.Validate()
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range list(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 64<<20 {
			return nil, fmt.Errorf("%q: want whole numbers from 1 to %d", f, 64<<20)
		}
		out = append(out, n)
	}
	return out, nil
}

// scenarioNames lets a shell without Greek letters at hand say a, b, l.
func scenarioNames(names []string) []string {
	ascii := map[string]string{"a": bench.Alpha, "alpha": bench.Alpha, "b": bench.Beta, "beta": bench.Beta,
		"l": bench.Lambda, "lambda": bench.Lambda}
	out := make([]string, len(names))
	for i, n := range names {
		if g, ok := ascii[strings.ToLower(n)]; ok {
			n = g
		}
		out[i] = n
	}
	return out
}
