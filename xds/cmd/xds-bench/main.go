// Command xds-bench measures how fast meshward's xDS server moves many
// sidecars (`make bench-xds`, issue 10): for each client count, that many
// ADS clients in this process, each on its own gRPC connection, follow R
// rotations of the service they all use. Progress goes to stderr, the
// report (with the command line) to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshward/meshward/internal/machine"
	"github.com/meshward/meshward/xds/bench"
)

type options struct {
	clients    []int
	cfg        bench.Config
	cpuProfile string
}

func main() {
	opts, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "xds-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "xds-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts options, out, progress io.Writer) error {
	// Two descriptors per client (its end and the server's), and some slack.
	limit, err := bench.RaiseFileLimit(uint64(2*slices.Max(opts.clients) + 256))
	if err != nil {
		return err
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// The machine is shared: the figures depend on what else ran.
	loadBefore := machine.LoadAverage()
	var reps []*bench.Report
	for _, n := range opts.clients {
		cfg := opts.cfg
		cfg.Clients = n
		rep, err := bench.Run(ctx, cfg, progress)
		if errors.Is(err, bench.ErrDeltaNotServed) {
			fmt.Fprintf(out, "xds-bench: %s\nmode delta: not served (%v)\n", strings.Join(os.Args, " "), err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%d clients: %w", n, err)
		}
		reps = append(reps, rep)
	}
	fmt.Fprintf(out, "xds-bench: %s\n", strings.Join(os.Args, " "))
	fmt.Fprintf(out, "machine: %d CPUs, GOMAXPROCS %d, load average before %s, at the end %s; RLIMIT_NOFILE %d\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), loadBefore, machine.LoadAverage(), limit)
	fmt.Fprintf(out, "the xDS server runs in this process with the clients; each client: its own gRPC connection over 127.0.0.1,\n"+
		"its own node id, one %s ADS stream subscribed to the service's listener, route, cluster and endpoints, ACKing every response\n\n",
		opts.cfg.Mode)
	bench.Print(out, reps)
	fmt.Fprintln(out, goal(reps))
	return nil
}

func goal(reps []*bench.Report) string {
	head := "\ngoal p99 ≤ 1 s at 1,000 clients: " // bench.GoalP99, bench.GoalClients
	measured, met, p99 := bench.Goal(reps)
	switch {
	case !measured:
		return head + fmt.Sprintf("not measured (run with -clients %d)", bench.GoalClients)
	case met:
		return head + fmt.Sprintf("met (p99 %v)", p99.Round(time.Microsecond))
	default:
		return head + fmt.Sprintf("MISSED (p99 %v)", p99.Round(time.Microsecond))
	}
}

func parse(args []string) (options, error) {
	opts := options{cfg: bench.Config{Mode: bench.SOTW}}
	fs := flag.NewFlagSet("xds-bench", flag.ContinueOnError)
	clients := fs.String("clients", "1000,5000", "client counts, one run each, comma-separated")
	mode := fs.String("mode", string(bench.SOTW), "ADS variant of the clients: sotw or delta")
	fs.IntVar(&opts.cfg.Rotations, "rotations", 20, "rotations per run, one at a time")
	fs.DurationVar(&opts.cfg.RoundTimeout, "round-timeout", 2*time.Minute, "give up if the ramp or a rotation takes longer")
	fs.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (the table's CPU shares are then n/a)")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts.cfg.Mode = bench.Mode(*mode)
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > bench.MaxClients {
			return opts, fmt.Errorf("-clients: %q: want counts from 1 to %d", f, bench.MaxClients)
		}
		opts.clients = append(opts.clients, n)
	}
	return opts, nil
}
