package system

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	xdsserver "github.com/meshward/meshward/xds/server"
	"github.com/meshward/meshward/xds/snapshot"
)

// PoolScheme is the name grpc-go's bootstrap gives the control plane in a
// self-move run: a resolver of this process answers it with the whole pool,
// as a DNS name with one record per pool address would (or Envoy's static
// xDS cluster with the pool as endpoints). grpc-go's pick_first walks the
// list; only the current address accepts.
const PoolScheme = "meshward-xds-pool"

// SelfMoveOptions shape a run in which the control plane moves.
type SelfMoveOptions struct {
	Moves     int // moves of the control plane
	Pool      int // its addresses
	Followers int // e2e sidecar ADS clients that follow its announcement
	Workers   int // grpc-go callers of orders, through one proxyless xDS node
}

// SelfMoveReport is what the run saw.
type SelfMoveReport struct {
	Moves        []xdsserver.SelfMoveRecord
	StillOpen    []string // old control-plane addresses that accepted a connection after their move
	ServiceMoves int      // moves of orders meanwhile
	Behind       int      // clients a service move reported behind
	Calls        int      // grpc-go's calls of orders
	Failed       int
	FirstError   error
	Unfollowed   []string // followers whose endpoint is not orders' final one
	Status       *xdsserver.ControlPlaneStatus
}

// SelfMoveUnderLoad moves the control plane o.Moves times while orders
// moves too, back to back, and grpc-go's proxyless clients call orders and
// e2e sidecar ADS clients follow its endpoints. orders' backend listens on
// every socket of its pools (as a sidecar that opened them would), so a
// failed call is a client that lost its configuration.
func SelfMoveUnderLoad(ctx context.Context, o SelfMoveOptions) (rep SelfMoveReport, err error) {
	x, pool, stopBackend, err := startSelfXDS(ctx, o.Pool)
	if err != nil {
		return rep, err
	}
	defer stopBackend()
	defer x.Server.Stop()
	loop, stop, err := callOrders(ctx, o.Workers)
	defer stop()
	if err != nil {
		return rep, err
	}
	if err := loop.waitFor(x.Server.Current().Endpoints(Moved)[0].String(), 20*time.Second); err != nil {
		return rep, err
	}
	fs, err := startFollowers(filepath.Dir(os.Getenv(BootstrapEnv)), o.Followers, x, pool)
	defer fs.close()
	if err != nil {
		return rep, err
	}
	if err := fs.waitAll(ctx, x.Server.Current().Endpoints(Moved)[0].String()); err != nil {
		return rep, err
	}
	moving, moved := moveOrders(ctx, x, &rep)
	for range o.Moves {
		rec, err := x.Server.MoveSelf(ctx, "admin")
		if err != nil {
			return rep, err
		}
		rep.Moves = append(rep.Moves, rec)
		if c, err := net.Dial("tcp", rec.From); err == nil {
			c.Close()
			rep.StillOpen = append(rep.StillOpen, rec.From)
		}
	}
	moving()
	if err := <-moved; err != nil {
		return rep, err
	}
	final := x.Server.Current().Endpoints(Moved)[0].String()
	if err := loop.waitFor(final, 20*time.Second); err != nil {
		return rep, err
	}
	rep.Unfollowed = fs.notOn(ctx, final)
	rep.Status = x.Server.Status().ControlPlane // before the calls stop: grpc-go's node leaves with its last channel
	stop()
	rep.Calls, rep.Failed, rep.FirstError = loop.totals()
	return rep, nil
}

// moveOrders moves orders back to back until stop is called; moved says
// how it ended.
func moveOrders(ctx context.Context, x *XDS, rep *SelfMoveReport) (stop func(), moved <-chan error) {
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		for mctx.Err() == nil {
			if _, err := x.Server.Move(ctx, Moved, 0, "admin"); err != nil {
				done <- err
				return
			}
			st := x.Server.Status().Services[Moved]
			rep.ServiceMoves++
			if st.LastMove != nil {
				rep.Behind += st.LastMove.Behind
			}
		}
		done <- nil
	}()
	return cancel, done
}

func (l *loadLoop) totals() (calls, failed int, first error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.byAddr {
		calls += n
	}
	return calls, l.failed, l.firstErr
}

// startSelfXDS serves orders (pools on loopback addresses of the run's own)
// from a server whose ADS port moves among its own pool, over mutual TLS,
// and points grpc-go's bootstrap at the pool.
func startSelfXDS(ctx context.Context, poolSize int) (*XDS, []string, func(), error) {
	pid := os.Getpid() % 250
	svcAddrs := []string{fmt.Sprintf("127.3.%d.10", pid), fmt.Sprintf("127.3.%d.11", pid), fmt.Sprintf("127.3.%d.12", pid)}
	lns, ports, err := listenAll(svcAddrs, 3)
	if err != nil {
		return nil, nil, nil, err
	}
	backend := grpc.NewServer()
	healthpb.RegisterHealthServer(backend, health.NewServer())
	for _, ln := range lns {
		go func() { _ = backend.Serve(ln) }()
	}
	pool, err := selfPool(pid, poolSize)
	if err != nil {
		backend.Stop()
		return nil, nil, nil, err
	}
	x, err := selfServer(ctx, svcAddrs, ports, pool)
	if err != nil {
		backend.Stop()
		return nil, nil, nil, err
	}
	list := make([]string, len(pool))
	for i, a := range pool {
		list[i] = a.String()
	}
	return x, list, backend.Stop, nil
}

