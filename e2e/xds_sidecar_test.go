package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/e2e/system"
	xdsserver "github.com/meshward/meshward/xds/server"
)

func startSidecarXDS(t *testing.T, o system.SidecarXDSOptions) (context.Context, *system.SidecarXDS) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	x, err := system.StartSidecarXDS(ctx, system.Options{WasmPath: wasmPath(t), CacheDir: cacheDir(t), Log: zerolog.Nop()}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	return ctx, x
}

func endpointOf(x *system.SidecarXDS) string {
	return x.XDS.Server.Current().Endpoints(system.Moved)[0].String()
}

func tcpAccepts(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Orders' e2e sidecar follows the xDS server's LDS while the server moves
// orders 30 times, each to a port and an address it draws, and frontend
// callers that follow their own EDS call it the whole time. Every new socket
// accepts before any caller hears of it (each caller dials it before it
// ACKs), no call fails, and once a move's grace is over the old socket
// refuses connections: a scanner that remembered any old socket finds it
// closed.
func TestSidecarFollowsLDSUnderMoves(t *testing.T) {
	ctx, x := startSidecarXDS(t, system.SidecarXDSOptions{Ports: 5, Addresses: 3, Callers: 4,
		AckTimeout: 10 * time.Second, Grace: 20 * time.Millisecond, Direct: true})
	if err := x.Callers.WaitCalledOn(ctx, endpointOf(x), 0); err != nil {
		t.Fatal(err)
	}
	const moves = 30
	var remembered []string
	var toOpen, moveTook []time.Duration
	for range moves {
		old := endpointOf(x)
		start := time.Now()
		p, err := x.XDS.Server.Move(ctx, system.Moved, 0, "admin")
		if err != nil {
			t.Fatal(err)
		}
		moveTook = append(moveTook, time.Since(start))
		now := p.Endpoints(system.Moved)[0].String()
		opened, ok := x.Inbound.OpenedAt(now)
		if !ok || !tcpAccepts(now) {
			t.Fatalf("orders moved to %s, which its sidecar does not listen on (%v)", now, x.Inbound.Sockets())
		}
		toOpen = append(toOpen, opened.Sub(start))
		if err := x.Callers.WaitCalledOn(ctx, now, 0); err != nil {
			t.Fatal(err)
		}
		if err := x.WaitSockets(ctx, func(s map[string]bool) bool { _, open := s[old]; return !open }); err != nil {
			t.Fatal(err)
		}
		if tcpAccepts(old) {
			t.Fatalf("the old socket %s still accepts connections after the move's grace", old)
		}
		remembered = append(remembered, old)
	}
	x.Callers.Stop()
	open := x.Inbound.Sockets()
	for _, s := range remembered {
		if _, reopened := open[s]; !reopened && tcpAccepts(s) {
			t.Errorf("the scanner finds the old socket %s open", s)
		}
	}
	rep := x.Callers.Report()
	t.Logf("%d moves; %d calls on %d sockets, %d failed; Move to socket open: mean %v max %v; Move: mean %v max %v",
		moves, rep.Calls, len(rep.BySocket), rep.Failed, mean(toOpen), slices.Max(toOpen), mean(moveTook), slices.Max(moveTook))
	if rep.Failed != 0 || len(rep.Unready) != 0 {
		t.Fatalf("%d calls failed (first: %v); endpoints announced before they accepted: %v", rep.Failed, rep.FirstError, rep.Unready)
	}
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}

// A workload squats the socket orders is to move to, hoping to take its
// callers' traffic. Orders' sidecar cannot bind it and NACKs its listeners
// with the reason; the server counts the NACK, calls the move off, and
// never tells a caller of the squatted socket; the sidecar keeps serving its
// last good socket, and no call fails. Once the squatter is gone, the same
// move goes through.
func TestSidecarNACKKeepsLastGoodSocket(t *testing.T) {
	ctx, x := startSidecarXDS(t, system.SidecarXDSOptions{Ports: 3, Addresses: 1, Callers: 2,
		AckTimeout: 3 * time.Second, Grace: 20 * time.Millisecond})
	first := endpointOf(x)
	if err := x.Callers.WaitCalledOn(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(x.Addresses[0], strconv.Itoa(int(x.Ports[1])))
	squat, err := net.Listen("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	stolen := make(chan int, 1)
	go func() {
		n := 0
		for {
			c, err := squat.Accept()
			if err != nil {
				stolen <- n
				return
			}
			n++
			c.Close()
		}
	}()
	nacks := `result="nack"`
	before, err := x.Metric("meshward_xds_acks_total", nacks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.XDS.Server.Move(ctx, system.Moved, x.Ports[1], "admin"); !errors.Is(err, xdsserver.ErrNotOpened) {
		t.Fatalf("a move to a squatted socket: %v", err)
	}
	after, err := x.Metric("meshward_xds_acks_total", nacks, `type="type.googleapis.com/envoy.config.listener.v3.Listener"`)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("the server counted %v listener NACKs (before the move: %v)", after, before)
	}
	if now := endpointOf(x); now != first {
		t.Fatalf("the called-off move announced %s", now)
	}
	calls := x.Callers.Report().BySocket[first]
	if err := x.Callers.WaitCalledOn(ctx, first, calls); err != nil {
		t.Fatal(err)
	}
	if s := x.Inbound.Sockets(); len(s) != 1 || s[first] || !tcpAccepts(first) {
		t.Fatalf("after the NACK orders' sidecar listens on %v", s)
	}
	squat.Close()
	if n := <-stolen; n != 0 {
		t.Fatalf("the squatter took %d connections", n)
	}

	if _, err := x.XDS.Server.Move(ctx, system.Moved, x.Ports[1], "admin"); err != nil {
		t.Fatal(err)
	}
	if err := x.Callers.WaitCalledOn(ctx, target, 0); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitSockets(ctx, func(s map[string]bool) bool { _, open := s[first]; return !open }); err != nil {
		t.Fatal(err)
	}
	if tcpAccepts(first) {
		t.Fatalf("the old socket %s still accepts", first)
	}
	rep := x.Callers.Report()
	t.Logf("NACK counted (%v -> %v); %d calls, %d failed", before, after, rep.Calls, rep.Failed)
	if rep.Failed != 0 || len(rep.Unready) != 0 {
		t.Fatalf("%d calls failed (first: %v); announced before accepting: %v", rep.Failed, rep.FirstError, rep.Unready)
	}
}

// Frontend's app calls orders through its own sidecar (plain HTTP, Host:
// orders) while the server moves orders 100 times, ports and addresses:
// frontend's sidecar follows its own LDS, RDS, CDS and EDS and carries each
// hop over mTLS to orders' sidecar, which follows LDS. No call fails; the
// filter ran on both sides with the plugin configurations LDS gave; each
// move's new socket took hops; and every hop frontend's sidecar got an
// answer to was taken by orders' sidecar on that very socket.
func TestSidecarOutboundFollowsMoves(t *testing.T) {
	ctx, x := startSidecarXDS(t, system.SidecarXDSOptions{Ports: 5, Addresses: 3, Callers: 4,
		AckTimeout: 10 * time.Second, Grace: 20 * time.Millisecond})
	if err := x.Callers.WaitCalledOn(ctx, endpointOf(x), 0); err != nil {
		t.Fatal(err)
	}
	const moves = 100 // the issue's count, through sidecars on both sides
	for range moves {
		old := endpointOf(x)
		before := x.Callers.Report().BySocket
		p, err := x.XDS.Server.Move(ctx, system.Moved, 0, "admin")
		if err != nil {
			t.Fatal(err)
		}
		now := p.Endpoints(system.Moved)[0].String()
		err = x.Frontend.Wait(ctx, func(o *sidecar.OutboundXDS) bool {
			return slices.Equal(o.Endpoints(x.OrdersCluster()), []string{now})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Callers.WaitCalledOn(ctx, now, before[now]); err != nil {
			t.Fatal(err)
		}
		if err := x.WaitSockets(ctx, func(s map[string]bool) bool { _, open := s[old]; return !open }); err != nil {
			t.Fatal(err)
		}
	}
	x.Callers.Stop()
	rep := x.Callers.Report()
	answered, unanswered := x.Frontend.Hops()
	served := x.Inbound.Served()
	t.Logf("%d moves; %d calls, %d failed; hops by socket %v (unanswered %v); orders served %v", moves, rep.Calls,
		rep.Failed, answered, unanswered, served)
	if rep.Failed != 0 || rep.Calls == 0 {
		t.Fatalf("%d of %d calls failed (first: %v)", rep.Failed, rep.Calls+rep.Failed, rep.FirstError)
	}
	for sock, n := range answered {
		if int64(n) > served[sock] {
			t.Errorf("frontend's sidecar got %d answers from %s, where orders' sidecar took %d requests", n, sock, served[sock])
		}
	}
	if got := x.Frontend.Out.PluginConfig(); got != system.OutboundPluginConfig {
		t.Errorf("the outbound filter runs with %q, not LDS's", got)
	}
	if n := x.Frontend.Out.FilterUsage().Exports["proxy_on_request_headers"].Calls; n < rep.Calls {
		t.Errorf("the outbound filter saw %d requests of %d calls", n, rep.Calls)
	}
	requests, unchecked := x.OrdersAppSaw()
	checks, err := x.Checks()
	if err != nil {
		t.Fatal(err)
	}
	if requests < int64(rep.Calls) || unchecked != 0 || checks == 0 {
		t.Errorf("orders' app got %d requests for %d calls, %d not allowed by the inbound filter (%d checks)",
			requests, rep.Calls, unchecked, checks)
	}
}

// Frontend's app asks its sidecar for services its policy does not let it
// call: payments (in the catalog, with a live socket) and catalog (not in
// the mesh at all), by bare host, host:port, another case, or an absolute
// URI. Frontend's sidecar has no route for them (need-to-know: the server
// never told it of payments) and answers 404 without sending anything;
// payments' socket takes no connection, and orders still answers.
func TestSidecarOutboundNeedToKnow(t *testing.T) {
	ctx, x := startSidecarXDS(t, system.SidecarXDSOptions{Ports: 2, Addresses: 1, Callers: 0,
		AckTimeout: 10 * time.Second, Grace: 20 * time.Millisecond})
	c := &http.Client{Timeout: 30 * time.Second}
	pay := netip.MustParseAddrPort(x.Payments)
	hosts := []string{"payments", "payments:" + strconv.Itoa(int(pay.Port())), "PAYMENTS", "catalog", x.Payments,
		"orders.evil", "orders:1"}
	hopsBefore, _ := x.Frontend.Hops()
	for _, h := range hosts {
		r, err := x.Frontend.Call(ctx, c, h, "GET", "/orders/42", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusNotFound || !strings.Contains(r.Body, "no route") {
			t.Errorf("Host %q: %d %q, want 404 no route", h, r.Status, r.Body)
		}
	}
	if n := x.PaymentsConnections(); n != 0 {
		t.Errorf("payments' socket took %d connections", n)
	}
	if after, _ := x.Frontend.Hops(); !maps.Equal(after, hopsBefore) {
		t.Errorf("frontend's sidecar sent hops for hosts it has no route to: %v -> %v", hopsBefore, after)
	}
	r, err := x.Frontend.Call(ctx, c, "orders", "GET", "/orders/42", nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("orders through frontend's sidecar: %+v %v", r, err)
	}
}

// After a move, a workload with another mesh identity (catalog's valid
// certificate) squats orders' old socket, and frontend's sidecar is fed a
// stale EDS naming it, as a lagging or replayed update would. The sidecar
// connects there, refuses the certificate (it does not name orders, as
// CDS says it must) and sends nothing: the squatter gets no request and
// the app a 502. Given orders' current endpoint again, calls go through.
func TestSidecarOutboundRefusesSquatter(t *testing.T) {
	ctx, x := startSidecarXDS(t, system.SidecarXDSOptions{Ports: 2, Addresses: 1, Callers: 0,
		AckTimeout: 10 * time.Second, Grace: 20 * time.Millisecond})
	old := endpointOf(x)
	p, err := x.XDS.Server.Move(ctx, system.Moved, x.Ports[1], "admin")
	if err != nil {
		t.Fatal(err)
	}
	now := p.Endpoints(system.Moved)[0].String()
	if err := x.WaitSockets(ctx, func(s map[string]bool) bool { _, open := s[old]; return !open }); err != nil {
		t.Fatal(err)
	}
	sq, err := startSquatter(x, old)
	if err != nil {
		t.Fatal(err)
	}
	defer sq.close()
	feedEndpoints(t, x, old)
	c := &http.Client{Timeout: 30 * time.Second}
	for i := range 3 {
		r, err := x.Frontend.Call(ctx, c, "orders", "GET", "/orders/"+strconv.Itoa(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusBadGateway {
			t.Errorf("through the stale endpoint: %d %q, want 502", r.Status, r.Body)
		}
	}
	if sq.conns.Load() == 0 {
		t.Fatal("frontend's sidecar never connected to the squatter: the attack did not run")
	}
	if n := sq.requests.Load(); n != 0 {
		t.Fatalf("the squatter got %d requests", n)
	}
	feedEndpoints(t, x, now)
	if r, err := x.Frontend.Call(ctx, c, "orders", "GET", "/orders/1", nil); err != nil || r.Status != 200 {
		t.Fatalf("with orders' endpoint again: %+v %v", r, err)
	}
	t.Logf("squatter: %d connections refused, %d requests", sq.conns.Load(), sq.requests.Load())
}

type squatter struct {
	srv             *http.Server
	conns, requests atomic.Int64
}

// startSquatter serves HTTPS on sock with catalog's mesh certificate.
func startSquatter(x *system.SidecarXDS, sock string) (*squatter, error) {
	cert, err := x.CA.Issue(system.Catalog)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", sock)
	if err != nil {
		return nil, err
	}
	sq := &squatter{}
	sq.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			sq.requests.Add(1)
			w.Write([]byte("orders: GET squatted"))
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				sq.conns.Add(1)
			}
		}}
	go func() { _ = sq.srv.Serve(tls.NewListener(ln, x.CA.ServerTLS(cert))) }()
	return sq, nil
}

func (sq *squatter) close() { sq.srv.Close() }

// feedEndpoints applies an EDS response naming sock as orders' endpoint to
// frontend's sidecar, as its ADS stream would.
func feedEndpoints(t *testing.T, x *system.SidecarXDS, sock string) {
	t.Helper()
	ap := netip.MustParseAddrPort(sock)
	addr := &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ap.Addr().String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(ap.Port())}}}}
	lb := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}}}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: x.OrdersCluster(),
		Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{lb}}}}
	a, err := anypb.New(cla)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Frontend.In.Apply(resource.EndpointType, []*anypb.Any{a}); err != nil {
		t.Fatal(err)
	}
	if got := x.Frontend.Out.Endpoints(x.OrdersCluster()); !slices.Equal(got, []string{sock}) {
		t.Fatalf("frontend's sidecar has %v after EDS %s", got, sock)
	}
}

