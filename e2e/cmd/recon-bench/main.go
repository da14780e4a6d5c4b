// Command recon-bench measures the reconnaissance half-life of meshward's
// moving target (`make bench-recon`, issue 10): for each rotation interval
// T, orders runs behind an e2e sidecar that follows the xDS server's LDS and
// moves on the server's timers every T, frontend callers following their
// EDS call it the whole time, and the connect scanner and nmap map the
// pools; what each scan found is probed again Δ later. It prints the share
// still answering per (T, Δ, scanner) beside max(0, 1-Δ/T) and the
// legitimate calls and failures, and writes the plot, a CSV and a JSON.
// Progress goes to stderr, the report to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/recon"
	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/xds/catalog"
)

type options struct {
	wasm, out          string
	intervals, deltas  []time.Duration
	scans              int
	scanEvery, grace   time.Duration
	ports, addrs       int
	callers            int
	withoutNmap, debug bool
}

func main() {
	o, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "recon-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "recon-bench:", err)
		os.Exit(1)
	}
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("recon-bench", flag.ContinueOnError)
	fs.StringVar(&o.wasm, "wasm", "build/meshward-filter.wasm", "the filter that `make wasm` built")
	fs.StringVar(&o.out, "out", "build/recon-half-life", "where the results go: OUT.png, OUT.csv, OUT.json")
	iv := fs.String("intervals", "10s,60s,300s", "rotation intervals T, side by side (one orders each)")
	ds := fs.String("deltas", "0s,10s,60s,300s", "delays Δ after each scan at which its finding is probed again")
	fs.IntVar(&o.scans, "scans", 12, "scans by each scanner")
	fs.DurationVar(&o.scanEvery, "scan-every", 10*time.Second, "from one scan to the next")
	fs.DurationVar(&o.grace, "grace", time.Second, "how long a left socket serves requests in flight")
	fs.IntVar(&o.ports, "ports", 9, "sockets per address: the first port, then the port pool")
	fs.IntVar(&o.addrs, "addresses", 4, "loopback addresses: the first, then the address pool")
	fs.IntVar(&o.callers, "callers", 1, "legitimate callers of each orders, calling back to back")
	fs.BoolVar(&o.withoutNmap, "without-nmap", false, "scan with the connect scanner only")
	fs.BoolVar(&o.debug, "v", false, "also print the components' JSON logs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err1, err2 error
	o.intervals, err1 = durations("-intervals", *iv)
	o.deltas, err2 = durations("-deltas", *ds)
	if err := errors.Join(err1, err2); err != nil {
		return o, err
	}
	// The xDS server names the filter to sidecars by an absolute path.
	if o.wasm, err1 = filepath.Abs(o.wasm); err1 != nil {
		return o, err1
	}
	if o.scans < 1 || o.ports < 2 || o.addrs < 1 || o.callers < 1 || o.callers > 8 {
		return o, errors.New("want -scans ≥ 1, -ports ≥ 2, -addresses ≥ 1, 1 ≤ -callers ≤ 8")
	}
	return o, nil
}

// durations reads a comma-separated list of at most 16 durations, each at
// least 0 (and for intervals at least the catalog's 1 s, checked there).
func durations(flagName, s string) ([]time.Duration, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 16 {
		return nil, fmt.Errorf("%s: %d values, at most 16", flagName, len(parts))
	}
	var out []time.Duration
	for i, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: value %d (%q): want a duration ≥ 0", flagName, i+1, p)
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func run(ctx context.Context, o options) error {
	scanners, err := scannersFor(o)
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "recon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	log := zerolog.Nop()
	if o.debug {
		log = zerolog.New(os.Stderr).With().Timestamp().Logger()
	}
	fmt.Fprintf(os.Stderr, "starting %d runs of orders behind an e2e sidecar following LDS...\n", len(o.intervals))
	// The runs' servers live as long as the context they start with: no
	// deadline here (a deadline once ended every rotation two minutes in).
	runs, err := system.StartSideBySide(ctx, system.Options{WasmPath: o.wasm, CacheDir: cache, Log: log},
		system.SidecarXDSOptions{Ports: o.ports, Addresses: o.addrs, Callers: o.callers, AckTimeout: 10 * time.Second, Grace: o.grace},
		len(o.intervals))
	if err != nil {
		return err
	}
	defer func() {
		for _, x := range runs {
			x.Close()
		}
	}()
	res, err := measure(ctx, o, runs, scanners)
	if err != nil {
		return err
	}
	rep := newReport(o, runs, scanners, res)
	if err := rep.write(o.out); err != nil {
		return err
	}
	rep.print(os.Stdout)
	if rep.failed() {
		return errors.New("legitimate calls failed (each run's first error is above)")
	}
	return nil
}

func scannersFor(o options) ([]recon.Scanner, error) {
	scanners := []recon.Scanner{recon.Connect{}}
	if o.withoutNmap {
		return scanners, nil
	}
	n, err := recon.FindNmap()
	if err != nil {
		return nil, fmt.Errorf("%w (or run with -without-nmap)", err)
	}
	return append(scanners, n), nil
}

// measure starts each run's rotation at a phase of its own, drawn
// uniformly in [0, T) (after a floor that lets the first move end before
// the schedule is served: see SidecarXDS.Rotate), so that a scan meets
// each rotation at a uniform phase; then scans.
func measure(ctx context.Context, o options, runs []*system.SidecarXDS, scanners []recon.Scanner) (recon.Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i, x := range runs {
		t := o.intervals[i]
		sc := catalog.Schedule{Every: t, Jitter: t / 10, Grace: o.grace, AckTimeout: 10 * time.Second, HardDeadline: 30 * time.Second}
		phase := o.grace + time.Second + rand.N(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := x.Rotate(ctx, sc, phase); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("orders every %v: %w", t, err))
			}
		}()
	}
	addrs, ports, owner, err := system.ScanTargets(runs)
	if err != nil {
		return recon.Result{}, err
	}
	fmt.Fprintf(os.Stderr, "scanning %d addresses × %d ports: %d scans every %v, probed again after %v (about %v)\n",
		len(addrs), len(ports), o.scans, o.scanEvery, o.deltas, time.Duration(o.scans-1)*o.scanEvery+slices.Max(o.deltas))
	res, err := recon.Measure(ctx, recon.Plan{Addrs: addrs, Ports: ports, Scanners: scanners, Deltas: o.deltas,
		Scans: o.scans, Every: o.scanEvery, Intervals: o.intervals,
		Owner: func(s netip.AddrPort) (time.Duration, bool) {
			i, ok := owner(s)
			if !ok {
				return 0, false
			}
			return o.intervals[i], true
		}})
	if cause := context.Cause(ctx); err == nil && cause != nil {
		err = cause
	}
	cancel(errMeasured) // ends the rotations that wait for their first move still
	wg.Wait()
	return res, err
}

var errMeasured = errors.New("measured")
