package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// adsListener is one address the ADS port listens on. Each has a gRPC
// server of its own (same credentials, same callbacks, so the same guard,
// ACK tracker and snapshots): closing one sends GOAWAY on its connections
// and ends its streams while the others serve on.
type adsListener struct {
	gen    uint64
	addr   net.Addr
	ln     net.Listener
	srv    *grpc.Server
	cancel context.CancelFunc // ends the listener's ADS streams
}

// adsListeners are the ADS port's live addresses; the newest is current.
type adsListeners struct {
	mu      sync.Mutex
	gen     uint64
	live    map[uint64]*adsListener
	current *adsListener
}

// genKey carries the listener generation a stream came in on, for the
// guard: streams per identity are counted per listener (guard.go).
type genKey struct{}

func listenerGen(ctx context.Context) uint64 {
	g, _ := ctx.Value(genKey{}).(uint64)
	return g
}

// genBits: a stream's id is its listener's generation above the id its
// go-control-plane server gave it (each server counts from 1).
const genBits = 40

// serveADS listens on addr and serves ADS there; the listener becomes the
// current one.
func (r *Running) serveADS(ctx context.Context, addr string, opts []grpc.ServerOption) (*adsListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("xds: listener: %w", err)
	}
	ls := &r.listeners
	ls.mu.Lock()
	ls.gen++
	l := &adsListener{gen: ls.gen, addr: ln.Addr(), ln: ln}
	if ls.live == nil {
		ls.live = map[uint64]*adsListener{}
	}
	ls.live[l.gen], ls.current = l, l
	ls.mu.Unlock()
	lctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.srv = grpc.NewServer(append(opts, grpc.StreamInterceptor(moved(lctx)))...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(l.srv, serverv3.NewServer(lctx, r.cache, scoped(r.callbacks(), l.gen)))
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// moved answers a stream its listener ended with Unavailable: the client
// reconnects (to the address it was told, or the next of its bootstrap's).
func moved(lctx context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		if lctx.Err() != nil {
			return status.Error(codes.Unavailable, "the control plane moved: reconnect")
		}
		return err
	}
}

// closeListener stops l accepting (its address refuses connections from
// now on), sends GOAWAY on its connections, so that clients open their next
// stream on a new connection, and ends its streams; a connection still
// open after bound (a client that ignores GOAWAY) is closed.
func (r *Running) closeListener(l *adsListener, bound time.Duration) {
	err := l.ln.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		r.log.Warn().Err(err).Str("ads", l.addr.String()).Msg("closing an ADS listener")
	}
	stopped := make(chan struct{})
	go func() { l.srv.GracefulStop(); close(stopped) }()
	// A stream ended before its client saw the GOAWAY may be retried on the
	// same connection: the server refuses it there (the connection is
	// draining, and this listener's streams are over), and the client's
	// next try goes to a new connection.
	l.cancel()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		l.srv.Stop()
	}
	r.listeners.mu.Lock()
	delete(r.listeners.live, l.gen)
	r.listeners.mu.Unlock()
}

// stopListeners ends every listener at once (Stop).
func (r *Running) stopListeners() {
	r.listeners.mu.Lock()
	live := make([]*adsListener, 0, len(r.listeners.live))
	for _, l := range r.listeners.live {
		live = append(live, l)
	}
	r.listeners.mu.Unlock()
	for _, l := range live {
		l.cancel()
		l.srv.Stop()
	}
}

// ADSAddr is the address the ADS port listens on now (Addr is where it
// started).
func (r *Running) ADSAddr() net.Addr {
	r.listeners.mu.Lock()
	defer r.listeners.mu.Unlock()
	return r.listeners.current.addr
}

func addrPort(a net.Addr) netip.AddrPort {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	return t.AddrPort()
}

// scoped makes the callbacks of one listener's server: its stream ids are
// moved above every other listener's, and a stream's context says which
// listener it came in on.
func scoped(cb serverv3.CallbackFuncs, gen uint64) serverv3.CallbackFuncs {
	off := int64(gen) << genBits
	open := func(f func(context.Context, int64, string) error) func(context.Context, int64, string) error {
		return func(ctx context.Context, id int64, typ string) error {
			return f(context.WithValue(ctx, genKey{}, gen), id+off, typ)
		}
	}
	closed := func(f func(int64, *corev3.Node)) func(int64, *corev3.Node) {
		return func(id int64, n *corev3.Node) { f(id+off, n) }
	}
	out := cb
	out.StreamOpenFunc, out.DeltaStreamOpenFunc = open(cb.StreamOpenFunc), open(cb.DeltaStreamOpenFunc)
	out.StreamClosedFunc, out.DeltaStreamClosedFunc = closed(cb.StreamClosedFunc), closed(cb.DeltaStreamClosedFunc)
	out.StreamRequestFunc = func(id int64, req *discoveryv3.DiscoveryRequest) error { return cb.StreamRequestFunc(id+off, req) }
	out.StreamDeltaRequestFunc = func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
		return cb.StreamDeltaRequestFunc(id+off, req)
	}
	out.StreamResponseFunc = func(ctx context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
		cb.StreamResponseFunc(ctx, id+off, req, resp)
	}
	out.StreamDeltaResponseFunc = func(id int64, req *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
		cb.StreamDeltaResponseFunc(id+off, req, resp)
	}
	return out
}