// selfPool is poolSize loopback sockets free when drawn.
func selfPool(pid, poolSize int) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for i := range poolSize {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.2.%d.%d:0", pid, 10+i))
		if err != nil {
			return nil, err
		}
		out = append(out, ln.Addr().(*net.TCPAddr).AddrPort())
		ln.Close()
	}
	return out, nil
}

func selfServer(ctx context.Context, svcAddrs []string, ports []uint32, pool []netip.AddrPort) (*XDS, error) {
	y := fmt.Sprintf("services:\n  - name: %s\n    endpoints: [{address: %s, port: %d}]\n    ports: [%d, %d]\n    addresses: [%s, %s]\n",
		Moved, svcAddrs[0], ports[0], ports[1], ports[2], svcAddrs[1], svcAddrs[2])
	cat, err := catalog.Parse("selfmove-catalog.yaml", []byte(y))
	if err != nil {
		return nil, err
	}
	path := os.Getenv(BootstrapEnv)
	if path == "" {
		return nil, errors.New(BootstrapEnv + " is not set: grpc-go reads it at process start")
	}
	serverTLS, creds, err := meshTLS(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	x := &XDS{Token: randomToken(), Backends: map[string]string{}}
	x.Server, err = xdsserver.Start(ctx, xdsserver.Config{Catalog: cat, AdminAddr: "127.0.0.1:0", TLS: serverTLS,
		Admin: xdsserver.AdminAuth{Token: []byte(x.Token)}, Self: xdsserver.SelfRotation{Pool: pool},
		Defaults: catalog.Schedule{Grace: time.Millisecond, AckTimeout: 10 * time.Second, HardDeadline: 20 * time.Second}})
	if err != nil {
		return nil, err
	}
	addrs := make([]resolver.Address, len(pool))
	for i, a := range pool {
		addrs[i] = resolver.Address{Addr: a.String()}
	}
	r := manual.NewBuilderWithScheme(PoolScheme)
	r.InitialState(resolver.State{Addresses: addrs})
	resolver.Register(r)
	// The authority is the name the server's certificate holds.
	if err := writeBootstrap(PoolScheme+":///localhost", creds, Frontend+"~grpc"); err != nil {
		x.Server.Stop()
		return nil, err
	}
	return x, nil
}

// followers are e2e sidecar ADS clients of orders' endpoints that follow
// the control plane's announcement.
type followers struct {
	mu      sync.Mutex
	changed chan struct{}
	at      map[string]string // node -> orders' endpoint it holds
	streams []*sidecar.ADS
}

func startFollowers(dir string, n int, x *XDS, pool []string) (*followers, error) {
	fs := &followers{changed: make(chan struct{}), at: map[string]string{}}
	tlsCfg, err := identity.LoadClientTLS(filepath.Join(dir, "xds-client.pem"), filepath.Join(dir, "xds-client-key.pem"), filepath.Join(dir, "xds-ca.pem"))
	if err != nil {
		return fs, err
	}
	tlsCfg.ServerName = "localhost" // the name the server's certificate holds; its SPIFFE ID is checked too
	for i := range n {
		node := fmt.Sprintf("%s~follower-%d", Frontend, i)
		a, err := sidecar.FollowADS(sidecar.ADSConfig{Server: x.Server.ADSAddr().String(), Servers: pool,
			ServerID: identity.SPIFFE("meshward-system", "meshward-xds"), FollowControlPlane: true, TLS: tlsCfg,
			Node:      &corev3.Node{Id: node},
			Subscribe: []sidecar.Subscription{{TypeURL: resource.EndpointType, Names: []string{snapshot.ClusterName(Moved)}}},
			Apply:     fs.apply(node)})
		if err != nil {
			return fs, err
		}
		fs.streams = append(fs.streams, a)
	}
	return fs, nil
}

func (fs *followers) apply(node string) sidecar.Applier {
	return func(_ string, res []*anypb.Any) (map[string][]string, error) {
		if len(res) != 1 {
			return nil, fmt.Errorf("%d load assignments, want orders' one", len(res))
		}
		var cla endpointv3.ClusterLoadAssignment
		if err := res[0].UnmarshalTo(&cla); err != nil {
			return nil, err
		}
		if len(cla.GetEndpoints()) == 0 || len(cla.GetEndpoints()[0].GetLbEndpoints()) == 0 {
			return nil, errors.New("orders has no endpoint")
		}
		sa := cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		fs.mu.Lock()
		fs.at[node] = net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
		close(fs.changed)
		fs.changed = make(chan struct{})
		fs.mu.Unlock()
		return nil, nil
	}
}

// notOn waits for every follower to hold endpoint and lists those that
// do not by the time ctx ends.
func (fs *followers) notOn(ctx context.Context, endpoint string) []string {
	for {
		fs.mu.Lock()
		var off []string
		for i := range fs.streams {
			node := fmt.Sprintf("%s~follower-%d", Frontend, i)
			if fs.at[node] != endpoint {
				off = append(off, node+" at "+fs.at[node])
			}
		}
		changed := fs.changed
		fs.mu.Unlock()
		if len(off) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return off
		}
	}
}

func (fs *followers) waitAll(ctx context.Context, endpoint string) error {
	if off := fs.notOn(ctx, endpoint); len(off) > 0 {
		return fmt.Errorf("followers never got orders' endpoint %s: %s", endpoint, strings.Join(off, ", "))
	}
	return nil
}

func (fs *followers) close() {
	for _, a := range fs.streams {
		a.Close()
	}
}
