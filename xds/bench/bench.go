// Package bench measures how fast meshward's xDS server moves many sidecars:
// N ADS clients in one process, each on a gRPC connection of its own with its
// own node id, subscribe to one service as a sidecar does and ACK every
// response; the service is rotated R times, one rotation at a time, and each
// rotation's convergence is the time from the Move call to each client's ACK
// of the new endpoints. The server runs in the same process.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/server"
)

// Mode is the ADS variant the clients speak.
type Mode string

const (
	SOTW  Mode = "sotw"  // state of the world
	Delta Mode = "delta" // incremental
)

// Config is one run.
type Config struct {
	Clients   int
	Rotations int
	Mode      Mode
	// RoundTimeout bounds the ramp and each rotation (0: only ctx does), so
	// that a server that stops answering ends the command, not hangs it.
	RoundTimeout time.Duration
}

// MaxClients bounds a run: each client is a connection with two descriptors.
const MaxClients = 100_000

func (c Config) check() error {
	switch {
	case c.Clients < 1 || c.Clients > MaxClients:
		return fmt.Errorf("xds bench: %d clients, want 1 to %d", c.Clients, MaxClients)
	case c.Rotations < 1:
		return fmt.Errorf("xds bench: %d rotations, want at least 1", c.Rotations)
	case c.Mode != SOTW && c.Mode != Delta:
		return fmt.Errorf("xds bench: mode %q, want %q or %q", c.Mode, SOTW, Delta)
	}
	return nil
}

// The rotated service: one endpoint, a pool of poolPorts ports to move to.
const (
	service   = "bench"
	firstPort = 20000
	poolPorts = 8
)

func benchCatalog() (*catalog.Catalog, catalog.Endpoint, error) {
	ports := make([]string, poolPorts)
	for i := range ports {
		ports[i] = fmt.Sprint(firstPort + 1 + i)
	}
	doc := fmt.Sprintf("services:\n  - name: %s\n    endpoints: [{address: 127.0.0.1, port: %d}]\n    ports: [%s]\n",
		service, firstPort, strings.Join(ports, ", "))
	c, err := catalog.Parse("bench-catalog", []byte(doc))
	return c, catalog.Endpoint{Address: "127.0.0.1", Port: firstPort}, err
}

// Run runs the bench; progress gets a line per phase.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cat, initial, err := benchCatalog()
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, cat)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	b := &run{cfg: cfg, srv: srv, tr: newTracker(cfg.Clients), progress: progress,
		rep: &Report{Mode: cfg.Mode, Clients: cfg.Clients, Rotations: cfg.Rotations}}
	cctx, cancel := context.WithCancel(ctx)
	defer b.clients.Wait()
	defer cancel()
	// The coordinator counts with the clients; its Move calls with the server.
	onSide(ctx, sideClient, func(ctx context.Context) {
		if err = b.ramp(ctx, cctx, endpointsKey([]catalog.Endpoint{initial})); err == nil {
			err = b.rotate(ctx, endpointsKey([]catalog.Endpoint{initial}))
		}
	})
	if err != nil {
		return nil, err
	}
	b.rep.History = b.tr.history()
	return b.rep, nil
}

func startServer(ctx context.Context, cat *catalog.Catalog) (*server.Running, error) {
	// The admin endpoint must be authenticated; nobody calls it here.
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	var srv *server.Running
	var err error
	onSide(ctx, sideServer, func(ctx context.Context) {
		// The old sockets' grace period is for requests in flight; no
		// request flies here, and each rotation waits for the one before
		// it to close, so a short grace keeps the run about convergence.
		srv, err = server.Start(ctx, server.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			Admin: server.AdminAuth{Token: token}, Log: zerolog.Nop(),
			Defaults: catalog.Schedule{Grace: time.Millisecond, AckTimeout: time.Minute, HardDeadline: time.Minute}})
	})
	return srv, err
}

// run is one Run's state.
type run struct {
	cfg      Config
	srv      *server.Running
	tr       *tracker
	clients  sync.WaitGroup
	progress io.Writer
	rep      *Report
}

// wait waits for round r, bounded by RoundTimeout.
func (b *run) wait(ctx context.Context, r *round, what string) error {
	if b.cfg.RoundTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.RoundTimeout)
		defer cancel()
	}
	err := b.tr.wait(ctx, r)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		err = fmt.Errorf("%s: %d of %d clients not there after %v", what, b.tr.remaining(r), b.cfg.Clients, b.cfg.RoundTimeout)
	}
	return err
}
