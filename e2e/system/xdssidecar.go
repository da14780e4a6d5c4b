package system

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/envoy"
	xdsserver "github.com/meshward/meshward/xds/server"
	"github.com/meshward/meshward/xds/snapshot"
)

// SidecarXDSOptions shape a run in which orders' sidecar follows LDS.
type SidecarXDSOptions struct {
	Ports, Addresses int // the pools: sockets per address, loopback addresses (the first of each is the start)
	Callers          int // concurrent callers of orders (Direct: each with its own EDS stream, at most 8)
	AckTimeout       time.Duration
	Grace            time.Duration
	// Direct makes the callers the earlier stand-ins: each follows its own
	// EDS and calls orders' sidecar itself over mTLS. Otherwise they are
	// frontend's app, calling its own sidecar's outbound listener in plain
	// HTTP with Host: orders, and frontend's sidecar (an xDS node of its
	// own) carries each hop to orders' sidecar.
	Direct bool
}

// SidecarXDS is an xDS server, orders' app behind an e2e sidecar that opens
// and closes its inbound sockets as the server's LDS says, and frontend
// callers that find orders through their own EDS subscriptions.
type SidecarXDS struct {
	*System
	XDS       *XDS
	Inbound   *sidecar.Inbound
	Addresses []string
	Ports     []uint32
	Callers   *Callers
	// Orders' outbound side (its filters' source); Frontend is frontend's
	// sidecar (nil with Direct).
	OrdersOut *sidecar.OutboundXDS
	Frontend  *FrontendSidecar
	// Payments is a service frontend may not call; PaymentsConns counts the
	// connections its socket took.
	Payments      string
	paymentsConns *connCounter
	appSaw        *appLedger
	outboundCfg   atomic.Pointer[string]
	front         netip.AddrPort // frontend's socket in the catalog
	ads           *sidecar.ADS
	app           *http.Server
}

// StartSidecarXDS starts it all and waits until orders' sidecar listens on
// its first socket.
func StartSidecarXDS(ctx context.Context, so Options, o SidecarXDSOptions) (x *SidecarXDS, err error) {
	sys, err := Start(ctx, so)
	if err != nil {
		return nil, err
	}
	x = &SidecarXDS{System: sys}
	defer func() {
		if err != nil {
			x.Close()
		}
	}()
	if err = x.pools(o); err != nil {
		return nil, err
	}
	appAddr, err := x.startApp()
	if err != nil {
		return nil, err
	}
	if err = x.startPayments(); err != nil {
		return nil, err
	}
	front, err := reserveSocket(x.Addresses[0])
	if err != nil {
		return nil, err
	}
	if err = x.startServer(ctx, so.WasmPath, o, front); err != nil {
		return nil, err
	}
	if err = x.startOrdersSidecar(appAddr); err != nil {
		return nil, err
	}
	first := net.JoinHostPort(x.Addresses[0], strconv.Itoa(int(x.Ports[0])))
	if err = x.WaitSockets(ctx, func(s map[string]bool) bool { _, ok := s[first]; return ok }); err != nil {
		return nil, err
	}
	if o.Direct {
		x.Callers, err = x.startCallers(o.Callers)
		return x, err
	}
	if x.Frontend, err = x.startFrontendSidecar(ctx); err != nil {
		return nil, err
	}
	x.Callers, err = x.startAppCallers(o.Callers)
	return x, err
}

// pools picks addresses of the run's own and ports free on each of them.
func (x *SidecarXDS) pools(o SidecarXDSOptions) error {
	x.Addresses = make([]string, o.Addresses)
	for i := range x.Addresses {
		x.Addresses[i] = fmt.Sprintf("127.1.%d.%d", os.Getpid()%250, 10+i)
	}
	lns, ports, err := listenAll(x.Addresses, o.Ports)
	for _, l := range lns {
		l.Close() // the sidecar binds them when LDS says so
	}
	x.Ports = ports
	return err
}

func (x *SidecarXDS) startApp() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	x.appSaw = &appLedger{}
	x.app = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.appSaw.saw(r)
		fmt.Fprintf(w, "orders: %s %s ok\n", r.Method, r.URL.Path)
	})}
	go func() { _ = x.app.Serve(ln) }()
	return ln.Addr().String(), nil
}

// frontendCallsOrders is the need-to-know rule of the run: only the
// frontend calls orders (orders' own sidecar is told of no peer).
type frontendCallsOrders struct{}

func (frontendCallsOrders) Reachable(caller string, s catalog.Service) bool {
	return caller == Frontend && s.Name == Moved
}

