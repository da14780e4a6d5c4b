package system

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/envoy"
	xdsserver "github.com/meshward/meshward/xds/server"
)

// Payments is a workload of the catalog that frontend may not call.
var Payments = identity.SPIFFE("shop", "payments")

// FrontendSidecar is frontend's sidecar as an xDS node: its own
// certificate, an inbound side and an outbound side that LDS, RDS, CDS
// and EDS configure.
type FrontendSidecar struct {
	In  *sidecar.Inbound
	Out *sidecar.OutboundXDS
	// Upstream counts, by endpoint, the hops the outbound side made that
	// got an answer, and those that did not.
	upMu       sync.Mutex
	upOK       map[string]int
	upFailed   map[string]int
	ads        *sidecar.ADS
	app        *http.Server
	onUpstream func(string)
}

// OrdersCluster is the cluster frontend's sidecar reaches orders by.
func (x *SidecarXDS) OrdersCluster() string {
	return envoy.OutboundClusterName(envoy.Peer{Service: Moved, Port: x.Ports[0]})
}

// filterMaker starts the built filter the way a listener names it, with
// the sidecar's certificate for its callouts.
func (x *SidecarXDS) filterMaker(cert tls.Certificate, log zerolog.Logger) sidecar.FilterMaker {
	return func(ctx context.Context, code string, cfg []byte, clusters map[string]string) (*proxywasm.Host, error) {
		return proxywasm.New(ctx, proxywasm.Config{WasmPath: code, PluginConfig: cfg, CacheDir: x.opts.CacheDir,
			Clusters: clusters, ClusterTLS: x.CA.ClientTLS(cert), Log: log.With().Str("component", "filter").Logger()})
	}
}

func (x *SidecarXDS) startFrontendSidecar(ctx context.Context) (*FrontendSidecar, error) {
	cert, err := x.CA.Issue(Frontend)
	if err != nil {
		return nil, err
	}
	log := x.log.With().Str("component", "frontend-sidecar").Logger()
	f := &FrontendSidecar{upOK: map[string]int{}, upFailed: map[string]int{}}
	f.Out, err = sidecar.NewOutboundXDS(sidecar.OutboundXDSConfig{TLS: x.CA.ClientTLS(cert),
		Filters: x.filterMaker(cert, log), OnUpstream: f.upstream, Log: log})
	if err != nil {
		return nil, err
	}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.app = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "frontend")
	})}
	go func() { _ = f.app.Serve(appLn) }()
	f.In = sidecar.NewInbound(&sidecar.Sidecar{Upstream: "http://" + appLn.Addr().String(), Log: log},
		x.CA.ServerTLS(cert), 5*time.Second, log).WithOutbound(f.Out)
	out, err := reserveSocket("127.0.0.1")
	if err != nil {
		f.Close()
		return nil, err
	}
	md, err := structpb.NewStruct(map[string]any{xdsserver.MetaKind: "sidecar", xdsserver.MetaEndpoint: "0",
		xdsserver.MetaApp: appLn.Addr().String(), xdsserver.MetaOutbound: out.String()})
	if err == nil {
		f.ads, err = sidecar.FollowADS(sidecar.ADSConfig{Server: x.XDS.Server.Addr.String(), TLS: x.CA.ClientTLS(cert),
			Node:      &corev3.Node{Id: Frontend + "~frontend-0", Metadata: md},
			Subscribe: []sidecar.Subscription{{TypeURL: resource.ClusterType}, {TypeURL: resource.ListenerType}},
			Apply:     f.In.Apply, Log: log})
	}
	if err == nil {
		err = f.Wait(ctx, func(o *sidecar.OutboundXDS) bool {
			_, open := o.Addr()
			c, routed := o.Route("orders", "/")
			return open && routed && c == x.OrdersCluster() && len(o.Endpoints(c)) > 0
		})
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *FrontendSidecar) upstream(_, endpoint string, err error) {
	f.upMu.Lock()
	if err != nil {
		f.upFailed[endpoint]++
	} else {
		f.upOK[endpoint]++
	}
	cb := f.onUpstream
	f.upMu.Unlock()
	if cb != nil && err == nil {
		cb(endpoint)
	}
}

