package system

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	xdsserver "github.com/meshward/meshward/xds/server"
)

// BootstrapEnv names grpc-go's xDS bootstrap file. grpc-go reads the file
// once per process, at its first xDS channel, so a process runs at most one
// moving-target scenario; it must have the variable set from the start, to a
// path the scenario may write (and write TLS files beside).
const BootstrapEnv = "GRPC_XDS_BOOTSTRAP"

// Moved is the service that moves; the others are named after it.
const Moved = "orders"

// MoveOptions shape a moving-target run.
type MoveOptions struct {
	Services int           // services in the catalog, Moved first; each has its own backend (at least 1)
	Settle   time.Duration // calls made before the move, and after the old backend drained
	MTLS     bool          // ADS over mutual TLS with a mesh CA; the clients' bootstrap holds a mesh certificate
	// Meanwhile, if set, runs under load before the move (the attacks of a
	// test): the services are being called the whole time.
	Meanwhile func(x *XDS) error
}

// XDS is the running xDS server of a run, as a test sees it.
type XDS struct {
	Server   *xdsserver.Running
	Token    string            // the admin API's bearer token
	Backends map[string]string // service -> address of its backend now
}

// MoveReport is what the clients saw while one service moved.
type MoveReport struct {
	OldAddr, NewAddr   string
	CallsOld, CallsNew int
	Failed             int
	FirstError         error
	Followed           time.Duration // from the rotation to the first call on the new port
	Others             []Calls       // the services that did not move
}

// Calls is what the clients of one service saw.
type Calls struct {
	Service, Addr string
	Calls, Failed int
	Elsewhere     int // calls answered by another backend than the service's
	FirstError    error
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

// MoveUnderLoad runs the moving-target flow once for one service.
func MoveUnderLoad(ctx context.Context, settle time.Duration) (MoveReport, error) {
	return MoveAmong(ctx, MoveOptions{Services: 1, Settle: settle})
}

// MoveAmong runs the moving-target flow among several services: grpc-go's
// proxyless xDS client keeps calling each of them (xds:///<name>) while
// meshward's xDS server moves orders to another port (POST /rotate, with
// the admin token); the old backend drains once the client has moved
// (make-before-break).
func MoveAmong(ctx context.Context, o MoveOptions) (rep MoveReport, err error) {
	names := serviceNames(o.Services)
	backs := map[string]*backend{}
	defer func() {
		for _, b := range backs {
			b.srv.Stop()
		}
	}()
	for _, n := range append(names, "new") {
		if backs[n], err = startBackend(); err != nil {
			return rep, err
		}
	}
	rep = MoveReport{OldAddr: backs[Moved].addr, NewAddr: backs["new"].addr}
	x, err := startXDS(ctx, names, backs, o.MTLS)
	if err != nil {
		return rep, err
	}
	defer x.Server.Stop()

	loops := map[string]*loadLoop{}
	var conns []*grpc.ClientConn
	loopCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { // the calls stop before their connections close; rep is a named result
		stop()
		wg.Wait()
		for _, cc := range conns {
			cc.Close()
		}
		report(&rep, names, loops, backs)
	}()
	for _, n := range names {
		cc, err := grpc.NewClient("xds:///"+n, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return rep, err
		}
		conns = append(conns, cc)
		loops[n] = &loadLoop{byAddr: map[string]int{}}
		wg.Add(1)
		go func() { defer wg.Done(); loops[n].run(loopCtx, healthpb.NewHealthClient(cc)) }()
	}
	for _, n := range names {
		if err := loops[n].waitFor(backs[n].addr, 10*time.Second); err != nil {
			return rep, fmt.Errorf("%s: %w", n, err)
		}
	}
	time.Sleep(o.Settle)
	if o.Meanwhile != nil {
		if err := o.Meanwhile(x); err != nil {
			return rep, err
		}
	}
	moved := time.Now()
	if err := rotate(x, Moved); err != nil {
		return rep, err
	}
	if err := loops[Moved].waitFor(rep.NewAddr, 10*time.Second); err != nil {
		return rep, err
	}
	rep.Followed = time.Since(moved)
	backs[Moved].srv.GracefulStop()
	time.Sleep(o.Settle)
	return rep, nil
}

// serviceNames are orders, then svc-1, svc-2, ...
func serviceNames(n int) []string {
	names := []string{Moved}
	for i := 1; i < n; i++ {
		names = append(names, fmt.Sprintf("svc-%d", i))
	}
	return names
}

// startXDS serves a catalog in which each service is on its backend and
// orders may move to the "new" backend's port, and points grpc-go's
// bootstrap at it.
func startXDS(ctx context.Context, names []string, backs map[string]*backend, mtls bool) (*XDS, error) {
	x := &XDS{Token: randomToken(), Backends: map[string]string{}}
	y := "services:\n"
	for _, n := range names {
		host, port, _ := net.SplitHostPort(backs[n].addr)
		y += fmt.Sprintf("  - name: %s\n    endpoints: [{address: %s, port: %s}]\n", n, host, port)
		if n == Moved {
			_, np, _ := net.SplitHostPort(backs["new"].addr)
			y += fmt.Sprintf("    ports: [%s]\n", np)
		}
		x.Backends[n] = backs[n].addr
	}
	cat, err := catalog.Parse("demo-catalog.yaml", []byte(y))
	if err != nil {
		return nil, err
	}
	path := os.Getenv(BootstrapEnv)
	if path == "" {
		return nil, errors.New(BootstrapEnv + " is not set: grpc-go reads it at process start")
	}
	cfg := xdsserver.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Admin: xdsserver.AdminAuth{Token: []byte(x.Token)}}
	creds := `{"type":"insecure"}`
	if mtls {
		if cfg.TLS, creds, err = meshTLS(filepath.Dir(path)); err != nil {
			return nil, err
		}
	}
	if x.Server, err = xdsserver.Start(ctx, cfg); err != nil {
		return nil, err
	}
	// Over mutual TLS the node id must be the client certificate's identity
	// (an instance of it): the server refuses a node that names another.
	node := "meshward-e2e"
	if mtls {
		node = Frontend + "~e2e"
	}
	if err := writeBootstrap(x.Server.Addr.String(), creds, node); err != nil {
		x.Server.Stop()
		return nil, err
	}
	return x, nil
}