// The server tells frontend's sidecar an outbound filter configuration the
// filter refuses (timeout_ms over its bound; xds/envoy does not read that
// field). The sidecar cannot start a plugin with it and NACKs the
// listeners; the server counts the NACK; the last good filter, listener and
// routes keep serving. The next good configuration is taken.
func TestSidecarOutboundNACKKeepsLastGood(t *testing.T) {
	ctx, x := startSidecarXDS(t, system.SidecarXDSOptions{Ports: 2, Addresses: 1, Callers: 0,
		AckTimeout: 10 * time.Second, Grace: 20 * time.Millisecond})
	c := &http.Client{Timeout: 30 * time.Second}
	nacks := []string{`result="nack"`, `type="type.googleapis.com/envoy.config.listener.v3.Listener"`}
	before, err := x.Metric("meshward_xds_acks_total", nacks...)
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"authorizer_cluster":"meshward-authz","timeout_ms":999999,"eaas":{"enabled":true,"direction":"outbound"}}`
	x.SetFrontendOutboundConfig(bad)
	if err := x.XDS.Server.Republish(ctx); err != nil {
		t.Fatal(err)
	}
	after := before
	for after <= before && ctx.Err() == nil { // the NACK reaches the server after Republish returned
		if after, err = x.Metric("meshward_xds_acks_total", nacks...); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	if after <= before {
		t.Fatalf("the server counted no listener NACK (%v)", after)
	}
	if got := x.Frontend.Out.PluginConfig(); got != system.OutboundPluginConfig {
		t.Fatalf("after the NACK the outbound filter runs with %q", got)
	}
	r, err := x.Frontend.Call(ctx, c, "orders", "GET", "/orders/7", nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("after the NACK: %+v %v", r, err)
	}
	good := `{"authorizer_cluster":"meshward-authz","timeout_ms":2000,"eaas":{"enabled":true,"direction":"outbound"}}`
	x.SetFrontendOutboundConfig(good)
	if err := x.XDS.Server.Republish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := x.Frontend.Wait(ctx, func(o *sidecar.OutboundXDS) bool { return o.PluginConfig() == good }); err != nil {
		t.Fatal(err)
	}
	if r, err := x.Frontend.Call(ctx, c, "orders", "GET", "/orders/8", nil); err != nil || r.Status != 200 {
		t.Fatalf("with the new configuration: %+v %v", r, err)
	}
	t.Logf("listener NACKs counted %v -> %v", before, after)
}
