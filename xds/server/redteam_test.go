package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/envoy"
	"github.com/meshward/meshward/xds/snapshot"
)

// The red team's mesh: sidecarMesh's services, proxyless clients whose
// need-to-know is redEdges. payments calls nobody; checkout and frontend
// call orders.
var redEdges = edges{"frontend": {"orders"}, "checkout": {"orders"}, "orders": {"payments"}}

type redRig struct {
	r  *Running
	ca *identity.CA
}

// startRed starts a server over mutual TLS with cfg's limits; its moves
// wait a long time for acknowledgements, so that only a server that waits
// for the wrong clients is slow, never a loaded machine.
func startRed(t *testing.T, cfg Config) redRig {
	t.Helper()
	return startRedLogged(t, cfg, zerolog.Nop())
}

func startRedLogged(t *testing.T, cfg Config, log zerolog.Logger) redRig {
	t.Helper()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	cfg.TLS, cfg.Admin, cfg.Reach = ca.ServerTLS(srv), AdminAuth{Token: testToken}, redEdges
	if cfg.Defaults.AckTimeout == 0 {
		cfg.Defaults = catalog.Schedule{Grace: time.Millisecond, AckTimeout: 30 * time.Second, HardDeadline: time.Minute}
	}
	c, err := catalog.Parse("c", []byte(sidecarMesh))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Catalog, cfg.Addr, cfg.AdminAddr, cfg.Log = c, "127.0.0.1:0", "127.0.0.1:0", log
	r, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return redRig{r, ca}
}

// creds are a mesh certificate of service account sa in namespace shop.
func (g redRig) creds(t *testing.T, sa string) credentials.TransportCredentials {
	t.Helper()
	cert, err := g.ca.Issue(identity.SPIFFE("shop", sa))
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewTLS(g.ca.ClientTLS(cert))
}