func (x *SidecarXDS) startServer(ctx context.Context, wasm string, o SidecarXDSOptions, front netip.AddrPort) error {
	x.front = front
	cat, err := x.catalog(nil)
	if err != nil {
		return err
	}
	cert, err := x.CA.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	if err != nil {
		return err
	}
	x.XDS = &XDS{Token: randomToken(), Backends: map[string]string{}}
	x.XDS.Server, err = xdsserver.Start(ctx, xdsserver.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Admin: xdsserver.AdminAuth{Token: []byte(x.XDS.Token)}, TLS: x.CA.ServerTLS(cert), Reach: frontendCallsOrders{},
		Defaults: catalog.Schedule{Grace: o.Grace, AckTimeout: o.AckTimeout, HardDeadline: o.AckTimeout},
		Sidecars: x.template(wasm), Log: x.log.With().Str("component", "xds").Logger()})
	return err
}

// catalog is what the server serves: orders with its pools (and, if given,
// its rotation schedule), frontend and payments.
func (x *SidecarXDS) catalog(sc *catalog.Schedule) (*catalog.Catalog, error) {
	pool := make([]string, len(x.Ports)-1)
	for i, p := range x.Ports[1:] {
		pool[i] = strconv.Itoa(int(p))
	}
	y := fmt.Sprintf("services:\n  - name: %s\n    identity: %s\n    endpoints: [{address: %s, port: %d}]\n    ports: [%s]\n    addresses: [%s]\n",
		Moved, Orders, x.Addresses[0], x.Ports[0], strings.Join(pool, ", "), strings.Join(x.Addresses[1:], ", "))
	if sc != nil {
		y += fmt.Sprintf("    rotation: {every: %v, jitter: %v, grace: %v, ackTimeout: %v, hardDeadline: %v, recent: %d}\n",
			sc.Every, sc.Jitter, sc.Grace, sc.AckTimeout, sc.HardDeadline, sc.Recent)
	}
	pay := netip.MustParseAddrPort(x.Payments)
	y += fmt.Sprintf("  - {name: frontend, identity: %s, endpoints: [{address: %s, port: %d}]}\n", Frontend, x.front.Addr(), x.front.Port())
	y += fmt.Sprintf("  - {name: payments, identity: %s, endpoints: [{address: %s, port: %d}]}\n", Payments, pay.Addr(), pay.Port())
	return catalog.Parse("sidecar-catalog.yaml", []byte(y))
}

// OutboundPluginConfig is every sidecar's outbound filter configuration
// (xds/envoy requires EaaS there; without a subscriber it seals nothing).
const OutboundPluginConfig = `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"direction":"outbound"}}`

// SetFrontendOutboundConfig changes what the server tells frontend's
// sidecar its outbound filter's configuration is, from the next
// publication (XDS.Server.Republish).
func (x *SidecarXDS) SetFrontendOutboundConfig(cfg string) { x.outboundCfg.Store(&cfg) }

// template is what the server tells sidecars; their filters run with the
// plugin configurations of their listeners.
func (x *SidecarXDS) template(wasm string) *xdsserver.SidecarTemplate {
	x.SetFrontendOutboundConfig(OutboundPluginConfig)
	sock := func(a net.Addr) []envoy.Socket {
		t := a.(*net.TCPAddr)
		return []envoy.Socket{{Address: t.IP.String(), Port: uint32(t.Port)}}
	}
	return &xdsserver.SidecarTemplate{
		Filter: envoy.WasmFilter{VMID: "meshward", Code: envoy.WasmCode{File: wasm}},
		PluginConfig: func(id string, _ map[string]string, inbound bool) (string, error) {
			switch {
			case !inbound && id == Frontend:
				return *x.outboundCfg.Load(), nil
			case !inbound:
				return OutboundPluginConfig, nil
			}
			app := map[string]string{Orders: "orders", Frontend: "frontend"}[id]
			return fmt.Sprintf(`{"authorizer_cluster":"meshward-authz","destination":%q,"destination_labels":{"app":%q},"timeout_ms":1000}`, id, app), nil
		},
		Authz: envoy.Authorizer{Identity: Authorizer, GRPC: sock(x.Authz.GRPCAddr), HTTP: sock(x.Authz.HTTPAddr)},
		TLS:   envoy.TLS{CertFile: "/etc/certs/cert.pem", KeyFile: "/etc/certs/key.pem", CAFile: "/etc/certs/ca.pem"},
	}
}

