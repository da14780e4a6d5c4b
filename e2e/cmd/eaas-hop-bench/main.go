// Command eaas-hop-bench measures what Encryption as a Service adds to a
// request's round trip through both sidecars: the same two-sidecar path
// (the built filter on each, the authorizer's check at the destination)
// with EaaS and without, in interleaved rounds, for 1 KiB and 64 KiB
// bodies. Goal: EaaS ≤ 1.3× the round trip without. A third column is
// the floor under the difference: the four coordinator calls of one
// protected exchange made from Go with the sidecars' identities, one
// after another, no wasm and no proxying.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/system"
)

func main() {
	wasm := flag.String("wasm", "build/meshward-filter.wasm", "the filter that `make wasm` built")
	rounds := flag.Int("rounds", 5, "rounds; each runs every configuration once, in turn")
	requests := flag.Int("requests", 200, "requests per configuration and round")
	stopIteration := flag.Bool("stop-iteration", false, "run the sidecars with Envoy's allow_on_headers_stop_iteration")
	deception := flag.Uint("deception", 2, "the subscriber's deception factor t (2^t - 1 fakes per real message)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "eaas-hop-bench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*wasm, *rounds, *requests, *stopIteration, uint32(*deception)); err != nil {
		fmt.Fprintln(os.Stderr, "eaas-hop-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type mesh struct {
	name string
	m    *system.EaaSMesh
}

func run(wasm string, rounds, requests int, stopIteration bool, deception uint32) error {
	ctx := context.Background()
	var meshes []mesh
	for _, direct := range []bool{false, true} {
		dir, err := os.MkdirTemp("", "eaas-hop-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		m, err := system.StartEaaS(ctx, system.EaaSOptions{Options: system.Options{WasmPath: wasm, Log: zerolog.Nop()},
			Dir: dir, Direct: direct, StopIteration: stopIteration, Deception: deception})
		if err != nil {
			return err
		}
		defer m.Close()
		name := "eaas"
		if direct {
			name = "plain"
		}
		meshes = append(meshes, mesh{name, m})
	}
	fmt.Printf("eaas-hop-bench: %s\n", strings.Join(os.Args, " "))
	fmt.Println("round trip app -> outbound sidecar -> inbound sidecar -> app and back, both sidecars running the built filter;")
	fmt.Printf("%d rounds of %d sequential requests per configuration, interleaved; ratio = median over rounds of eaas ÷ plain;\n", rounds, requests)
	fmt.Println("callouts: the exchange's four coordinator calls alone, from Go; floor = (plain + callouts) ÷ plain;")
	fmt.Println("guest: time both filters' VMs spent in the guest per exchange (host calls included), eaas / plain")
	fmt.Println()
	fmt.Printf("%-8s %-12s %-12s %-12s %-20s %-8s %-8s %s\n", "body", "eaas mean", "plain mean", "callouts", "guest", "ratio", "floor", "goal ≤ 1.3×")
	for _, size := range []int{1 << 10, 64 << 10} {
		if err := measure(ctx, meshes, size, rounds, requests); err != nil {
			return err
		}
	}
	return nil
}

func measure(ctx context.Context, meshes []mesh, size, rounds, requests int) error {
	body := bytes.Repeat([]byte("x"), size)
	means := map[string][]time.Duration{}
	var ratios, floors []float64
	for r := range rounds {
		order := meshes
		if r%2 == 1 {
			order = []mesh{meshes[1], meshes[0]}
		}
		got := map[string]time.Duration{}
		for _, m := range order {
			before := m.m.FilterUsage()
			d, err := burst(ctx, m.m, body, requests)
			if err != nil {
				return fmt.Errorf("%s, %d bytes: %w", m.name, size, err)
			}
			got[m.name] = d
			means[m.name] = append(means[m.name], d)
			guest := (m.m.FilterUsage() - before) / time.Duration(requests)
			means["guest "+m.name] = append(means["guest "+m.name], guest)
		}
		d, err := timeCallouts(ctx, meshes[0].m, body, requests)
		if err != nil {
			return fmt.Errorf("callouts, %d bytes: %w", size, err)
		}
		means["callouts"] = append(means["callouts"], d)
		ratios = append(ratios, float64(got["eaas"])/float64(got["plain"]))
		floors = append(floors, float64(got["plain"]+d)/float64(got["plain"]))
	}
	ratio := median(ratios)
	verdict := "met"
	if ratio > 1.3 {
		verdict = "not met"
	}
	guest := fmt.Sprintf("%v / %v", medianD(means["guest eaas"]), medianD(means["guest plain"]))
	fmt.Printf("%-8s %-12v %-12v %-12v %-20s %-8.2f %-8.2f %s\n", fmt.Sprintf("%d KiB", size>>10), medianD(means["eaas"]),
		medianD(means["plain"]), medianD(means["callouts"]), guest, ratio, median(floors), verdict)
	return nil
}

// timeCallouts runs n exchanges' callouts one after another and returns
// their mean.
func timeCallouts(ctx context.Context, m *system.EaaSMesh, body []byte, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := m.Callouts(ctx, body); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// burst sends n requests one after another and returns their mean.
func burst(ctx context.Context, m *system.EaaSMesh, body []byte, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		x, err := m.Post(ctx, "/orders", body)
		if err != nil {
			return 0, err
		}
		if x.Status != 200 || !bytes.Equal(x.AppSaw, body) {
			return 0, fmt.Errorf("status %d (%s), the app got %d bytes", x.Status, x.Reason, len(x.AppSaw))
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func medianD(v []time.Duration) time.Duration {
	slices.Sort(v)
	return v[len(v)/2].Round(time.Microsecond)
}
