package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/extauthz/policy"
)

// LoadResult is what one load run against a gRPC Check server measured.
type LoadResult struct {
	Requests   int
	Errors     int
	Duration   time.Duration
	Throughput float64 // requests per second
	P50, P99   time.Duration
}

// CheckRequests turns policy requests into Envoy CheckRequests.
func CheckRequests(reqs []*policy.Request) []*authv3.CheckRequest {
	out := make([]*authv3.CheckRequest, len(reqs))
	for i, r := range reqs {
		out[i] = &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:      &authv3.AttributeContext_Peer{Principal: r.SourcePrincipal},
			Destination: &authv3.AttributeContext_Peer{Principal: r.Destination, Labels: r.DestinationLabels},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: r.Method, Path: r.Path, Host: r.Host,
			}},
		}}
	}
	return out
}

// Load calls Check on addr from `workers` goroutines over `conns` connections
// for d, cycling through reqs, and measures each call.
func Load(ctx context.Context, addr string, reqs []*authv3.CheckRequest, workers, conns int, d time.Duration) (LoadResult, error) {
	clients := make([]authv3.AuthorizationClient, conns)
	for i := range clients {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return LoadResult{}, err
		}
		defer cc.Close()
		clients[i] = authv3.NewAuthorizationClient(cc)
	}
	// Warm up the connections so that the run measures steady state.
	for _, c := range clients {
		if _, err := c.Check(ctx, reqs[0]); err != nil {
			return LoadResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := clients[w%conns]
			local := make([]time.Duration, 0, 1<<14)
			bad := 0
			for i := w; time.Now().Before(deadline); i += workers {
				t := time.Now()
				if _, err := c.Check(ctx, reqs[i%len(reqs)]); err != nil {
					bad++
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += bad
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	r := LoadResult{Requests: len(lat), Errors: errs, Duration: el, Throughput: float64(len(lat)) / el.Seconds()}
	if len(lat) > 0 {
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r, nil
}

// Latencies times each of n in-process evaluations and returns p50 and p99.
func Latencies(set *policy.Set, reqs []*policy.Request, n int) (p50, p99 time.Duration) {
	lat := make([]time.Duration, n)
	for i := 0; i < 10_000; i++ { // warm the per-workload cache and the CPU caches
		set.Evaluate(reqs[i%len(reqs)])
	}
	for i := range lat {
		r := reqs[i%len(reqs)]
		t := time.Now()
		set.Evaluate(r)
		lat[i] = time.Since(t)
	}
	slices.Sort(lat)
	return lat[n/2], lat[n*99/100]
}
