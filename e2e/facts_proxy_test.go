package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/check"
	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/verdict"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
)

// roundRobin is the authorizer cluster with its endpoints taken in turn,
// as Envoy's ROUND_ROBIN load balancer does. It counts what reached each.
type roundRobin struct {
	srv      *httptest.Server
	backends []*httputil.ReverseProxy
	mu       sync.Mutex
	next     int
	checks   []int         // checks per backend
	polls    int           // epoch polls, all backends
	pollSeen chan struct{} // a signal per poll that arrives
}

func newRoundRobin(t *testing.T, addrs ...string) *roundRobin {
	t.Helper()
	rr := &roundRobin{checks: make([]int, len(addrs)), pollSeen: make(chan struct{}, 1024)}
	for _, a := range addrs {
		u, err := url.Parse("http://" + a)
		if err != nil {
			t.Fatal(err)
		}
		rr.backends = append(rr.backends, httputil.NewSingleHostReverseProxy(u))
	}
	rr.srv = httptest.NewServer(rr)
	t.Cleanup(rr.srv.Close)
	return rr
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.mu.Lock()
	i := rr.next % len(rr.backends)
	rr.next++
	switch r.URL.Path {
	case check.Path:
		rr.checks[i]++
	case check.EpochPath:
		rr.polls++
		select {
		case rr.pollSeen <- struct{}{}:
		default:
		}
	}
	rr.mu.Unlock()
	rr.backends[i].ServeHTTP(w, r)
}

// counts is how many checks reached each backend so far.
func (rr *roundRobin) counts() []int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]int(nil), rr.checks...)
}

// waitPolls waits until n epoch polls have arrived. The filter sends a
// poll only once it has handled the answer to the one before, so when poll
// n+1 arrives the answer to poll n has been applied.
func (rr *roundRobin) waitPolls(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for {
		rr.mu.Lock()
		seen := rr.polls
		rr.mu.Unlock()
		if seen >= n {
			return
		}
		select {
		case <-rr.pollSeen:
		case <-ctx.Done():
			t.Fatalf("%d epoch polls arrived, waited for %d: %v", seen, n, ctx.Err())
		}
	}
}

// startFactsAuthz runs an authorizer with the policies of yaml (plaintext:
// these tests put their own proxies in front of it).
func startFactsAuthz(t *testing.T, yaml string) *server.Running {
	t.Helper()
	set, err := policy.Parse("e2e.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	r, err := server.Start(server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		InsecurePlaintextChecks: true, VerdictToken: []byte(verdictToken), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

const verdictToken = "e2e-facts-token-0123456789"

// quarantine sends a verdict on workload to one authorizer over its gRPC
// verdict API, as the eBPF agent does.
func quarantine(t *testing.T, ctx context.Context, r *server.Running, workload string) {
	t.Helper()
	vc, err := verdict.Dial(r.GRPCAddr.String(), verdictToken, "e2e", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	if _, err := vc.Report(ctx, &verdictv1.Verdict{Workload: workload, Reason: "test", Score: 1}); err != nil {
		t.Fatal(err)
	}
}

// ordersConfig is the filter's configuration on orders' sidecar.
const ordersConfig = `{"authorizer_cluster":"meshward-authz","destination":"spiffe://cluster.local/ns/shop/sa/orders",
	"destination_labels":{"app":"orders"},"timeout_ms":2000%s}`
