// Command ha-bench measures authorizer replicas sharing their state through
// a 3-member etcd (`make bench-ha`): quarantine propagation across replicas,
// gRPC Check throughput etcd-backed against in-memory (interleaved, one
// run), and a replica loading 100,000 quarantined workloads (time, memory,
// Check latency).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/e2e/etcdtest"
	"github.com/meshward/meshward/extauthz/bench"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/extauthz/sharedstate"
)

type options struct {
	rules, propagations, many, rounds, workers, conns int
	d                                                 time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.rules, "rules", 1000, "rules in the policy set")
	flag.IntVar(&o.propagations, "propagations", 500, "quarantines timed from replica 1 to replicas 2 and 3")
	flag.IntVar(&o.many, "many", 100_000, "quarantined workloads a replica loads")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved load rounds of each server")
	flag.DurationVar(&o.d, "duration", 2*time.Second, "load per round")
	flag.IntVar(&o.workers, "workers", 32, "concurrent callers")
	flag.IntVar(&o.conns, "conns", 4, "gRPC connections")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ha-bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "meshward-ha-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := etcdtest.StartDir(dir, 3)
	if err != nil {
		return err
	}
	defer c.Stop()
	set, err := bench.Set(o.rules)
	if err != nil {
		return err
	}
	var rs []*replica
	for i := range 3 {
		r, err := startReplica(c, set, "r"+strconv.Itoa(i+1))
		if err != nil {
			return err
		}
		defer r.stop()
		rs = append(rs, r)
	}
	if err := propagation(rs, o.propagations); err != nil {
		return err
	}
	if err := throughput(c, set, rs[2], o); err != nil {
		return err
	}
	return many(c, set, o)
}

type replica struct {
	run   *server.Running
	store *sharedstate.Store
	cl    *clientv3.Client
}

func startReplica(c *etcdtest.Cluster, set *policy.Set, name string) (*replica, error) {
	cfg := c.Config()
	cfg.MaxCallRecvMsgSize = 64 << 20
	cl, err := clientv3.New(cfg)
	if err != nil {
		return nil, err
	}
	st := sharedstate.New(sharedstate.Config{Client: cl, Replica: name, Log: zerolog.Nop()})
	r, err := server.Start(serverConfig(set, st))
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &replica{run: r, store: st, cl: cl}, nil
}

func serverConfig(set *policy.Set, sh server.Shared) server.Config {
	return server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", InsecurePlaintextChecks: true,
		VerdictToken: []byte("bench-token-0123456789"), Log: zerolog.Nop(), Shared: sh}
}

func (r *replica) stop() { r.run.Stop(); r.store.Close(); r.cl.Close() }

func (r *replica) set() *quarantine.Set { return r.run.Authorizer.Engine.Quarantine() }

