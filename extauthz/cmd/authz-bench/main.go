// Command authz-bench measures the authorizer (`make bench-authz`): gRPC
// Check throughput and p99 with a 10,000-rule policy set against an allow-all
// server built from the same code, interleaved in one run, and in-process
// evaluation latency at 10, 1,000 and 10,000 rules.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/extauthz/bench"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
)

func main() {
	rules := flag.Int("rules", 10_000, "rules in the policy set under test")
	rounds := flag.Int("rounds", 3, "interleaved rounds of each server")
	d := flag.Duration("duration", 2*time.Second, "load per round")
	workers := flag.Int("workers", 32, "concurrent callers")
	conns := flag.Int("conns", 4, "gRPC connections")
	binary := flag.String("extauthz", "", "the built authorizer binary, for its resident memory under load (skipped when empty)")
	flag.Parse()
	err := run(*rules, *rounds, *d, *workers, *conns)
	if err == nil && *binary != "" {
		err = memory(*binary, *rules, *d, *workers, *conns)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authz-bench:", err)
		os.Exit(1)
	}
}

func run(rules, rounds int, d time.Duration, workers, conns int) error {
	fmt.Println("in-process evaluation (policy.Set.Evaluate, one goroutine; 5 runs of 200,000 timed calls, median and range)")
	for _, n := range []int{10, 1000, 10_000} {
		set, err := bench.Set(n)
		if err != nil {
			return err
		}
		reqs := bench.Requests(n, 4096, 1)
		var p50s, p99s []time.Duration
		for i := 0; i < 5; i++ {
			p50, p99 := bench.Latencies(set, reqs, 200_000)
			p50s, p99s = append(p50s, p50), append(p99s, p99)
		}
		fmt.Printf("  %6d rules: p50 %v  p99 %v  (p99 from %v to %v)\n", n, median(p50s), median(p99s), minOf(p99s), maxOf(p99s))
	}

	big, err := bench.Set(rules)
	if err != nil {
		return err
	}
	allowAll, err := bench.AllowAll()
	if err != nil {
		return err
	}
	servers := map[string]*server.Running{}
	for name, set := range map[string]*policy.Set{"policy": big, "allow-all": allowAll} {
		r, err := server.Start(server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			InsecurePlaintextChecks: true, VerdictToken: []byte("bench-token-0123456789"), Log: zerolog.Nop()})
		if err != nil {
			return err
		}
		defer r.Stop()
		servers[name] = r
	}
	reqs := bench.CheckRequests(bench.Requests(rules, 4096, 2))
	fmt.Printf("gRPC Check, %d workers over %d connections, %d rounds of %v each, interleaved\n", workers, conns, rounds, d)
	total := map[string]*bench.LoadResult{"policy": {}, "allow-all": {}}
	var p99 = map[string][]time.Duration{}
	for i := 0; i < rounds; i++ {
		for _, name := range []string{"allow-all", "policy"} {
			res, err := bench.Load(context.Background(), servers[name].GRPCAddr.String(), reqs, workers, conns, d)
			if err != nil {
				return err
			}
			fmt.Printf("  round %d %-9s %8.0f req/s  p50 %-10v p99 %-10v errors %d\n", i+1, name, res.Throughput, res.P50, res.P99, res.Errors)
			t := total[name]
			t.Requests += res.Requests
			t.Duration += res.Duration
			t.Errors += res.Errors
			p99[name] = append(p99[name], res.P99)
		}
	}
	tp := func(n string) float64 { return float64(total[n].Requests) / total[n].Duration.Seconds() }
	fmt.Printf("result: %d-rule policy vs allow-all: throughput %.0f vs %.0f req/s = %.2fx; p99 (median of rounds) %v vs %v\n",
		rules, tp("policy"), tp("allow-all"), tp("policy")/tp("allow-all"), median(p99["policy"]), median(p99["allow-all"]))
	if total["policy"].Errors+total["allow-all"].Errors > 0 {
		return fmt.Errorf("%d calls failed", total["policy"].Errors+total["allow-all"].Errors)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func minOf(ds []time.Duration) time.Duration { return slices.Min(ds) }
func maxOf(ds []time.Duration) time.Duration { return slices.Max(ds) }