// Hops are the outbound side's answered and unanswered hops by endpoint.
func (f *FrontendSidecar) Hops() (ok, failed map[string]int) {
	f.upMu.Lock()
	defer f.upMu.Unlock()
	ok, failed = map[string]int{}, map[string]int{}
	for k, v := range f.upOK {
		ok[k] = v
	}
	for k, v := range f.upFailed {
		failed[k] = v
	}
	return ok, failed
}

// Wait waits until the outbound side satisfies cond.
func (f *FrontendSidecar) Wait(ctx context.Context, cond func(*sidecar.OutboundXDS) bool) error {
	for {
		changed := f.Out.Changed()
		if cond(f.Out) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("frontend's sidecar: %w", ctx.Err())
		}
	}
}

// Call is frontend's app calling through its sidecar: plain HTTP to the
// outbound listener, with host as :authority.
func (f *FrontendSidecar) Call(ctx context.Context, c *http.Client, host, method, path string, hdr http.Header) (Result, error) {
	addr, ok := f.Out.Addr()
	if !ok {
		return Result{}, fmt.Errorf("frontend's sidecar has no outbound listener")
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr.String()+path, nil)
	if err != nil {
		return Result{}, err
	}
	req.Host = host
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return Result{Status: resp.StatusCode, Reason: resp.Header.Get("x-meshward-reason"), Body: string(b)}, err
}

// Close stops frontend's sidecar.
func (f *FrontendSidecar) Close() {
	if f.ads != nil {
		f.ads.Close()
	}
	f.In.Close()
	f.Out.Close()
	f.app.Close()
}

// startAppCallers are frontend's app: n loops calling orders through
// frontend's sidecar. Which socket of orders answered is what frontend's
// sidecar saw.
func (x *SidecarXDS) startAppCallers(n int) (*Callers, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cs := &Callers{bySocket: map[string]int{}, changed: make(chan struct{}), stop: cancel, viaSidecar: true}
	f := x.Frontend
	f.upMu.Lock()
	f.onUpstream = cs.hop
	f.upMu.Unlock()
	client := &http.Client{Timeout: 30 * time.Second}
	for range n {
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				r, err := f.Call(ctx, client, "orders", "GET", "/orders/"+strconv.Itoa(i), nil)
				if err == nil && (r.Status != 200 || !strings.HasPrefix(r.Body, "orders: GET")) {
					err = fmt.Errorf("%d %s %q", r.Status, r.Reason, r.Body)
				}
				if ctx.Err() != nil {
					return
				}
				cs.record("", err)
			}
		}()
	}
	return cs, nil
}

// hop counts a hop frontend's sidecar made to socket.
func (cs *Callers) hop(socket string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.bySocket[socket]++
	close(cs.changed)
	cs.changed = make(chan struct{})
}

// reserveSocket is a socket free on addr now, for a listener that xDS will
// open there.
func reserveSocket(addr string) (netip.AddrPort, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String()), nil
}

// startPayments listens as a service frontend may not call, counting the
// connections it takes: need-to-know means none.
func (x *SidecarXDS) startPayments() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	x.Payments = ln.Addr().String()
	x.paymentsConns = &connCounter{ln: ln}
	go x.paymentsConns.run()
	return nil
}

// PaymentsConnections is how many connections payments' socket took.
func (x *SidecarXDS) PaymentsConnections() int64 { return x.paymentsConns.n.Load() }

type connCounter struct {
	ln net.Listener
	n  atomic.Int64
}

func (c *connCounter) run() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.n.Add(1)
		conn.Close()
	}
}

func (c *connCounter) Close() { c.ln.Close() }

// appLedger is what orders' app saw: requests, and those that came without
// the deciding rule the inbound filter adds once it allowed.
type appLedger struct {
	requests, unchecked atomic.Int64
}

func (l *appLedger) saw(r *http.Request) {
	l.requests.Add(1)
	if r.Header.Get("x-meshward-rule") == "" {
		l.unchecked.Add(1)
	}
}

// OrdersAppSaw is how many requests orders' app got, and how many of them
// the inbound filter had not allowed by a rule.
func (x *SidecarXDS) OrdersAppSaw() (requests, unchecked int64) {
	return x.appSaw.requests.Load(), x.appSaw.unchecked.Load()
}