// propagation times n quarantines from the call on replica 1 until replica
// 2 and replica 3 hold them (their sets' change callbacks).
func propagation(rs []*replica, n int) error {
	arrived := make(chan time.Time, 2)
	for _, r := range rs[1:] {
		r.set().OnChange(func(ch quarantine.Change) {
			if ch.Quarantined {
				arrived <- time.Now()
			}
		})
	}
	var lat []time.Duration
	ctx := context.Background()
	for i := range n {
		t0 := time.Now()
		if _, err := rs[0].set().Quarantine(ctx, quarantine.Entry{Workload: fmt.Sprintf("spiffe://cluster.local/ns/bench/sa/p%d", i), Reason: "bench"}, time.Hour); err != nil {
			return err
		}
		for range 2 {
			lat = append(lat, (<-arrived).Sub(t0))
		}
	}
	for _, r := range rs[1:] {
		r.set().OnChange(func(quarantine.Change) {})
	}
	slices.Sort(lat)
	fmt.Printf("quarantine propagation, replica 1 to replicas 2 and 3 (%d quarantines, each with a lease): p50 %v  p99 %v  max %v\n",
		n, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	return nil
}

// throughput loads an in-memory server and replica 3 (etcd-backed, holding
// the quarantines above) in interleaved rounds.
func throughput(c *etcdtest.Cluster, set *policy.Set, etcdBacked *replica, o options) error {
	mem, err := server.Start(serverConfig(set, nil))
	if err != nil {
		return err
	}
	defer mem.Stop()
	for _, e := range etcdBacked.set().Snapshot() {
		mem.Authorizer.Engine.Quarantine().Put(e) // the same state
	}
	reqs := bench.CheckRequests(bench.Requests(o.rules, 4096, 2))
	addrs := map[string]string{"in-memory": mem.GRPCAddr.String(), "etcd-backed": etcdBacked.run.GRPCAddr.String()}
	sum := map[string]float64{}
	p99 := map[string][]time.Duration{}
	fmt.Printf("gRPC Check, %d rules, %d quarantined, %d workers over %d connections, %d rounds of %v, interleaved\n",
		o.rules, etcdBacked.set().Len(), o.workers, o.conns, o.rounds, o.d)
	for range o.rounds {
		for _, name := range []string{"in-memory", "etcd-backed"} {
			res, err := bench.Load(context.Background(), addrs[name], reqs, o.workers, o.conns, o.d)
			if err != nil {
				return err
			}
			if res.Errors > 0 {
				return fmt.Errorf("%s: %d errors", name, res.Errors)
			}
			sum[name] += res.Throughput
			p99[name] = append(p99[name], res.P99)
		}
	}
	for _, name := range []string{"in-memory", "etcd-backed"} {
		fmt.Printf("  %-12s %8.0f checks/s  p99 per round %v\n", name, sum[name]/float64(o.rounds), p99[name])
	}
	fmt.Printf("  etcd-backed / in-memory: %.3f\n", sum["etcd-backed"]/sum["in-memory"])
	return nil
}

// many writes n quarantines straight into etcd, then starts a replica and
// times its load, its heap, and Check under load.
func many(c *etcdtest.Cluster, set *policy.Set, o options) error {
	cfg := c.Config()
	cl, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	t0 := time.Now()
	if err := sharedstate.Seed(context.Background(), cl, sharedstate.DefaultPrefix, o.many, "spiffe://cluster.local/ns/bench/sa/q"); err != nil {
		return err
	}
	fmt.Printf("%d quarantines written to etcd in %v\n", o.many, time.Since(t0).Round(time.Millisecond))
	before := heap()
	t1 := time.Now()
	r, err := startReplica(c, set, "late")
	if err != nil {
		return err
	}
	defer r.stop()
	load := time.Since(t1)
	after := heap()
	fmt.Printf("a replica started on them: loaded %d in %v; heap %+.1f MiB (after GC)\n", r.set().Len(), load.Round(time.Millisecond),
		float64(int64(after)-int64(before))/(1<<20))
	mem, err := server.Start(serverConfig(set, nil))
	if err != nil {
		return err
	}
	defer mem.Stop()
	for _, e := range r.set().Snapshot() {
		mem.Authorizer.Engine.Quarantine().Put(e)
	}
	reqs := bench.CheckRequests(bench.Requests(o.rules, 4096, 3))
	fmt.Printf("  gRPC Check with %d quarantined, %d rounds of %v, interleaved:\n", r.set().Len(), o.rounds, o.d)
	addrs := map[string]string{"in-memory": mem.GRPCAddr.String(), "etcd-backed": r.run.GRPCAddr.String()}
	for range o.rounds {
		for _, name := range []string{"in-memory", "etcd-backed"} {
			res, err := bench.Load(context.Background(), addrs[name], reqs, o.workers, o.conns, o.d)
			if err != nil {
				return err
			}
			fmt.Printf("    %-12s %8.0f checks/s  p50 %v  p99 %v\n", name, res.Throughput, res.P50, res.P99)
		}
	}
	return nil
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
