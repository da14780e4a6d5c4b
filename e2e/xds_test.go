package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver

	"github.com/meshward/meshward/xds/catalog"
	xdsserver "github.com/meshward/meshward/xds/server"
)

type backend struct {
	srv  *grpc.Server
	port int
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return &backend{srv: srv, port: ln.Addr().(*net.TCPAddr).Port}
}

func writeBootstrap(t *testing.T, xdsAddr string) {
	t.Helper()
	path := os.Getenv(bootstrapEnv)
	b := fmt.Sprintf(`{"xds_servers":[{"server_uri":%q,"channel_creds":[{"type":"insecure"}],"server_features":["xds_v3"]}],
		"node":{"id":"e2e-client","locality":{}}}`, xdsAddr)
	if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// caller keeps calling a service and counts where each call landed.
type caller struct {
	failures atomic.Int64
	mu       sync.Mutex
	byPort   map[int]int
	lastPort atomic.Int64
	firstErr error
}

func (c *caller) run(ctx context.Context, client healthpb.HealthClient) {
	for ctx.Err() == nil {
		var p peer.Peer
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.Check(cctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		if err != nil {
			c.failures.Add(1)
			if c.firstErr == nil {
				c.firstErr = err
			}
		} else {
			port := p.Addr.(*net.TCPAddr).Port
			c.byPort[port]++
			c.lastPort.Store(int64(port))
		}
		c.mu.Unlock()
	}
}

// grpc-go's proxyless xDS client keeps calling orders while the xDS server
// moves its endpoint to another port; the old backend drains once the client
// has moved; no call fails.
func TestXDSEndpointMoveLosesNoCalls(t *testing.T) {
	a, b := startBackend(t), startBackend(t)
	cat, err := catalog.Parse("catalog", []byte(fmt.Sprintf(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: %d}]
    ports: [%d]
`, a.port, b.port)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xs, err := xdsserver.Start(ctx, xdsserver.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Stop()
	writeBootstrap(t, xs.Addr.String())

	cc, err := grpc.NewClient("xds:///orders", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := &caller{byPort: map[int]int{}}
	loopCtx, stopLoop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.run(loopCtx, healthpb.NewHealthClient(cc)) }()

	waitFor(t, 10*time.Second, "first calls on the old port", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.firstErr != nil {
			t.Logf("first error: %v", c.firstErr)
		}
		return c.lastPort.Load() == int64(a.port)
	})
	time.Sleep(200 * time.Millisecond)
	moved := time.Now()
	resp, err := http.Post("http://"+xs.AdminAddr.String()+"/rotate?service=orders", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("rotate: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, 10*time.Second, "calls on the new port", func() bool { return c.lastPort.Load() == int64(b.port) })
	t.Logf("the client moved %v after the rotation", time.Since(moved))
	a.srv.GracefulStop() // drain: make-before-break
	time.Sleep(300 * time.Millisecond)
	stopLoop()
	<-done

	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("calls: %d on old port, %d on new port, %d failed", c.byPort[a.port], c.byPort[b.port], c.failures.Load())
	if c.failures.Load() != 0 {
		t.Fatalf("%d calls failed; first: %v", c.failures.Load(), c.firstErr)
	}
	if c.byPort[a.port] == 0 || c.byPort[b.port] == 0 || c.lastPort.Load() != int64(b.port) {
		t.Fatalf("calls by port %v; want calls on both, ending on %d", c.byPort, b.port)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