// stream is an ADS stream with sa's certificate that lasts as long as
// the test (ads's ends after 30 s, which would end a stall too).
func (g redRig) stream(t *testing.T, sa string) discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	cc, err := grpc.NewClient(g.r.Addr.String(), grpc.WithTransportCredentials(g.creds(t, sa)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// proxyless is sa's client subscribed to names' endpoints; with ack it
// acknowledges every answer, as grpc-go does; without, it never does.
func (g redRig) proxyless(t *testing.T, sa string, ack bool, names ...string) chan *discoveryv3.DiscoveryResponse {
	t.Helper()
	s := g.stream(t, sa)
	node := &corev3.Node{Id: identity.SPIFFE("shop", sa)}
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *discoveryv3.DiscoveryResponse, 64)
	go func() {
		defer close(got)
		for {
			resp, err := s.Recv()
			if err != nil {
				return
			}
			if ack {
				_ = s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resp.GetTypeUrl(), ResourceNames: names,
					VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
			}
			got <- resp
		}
	}()
	return got
}

// ordersNames are every name orders' endpoints go by.
var ordersNames = []string{snapshot.ClusterName("orders"), envoy.OutboundClusterName(envoy.Peer{Service: "orders", Port: 41000})}

// The attack: payments may call nobody, yet subscribes to orders'
// endpoints by name and never acknowledges anything. Before the fix the
// server counted it among orders' callers: every move of orders waited the
// whole ackTimeout for it, reported it behind, and kept orders' old
// sockets served until the hard deadline (the moving target stood still).
// A stranger is told nothing of orders, so nothing of it is waited for.
func TestRedteamXDSStrangerCannotStallMoves(t *testing.T) {
	g := startRed(t, Config{})
	stall := g.proxyless(t, "payments", false, ordersNames...)
	<-stall
	caller := g.proxyless(t, "frontend", true, ordersNames...)
	<-caller
	waitFor(t, func() bool { return g.r.acks.watchers(resource.EndpointType, ordersNames[0]) == 2 })
	assertMoveWaitsForNobodyElse(t, g, "payments")
}

// The same stall from a quarantined caller: frontend was told orders'
// endpoints, then frozen; it holds its subscription and never
// acknowledges. A frozen node is told nothing new on purpose, so a move
// must not wait for it (before the fix, its quarantine's own moves waited
// for it and kept the sockets it knew open until the hard deadline).
func TestRedteamXDSQuarantinedCannotStallMoves(t *testing.T) {
	g := startRed(t, Config{})
	stall := g.proxyless(t, "frontend", false, ordersNames...)
	<-stall
	if err := g.r.freeze(identity.SPIFFE("shop", "frontend"), 0); err != nil {
		t.Fatal(err)
	}
	caller := g.proxyless(t, "checkout", true, ordersNames...)
	<-caller
	waitFor(t, func() bool { return g.r.acks.watchers(resource.EndpointType, ordersNames[0]) == 2 })
	assertMoveWaitsForNobodyElse(t, g, "frontend")
}

func assertMoveWaitsForNobodyElse(t *testing.T, g redRig, attacker string) {
	t.Helper()
	if _, err := g.r.Move(context.Background(), "orders", 42000, "admin"); err != nil {
		t.Fatal(err)
	}
	st := g.r.Status()
	if rec := st.Services["orders"].LastMove; rec == nil || rec.Behind != 0 {
		t.Fatalf("%s's silence counted in orders' move: %+v", attacker, rec)
	}
	// The old socket closes after the grace, not after the hard deadline.
	waitFor(t, func() bool { return len(g.r.Current().Serving("orders")) == 1 })
}

// The attack: the request rate was a stream's, so a client that ran out
// closed the stream and opened another, with a full bucket, again and
// again (each time free to name a new node: a new configuration to
// build). The rate is the identity's too: its streams together get what
// its open streams may use, and closing one gives nothing back.
func TestRedteamXDSReconnectingDoesNotResetTheRate(t *testing.T) {
	g := startRed(t, Config{MaxStreamsPerIdentity: 2, RequestsPerSecond: 0.001})
	front := identity.SPIFFE("shop", "frontend")
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: front}, TypeUrl: resource.EndpointType, ResourceNames: ordersNames}
	refused := g.r.metrics.streamsRefused.WithLabelValues("rate")
	for i := 0; i < 5 && testutil.ToFloat64(refused) == 0; i++ {
		s := g.stream(t, "frontend")
		for range 90 { // under a stream's burst of 100
			_ = s.Send(req)
		}
		_ = s.CloseSend()
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		waitFor(t, func() bool { return g.streamsOf(front) == 0 })
	}
	if testutil.ToFloat64(refused) == 0 {
		t.Fatal("450 requests on five streams in turn, none refused: a new stream starts with a full bucket")
	}
}

// A node's new stream admitted while its old stream closes keeps the node:
// the old stream's close, seen before the new stream was admitted, must not
// drop the configuration the new one was admitted against (a reconnect
// would otherwise leave the node with nothing until it reconnects again).
func TestRedteamXDSReconnectRaceKeepsTheNode(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}})
	node := &corev3.Node{Id: "client-1"}
	for _, id := range []int64{1, 2} {
		if err := r.openStream(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.admitRequest(1, node); err != nil {
		t.Fatal(err)
	}
	// Stream 1 closes; stream 2 has named no node yet, so 1 was the last.
	gone, last := r.acks.close(1)
	if !last {
		t.Fatal("stream 1 was not the node's last")
	}
	// Stream 2's first request is admitted before the close drops the node.
	if err := r.admitRequest(2, node); err != nil {
		t.Fatal(err)
	}
	r.dropNode(gone)
	r.mu.Lock()
	_, known := r.nodes["client-1"]
	r.mu.Unlock()
	if _, err := r.cache.GetSnapshot("client-1"); !known || err != nil {
		t.Fatalf("the node was dropped under its new stream: known %v, snapshot %v", known, err)
	}
	// Once its last stream really closes, it goes.
	if gone, last = r.acks.close(2); !last {
		t.Fatal("stream 2 was not the node's last")
	}
	r.dropNode(gone)
	if _, err := r.cache.GetSnapshot("client-1"); err == nil {
		t.Error("a node without streams kept its snapshot")
	}
}