// startOrdersSidecar runs orders' sidecar with orders' certificate, the
// system's filter host, following the server's LDS.
func (x *SidecarXDS) startOrdersSidecar(app string) error {
	cert, err := x.CA.Issue(Orders)
	if err != nil {
		return err
	}
	log := x.log.With().Str("component", "orders-sidecar").Logger()
	x.OrdersOut, err = sidecar.NewOutboundXDS(sidecar.OutboundXDSConfig{TLS: x.CA.ClientTLS(cert),
		Filters: x.filterMaker(cert, log), Log: log})
	if err != nil {
		return err
	}
	x.Inbound = sidecar.NewInbound(&sidecar.Sidecar{Upstream: "http://" + app, Log: log},
		x.CA.ServerTLS(cert), 5*time.Second, log).WithOutbound(x.OrdersOut)
	out, err := reserveSocket("127.0.0.1")
	if err != nil {
		return err
	}
	md, err := structpb.NewStruct(map[string]any{xdsserver.MetaKind: "sidecar", xdsserver.MetaEndpoint: "0",
		xdsserver.MetaApp: app, xdsserver.MetaOutbound: out.String()})
	if err != nil {
		return err
	}
	x.ads, err = sidecar.FollowADS(sidecar.ADSConfig{Server: x.XDS.Server.Addr.String(), TLS: x.CA.ClientTLS(cert),
		Node:      &corev3.Node{Id: Orders + "~orders-0", Metadata: md},
		Subscribe: []sidecar.Subscription{{TypeURL: resource.ClusterType}, {TypeURL: resource.ListenerType}},
		Apply:     x.Inbound.Apply, Log: log})
	return err
}

// WaitSockets waits until orders' sidecar's sockets (address:port ->
// draining) satisfy cond.
func (x *SidecarXDS) WaitSockets(ctx context.Context, cond func(map[string]bool) bool) error {
	for {
		changed := x.Inbound.Changed()
		if cond(x.Inbound.Sockets()) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("orders' sidecar listens on %v: %w", x.Inbound.Sockets(), ctx.Err())
		}
	}
}

// Metric reads the sample of the xDS server's /metrics (admin token) of
// metric name whose labels hold every one of labels (`result="nack"`).
func (x *SidecarXDS) Metric(name string, labels ...string) (float64, error) {
	req, err := http.NewRequest("GET", "http://"+x.XDS.Server.AdminAddr.String()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+x.XDS.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		series, v, ok := strings.Cut(line, " ")
		if ok && (series == name || strings.HasPrefix(series, name+"{")) && hasAll(series, labels) {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil // a counter never incremented has no sample
}

func hasAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// Close stops everything.
func (x *SidecarXDS) Close() {
	if x.Callers != nil {
		x.Callers.Stop()
	}
	if x.Frontend != nil {
		x.Frontend.Close()
	}
	if x.ads != nil {
		x.ads.Close()
	}
	if x.Inbound != nil {
		x.Inbound.Close()
	}
	if x.OrdersOut != nil {
		x.OrdersOut.Close()
	}
	if x.paymentsConns != nil {
		x.paymentsConns.Close()
	}
	if x.XDS != nil && x.XDS.Server != nil {
		x.XDS.Server.Stop()
	}
	if x.app != nil {
		x.app.Close()
	}
	x.System.Close()
}

// Callers call orders as the frontend, each over HTTPS with a mesh
// certificate, at the endpoint its own EDS subscription gives. A caller
// switches endpoints only once no request of its is still connecting to the
// old one, and ACKs after that: its ACK means "I no longer connect there".
type Callers struct {
	mu       sync.Mutex
	bySocket map[string]int
	ok       int
	failed   int
	firstErr error
	// viaSidecar: frontend's app through its sidecar, whose hops fill
	// bySocket.
	viaSidecar bool
	// Unready counts endpoints announced before they accepted connections
	// (each caller dials a new endpoint before it ACKs it).
	Unready []string
	changed chan struct{}
	stop    context.CancelFunc
	wg      sync.WaitGroup
	streams []*sidecar.ADS
}

type caller struct {
	c      *Callers
	mu     sync.RWMutex // held for reading from picking an endpoint to holding a connection to it
	target string
	ready  chan struct{} // closed at the first endpoint
	client *http.Client
}

func (x *SidecarXDS) startCallers(n int) (*Callers, error) {
	cert, err := x.CA.Issue(Frontend)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs := &Callers{bySocket: map[string]int{}, changed: make(chan struct{}), stop: cancel}
	for i := range n {
		c := &caller{c: cs, ready: make(chan struct{}), client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: ordersTLS(x.CA.ClientTLS(cert))}}}
		a, err := sidecar.FollowADS(sidecar.ADSConfig{Server: x.XDS.Server.Addr.String(), TLS: x.CA.ClientTLS(cert),
			Node:      &corev3.Node{Id: fmt.Sprintf("%s~caller-%d", Frontend, i)},
			Subscribe: []sidecar.Subscription{{TypeURL: resource.EndpointType, Names: []string{snapshot.ClusterName(Moved)}}},
			Apply:     c.apply, Log: x.log.With().Str("component", "caller").Logger()})
		if err != nil {
			cs.Stop()
			return nil, err
		}
		cs.streams = append(cs.streams, a)
		cs.wg.Add(1)
		go func() { defer cs.wg.Done(); c.run(ctx) }()
	}
	return cs, nil
}

