package server

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meshward/meshward/extauthz/bench"
)

// Three times as many callers as the authorizer serves at once, for two
// seconds: no crash, bounded memory, and the excess refused with
// RESOURCE_EXHAUSTED at once, not queued behind the overload.
func TestOverloadShedsExcess(t *testing.T) {
	set, err := bench.Set(1000)
	if err != nil {
		t.Fatal(err)
	}
	const inFlight = 16
	r, err := Start(Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MaxInFlight: inFlight,
		InsecurePlaintextChecks: true, VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	reqs := bench.CheckRequests(bench.Requests(1000, 512, 3))
	var clients []authv3.AuthorizationClient
	for i := 0; i < 4; i++ {
		cc, err := grpc.NewClient(r.GRPCAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		clients = append(clients, authv3.NewAuthorizationClient(cc))
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var mu sync.Mutex
	var served, shed []time.Duration
	var other []error
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < 3*inFlight; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i++ {
				start := time.Now()
				_, err := clients[w%len(clients)].Check(context.Background(), reqs[i%len(reqs)])
				d := time.Since(start)
				mu.Lock()
				switch {
				case err == nil:
					served = append(served, d)
				case status.Code(err) == codes.ResourceExhausted:
					shed = append(shed, d)
				default:
					other = append(other, err)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	slices.Sort(served)
	slices.Sort(shed)
	if len(other) > 0 {
		t.Fatalf("%d calls failed otherwise, first: %v", len(other), other[0])
	}
	if len(served) == 0 || len(shed) == 0 {
		t.Fatalf("%d served, %d shed: the test did not overload the server", len(served), len(shed))
	}
	t.Logf("served %d (p50 %v), shed %d (p50 %v), heap in use %d -> %d MB",
		len(served), served[len(served)/2], len(shed), shed[len(shed)/2], before.HeapInuse>>20, after.HeapInuse>>20)
	// Round trips on this loopback are dominated by the two CPUs being busy;
	// what matters is that a shed call does not wait for a slot.
	if p99 := shed[len(shed)*99/100]; p99 > 250*time.Millisecond {
		t.Fatalf("shed calls waited: p99 %v", p99)
	}
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 64<<20 {
		t.Fatalf("heap grew by %d MB under overload", grow>>20)
	}
	if _, err := clients[0].Check(context.Background(), reqs[0]); err != nil {
		t.Fatalf("after the overload: %v", err)
	}
	if !strings.Contains(scrape(t, r), `meshward_authz_shed_total{bound="total",transport="grpc"}`) {
		t.Fatal("shed calls are not counted")
	}
}
