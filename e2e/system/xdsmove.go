package system

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver

	"github.com/meshward/meshward/xds/catalog"
	xdsserver "github.com/meshward/meshward/xds/server"
)

// BootstrapEnv names grpc-go's xDS bootstrap file. grpc-go reads the variable
// when the process starts, so a process that calls MoveUnderLoad must have
// it set from the start, to a path MoveUnderLoad may write.
const BootstrapEnv = "GRPC_XDS_BOOTSTRAP"

// MoveReport is what a client saw while its service moved.
type MoveReport struct {
	OldAddr, NewAddr   string
	CallsOld, CallsNew int
	Failed             int
	FirstError         error
	Followed           time.Duration // from the rotation to the first call on the new port
}

type backend struct {
	srv  *grpc.Server
	addr string
}

func startBackend() (*backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	return &backend{srv: srv, addr: ln.Addr().String()}, nil
}

// MoveUnderLoad runs the moving-target flow once: grpc-go's proxyless xDS
// client keeps calling xds:///orders while meshward's xDS server moves orders
// to another port (POST /rotate); the old backend drains once the client has
// moved (make-before-break).
func MoveUnderLoad(ctx context.Context, settle time.Duration) (rep MoveReport, err error) {
	a, err := startBackend()
	if err != nil {
		return MoveReport{}, err
	}
	defer a.srv.Stop()
	b, err := startBackend()
	if err != nil {
		return MoveReport{}, err
	}
	defer b.srv.Stop()
	rep = MoveReport{OldAddr: a.addr, NewAddr: b.addr}
	xs, err := startXDS(ctx, a.addr, b.addr)
	if err != nil {
		return rep, err
	}
	defer xs.Stop()
	cc, err := grpc.NewClient("xds:///orders", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return rep, err
	}
	defer cc.Close()

	l := &loadLoop{byAddr: map[string]int{}}
	loopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.run(loopCtx, healthpb.NewHealthClient(cc)) }()
	defer func() { stop(); <-done; l.report(&rep) }() // named result: the report is filled in on return

	if err := l.waitFor(a.addr, 10*time.Second); err != nil {
		return rep, err
	}
	time.Sleep(settle)
	moved := time.Now()
	if err := rotate(xs.AdminAddr.String()); err != nil {
		return rep, err
	}
	if err := l.waitFor(b.addr, 10*time.Second); err != nil {
		return rep, err
	}
	rep.Followed = time.Since(moved)
	a.srv.GracefulStop()
	time.Sleep(settle)
	return rep, nil
}

func startXDS(ctx context.Context, oldAddr, newAddr string) (*xdsserver.Running, error) {
	oldHost, oldPort, _ := net.SplitHostPort(oldAddr)
	_, newPort, _ := net.SplitHostPort(newAddr)
	cat, err := catalog.Parse("demo-catalog.yaml", []byte(fmt.Sprintf(
		"services:\n  - name: orders\n    endpoints: [{address: %s, port: %s}]\n    ports: [%s]\n", oldHost, oldPort, newPort)))
	if err != nil {
		return nil, err
	}
	xs, err := xdsserver.Start(ctx, xdsserver.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	path := os.Getenv(BootstrapEnv)
	if path == "" {
		xs.Stop()
		return nil, errors.New(BootstrapEnv + " is not set: grpc-go reads it at process start")
	}
	boot := fmt.Sprintf(`{"xds_servers":[{"server_uri":%q,"channel_creds":[{"type":"insecure"}],"server_features":["xds_v3"]}],"node":{"id":"meshward-e2e","locality":{}}}`, xs.Addr)
	if err := os.WriteFile(path, []byte(boot), 0o600); err != nil {
		xs.Stop()
		return nil, err
	}
	return xs, nil
}

func rotate(admin string) error {
	resp, err := http.Post("http://"+admin+"/rotate?service=orders", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("rotate: %s", resp.Status)
	}
	return nil
}

// loadLoop calls the service back to back and counts where calls landed.
type loadLoop struct {
	mu       sync.Mutex
	byAddr   map[string]int
	last     string
	failed   int
	firstErr error
}

func (l *loadLoop) run(ctx context.Context, client healthpb.HealthClient) {
	for ctx.Err() == nil {
		var p peer.Peer
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.Check(cctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
		cancel()
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		if err != nil {
			l.failed++
			if l.firstErr == nil {
				l.firstErr = err
			}
		} else {
			l.last = p.Addr.String()
			l.byAddr[l.last]++
		}
		l.mu.Unlock()
	}
}

func (l *loadLoop) waitFor(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		last, err := l.last, l.firstErr
		l.mu.Unlock()
		if last == addr {
			return nil
		}
		if err != nil && last == "" {
			return fmt.Errorf("calls fail before any lands: %w", err)
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("no call reached %s within %v", addr, limit)
}

func (l *loadLoop) report(r *MoveReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.CallsOld, r.CallsNew, r.Failed, r.FirstError = l.byAddr[r.OldAddr], l.byAddr[r.NewAddr], l.failed, l.firstErr
}