// ordersTLS accepts only orders' SPIFFE ID, as a sidecar's upstream TLS
// does (the certificates name 127.0.0.1 and localhost, not the pools).
func ordersTLS(cfg *tls.Config) *tls.Config {
	cfg.ServerName = "localhost"
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if id := identity.PeerID(&cs); id != Orders {
			return fmt.Errorf("the endpoint answers as %q, not orders", id)
		}
		return nil
	}
	return cfg
}

// apply takes orders' endpoints: the first one becomes the target once no
// request is connecting to the old one.
func (c *caller) apply(typ string, res []*anypb.Any) (map[string][]string, error) {
	if len(res) != 1 {
		return nil, fmt.Errorf("%d load assignments, want orders' one", len(res))
	}
	var cla endpointv3.ClusterLoadAssignment
	if err := res[0].UnmarshalTo(&cla); err != nil {
		return nil, err
	}
	sa := cla.GetEndpoints()
	if len(sa) == 0 || len(sa[0].GetLbEndpoints()) == 0 {
		return nil, errors.New("orders has no endpoint")
	}
	a := sa[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	target := net.JoinHostPort(a.GetAddress(), strconv.Itoa(int(a.GetPortValue())))
	if conn, err := net.Dial("tcp", target); err != nil {
		c.c.mu.Lock()
		c.c.Unready = append(c.c.Unready, target)
		c.c.mu.Unlock()
	} else {
		conn.Close()
	}
	c.mu.Lock()
	if c.target == "" {
		close(c.ready)
	}
	c.target = target
	c.mu.Unlock()
	return nil, nil
}

func (c *caller) run(ctx context.Context) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return
	}
	for i := 0; ctx.Err() == nil; i++ {
		sock, err := c.call(ctx, i)
		if err != nil && c.moved(sock) {
			// Go's transport retries a GET whose reused connection the old
			// socket closed, on a new connection to the same address, after
			// the caller switched: Envoy (Istio's default retry policy:
			// connect-failure, reset) picks the host again. So does this.
			sock, err = c.call(ctx, i)
		}
		if ctx.Err() != nil {
			return
		}
		c.c.record(sock, err)
	}
}

// moved says whether the caller switched away from sock.
func (c *caller) moved(sock string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.target != sock
}

// call makes one request; the read lock is held until the request has its
// connection, so that apply's switch waits for requests still connecting.
func (c *caller) call(ctx context.Context, i int) (string, error) {
	c.mu.RLock()
	var once sync.Once
	release := func() { once.Do(c.mu.RUnlock) }
	defer release()
	target := c.target
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { release() }})
	req, err := http.NewRequestWithContext(tctx, "GET", "https://"+target+"/orders/"+strconv.Itoa(i), nil)
	if err != nil {
		return target, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return target, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err == nil && (resp.StatusCode != 200 || !strings.HasPrefix(string(body), "orders: GET")) {
		err = fmt.Errorf("%s: %d %s %q", target, resp.StatusCode, resp.Header.Get("x-meshward-reason"), body)
	}
	return target, err
}

func (cs *Callers) record(sock string, err error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err != nil {
		cs.failed++
		if cs.firstErr == nil {
			cs.firstErr = err
		}
		return
	}
	cs.ok++
	if cs.viaSidecar {
		return
	}
	cs.bySocket[sock]++
	close(cs.changed)
	cs.changed = make(chan struct{})
}

// WaitCalledOn waits until more than after calls to socket succeeded (for
// frontend's app: hops of its sidecar to socket that got an answer).
func (cs *Callers) WaitCalledOn(ctx context.Context, socket string, after int) error {
	for {
		cs.mu.Lock()
		n, changed := cs.bySocket[socket], cs.changed
		cs.mu.Unlock()
		if n > after {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("no call answered on %s: %w", socket, ctx.Err())
		}
	}
}

// CallReport is what the callers saw.
type CallReport struct {
	Calls, Failed int
	FirstError    error
	BySocket      map[string]int
	Unready       []string
}

// Report is what the callers saw so far.
func (cs *Callers) Report() CallReport {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	r := CallReport{Calls: cs.ok, Failed: cs.failed, FirstError: cs.firstErr, BySocket: map[string]int{}, Unready: append([]string(nil), cs.Unready...)}
	for s, n := range cs.bySocket {
		r.BySocket[s] = n
	}
	return r
}

// Stop ends the calls and the callers' streams.
func (cs *Callers) Stop() {
	cs.stop()
	cs.wg.Wait()
	for _, a := range cs.streams {
		a.Close()
	}
	cs.streams = nil
}
