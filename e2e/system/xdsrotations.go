package system

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meshward/meshward/xds/catalog"
	xdsserver "github.com/meshward/meshward/xds/server"
)

// RotateOptions shape a run of many moves under load.
type RotateOptions struct {
	Rotations int           // moves of orders, one after another
	Ports     int           // sockets per address: the first is the initial port, the others the port pool
	Addresses int           // loopback addresses: the first is the initial one, the others the address pool
	Workers   int           // concurrent callers
	Pause     time.Duration // between moves: calls land on every endpoint
}

// RotateReport is what the callers saw.
type RotateReport struct {
	Rotations   int
	Calls       int
	Failed      int
	FirstError  error
	Sockets     int           // distinct sockets that answered calls
	Final       string        // the endpoint after the last move
	LastOnFinal bool          // the last calls landed on it
	MeanMove    time.Duration // a move, from its start to every client's acknowledgement
}

// RotateMany moves orders opts.Rotations times, each to a port and address
// drawn from its pools by the server, while grpc-go's proxyless clients call
// it back to back. The backend listens on every socket of the pools, as a
// sidecar that opened them would, so a failed call can only be a client that
// did not follow.
func RotateMany(ctx context.Context, o RotateOptions) (RotateReport, error) {
	var rep RotateReport
	addrs := make([]string, o.Addresses)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.%d.%d", 40+os.Getpid()%100, 10+i)
	}
	lns, ports, err := listenAll(addrs, o.Ports)
	if err != nil {
		return rep, err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	for _, ln := range lns {
		go func() { _ = srv.Serve(ln) }()
	}
	defer srv.Stop()
	x, err := startRotationXDS(ctx, addrs, ports)
	if err != nil {
		return rep, err
	}
	defer x.Server.Stop()
	loop, stop, err := callOrders(ctx, o.Workers)
	defer stop()
	if err != nil {
		return rep, err
	}
	if err := loop.waitFor(net.JoinHostPort(addrs[0], strconv.Itoa(int(ports[0]))), 10*time.Second); err != nil {
		return rep, err
	}
	start := time.Now()
	for range o.Rotations {
		p, err := x.Server.Move(ctx, Moved, 0, "admin")
		if err != nil {
			return rep, err
		}
		rep.Rotations++
		rep.Final = p.Endpoints(Moved)[0].String()
		time.Sleep(o.Pause)
	}
	rep.MeanMove = (time.Since(start) - time.Duration(rep.Rotations)*o.Pause) / time.Duration(max(rep.Rotations, 1))
	if err := loop.waitFor(rep.Final, 10*time.Second); err != nil {
		return rep, err
	}
	stop()
	loop.mu.Lock()
	defer loop.mu.Unlock()
	for _, n := range loop.byAddr {
		rep.Calls += n
	}
	rep.Failed, rep.FirstError, rep.Sockets, rep.LastOnFinal = loop.failed, loop.firstErr, len(loop.byAddr), loop.last == rep.Final
	return rep, nil
}

// listenAll opens n ports on every address, the same port numbers on each
// (a move may pair any pool address with any pool port).
func listenAll(addrs []string, n int) ([]net.Listener, []uint32, error) {
	for range 20 {
		lns, ports, err := tryListen(addrs, n)
		if err == nil {
			return lns, ports, nil
		}
	}
	return nil, nil, errors.New("no set of ports free on every address")
}

func tryListen(addrs []string, n int) ([]net.Listener, []uint32, error) {
	var lns []net.Listener
	var ports []uint32
	fail := func(err error) ([]net.Listener, []uint32, error) {
		for _, l := range lns {
			l.Close()
		}
		return nil, nil, err
	}
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			return fail(err)
		}
		lns = append(lns, l)
		ports = append(ports, uint32(l.Addr().(*net.TCPAddr).Port))
	}
	for _, a := range addrs[1:] {
		for _, p := range ports {
			l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(int(p))))
			if err != nil {
				return fail(err)
			}
			lns = append(lns, l)
		}
	}
	return lns, ports, nil
}

// startRotationXDS serves orders on its first socket, free to move to any
// pool port and pool address, and points grpc-go's bootstrap at the server.
func startRotationXDS(ctx context.Context, addrs []string, ports []uint32) (*XDS, error) {
	pool := make([]string, len(ports)-1)
	for i, p := range ports[1:] {
		pool[i] = strconv.Itoa(int(p))
	}
	y := fmt.Sprintf("services:\n  - name: %s\n    endpoints: [{address: %s, port: %d}]\n    ports: [%s]\n    addresses: [%s]\n",
		Moved, addrs[0], ports[0], strings.Join(pool, ", "), strings.Join(addrs[1:], ", "))
	cat, err := catalog.Parse("rotation-catalog.yaml", []byte(y))
	if err != nil {
		return nil, err
	}
	x := &XDS{Token: randomToken(), Backends: map[string]string{}}
	cfg := xdsserver.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Admin: xdsserver.AdminAuth{Token: []byte(x.Token)},
		Defaults: catalog.Schedule{Grace: time.Millisecond, AckTimeout: 10 * time.Second, HardDeadline: 10 * time.Second}}
	if x.Server, err = xdsserver.Start(ctx, cfg); err != nil {
		return nil, err
	}
	if err := writeBootstrap(x.Server.Addr.String(), `{"type":"insecure"}`, "meshward-e2e"); err != nil {
		x.Server.Stop()
		return nil, err
	}
	return x, nil
}

// writeBootstrap points grpc-go's xDS client at the server.
func writeBootstrap(server, creds, node string) error {
	path := os.Getenv(BootstrapEnv)
	if path == "" {
		return errors.New(BootstrapEnv + " is not set: grpc-go reads it at process start")
	}
	boot := fmt.Sprintf(`{"xds_servers":[{"server_uri":%q,"channel_creds":[%s],"server_features":["xds_v3"]}],"node":{"id":%q,"locality":{}}}`,
		server, creds, node)
	return os.WriteFile(path, []byte(boot), 0o600)
}

// callOrders runs workers calling orders back to back through one xDS
// channel each; stop ends them (and may be called twice).
func callOrders(ctx context.Context, workers int) (*loadLoop, func(), error) {
	loop := &loadLoop{byAddr: map[string]int{}}
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var conns []*grpc.ClientConn
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			for _, c := range conns {
				c.Close()
			}
		})
	}
	for range workers {
		cc, err := grpc.NewClient("xds:///"+Moved, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return loop, stop, err
		}
		conns = append(conns, cc)
		wg.Add(1)
		go func() { defer wg.Done(); loop.run(lctx, healthpb.NewHealthClient(cc)) }()
	}
	return loop, stop, nil
}