// meshTLS makes a mesh CA, the xDS server's mutual-TLS configuration, and a
// client certificate in dir for grpc-go's bootstrap ("tls" channel creds).
func meshTLS(dir string) (*tls.Config, string, error) {
	ca, err := identity.NewCA()
	if err != nil {
		return nil, "", err
	}
	srv, err := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	if err != nil {
		return nil, "", err
	}
	cli, err := ca.Issue(Frontend)
	if err != nil {
		return nil, "", err
	}
	caf, certf, keyf := filepath.Join(dir, "xds-ca.pem"), filepath.Join(dir, "xds-client.pem"), filepath.Join(dir, "xds-client-key.pem")
	if err := ca.WritePEM(cli, caf, certf, keyf); err != nil {
		return nil, "", err
	}
	creds := fmt.Sprintf(`{"type":"tls","config":{"ca_certificate_file":%q,"certificate_file":%q,"private_key_file":%q}}`, caf, certf, keyf)
	return ca.ServerTLS(srv), creds, nil
}

// Admin makes an admin call with the run's token and returns the status.
func (x *XDS) Admin(method, pathAndQuery, token string) (int, error) {
	req, err := http.NewRequest(method, "http://"+x.Server.AdminAddr.String()+pathAndQuery, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func rotate(x *XDS, service string) error {
	code, err := x.Admin("POST", "/rotate?service="+service, x.Token)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("rotate %s: status %d", service, code)
	}
	return nil
}

func report(r *MoveReport, names []string, loops map[string]*loadLoop, backs map[string]*backend) {
	for _, n := range names {
		l := loops[n]
		if l == nil {
			continue
		}
		l.mu.Lock()
		if n == Moved {
			r.CallsOld, r.CallsNew, r.Failed, r.FirstError = l.byAddr[r.OldAddr], l.byAddr[r.NewAddr], l.failed, l.firstErr
		} else {
			c := Calls{Service: n, Addr: backs[n].addr, Calls: l.byAddr[backs[n].addr], Failed: l.failed, FirstError: l.firstErr}
			for addr, k := range l.byAddr {
				if addr != c.Addr {
					c.Elsewhere += k
				}
			}
			r.Others = append(r.Others, c)
		}
		l.mu.Unlock()
	}
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
