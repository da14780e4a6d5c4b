package e2e

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/snapshot"
)

// mute subscribes id's node to service's endpoints, takes the first answer
// and never acknowledges anything after it.
func mute(t *testing.T, e *system.Events, id, service string) {
	t.Helper()
	cfg, err := e.TLS(id)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(e.XDS.Addr.String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
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
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: id}, TypeUrl: resource.EndpointType,
		ResourceNames: []string{snapshot.ClusterName(service)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
}

// The attack, over the authorizer and the xDS server with the real
// policies (orders' callers are frontend and the operators' console):
// payments, which the policies do not let call orders, subscribes to
// orders' endpoints and never acknowledges; so does frontend, which is
// then quarantined. The quarantine moves orders. Before the fix both mute
// streams counted among orders' callers: the move waited the whole ack
// timeout, reported them behind, and kept orders' old socket served (and
// known to the quarantined workload) until the hard deadline. Now the move
// waits for the console alone and the old socket closes after the grace.
func TestRedteamXDSMuteSubscribersDoNotHoldTheTarget(t *testing.T) {
	e, err := system.StartEvents(eventsCatalog, eventsPolicies,
		catalog.Schedule{Grace: 10 * time.Millisecond, AckTimeout: 30 * time.Second, HardDeadline: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	frontend, console := identity.SPIFFE("shop", "frontend"), identity.SPIFFE("ops", "console")
	mute(t, e, identity.SPIFFE("shop", "payments"), "orders")
	mute(t, e, frontend, "orders")
	ops := watch(t, e, console, console)
	if p := next(t, ops); p != 41001 {
		t.Fatalf("orders at %d before the quarantine", p)
	}
	if err := e.Quarantine(context.Background(), frontend, false); err != nil {
		t.Fatal(err)
	}
	if p := next(t, ops); p == 41001 {
		t.Fatal("the console was not told orders' new port")
	}
	var lm *struct{ behind int }
	for deadline := time.Now().Add(30 * time.Second); lm == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if rec := e.XDS.Status().Services["orders"].LastMove; rec != nil {
			lm = &struct{ behind int }{rec.Behind}
		}
	}
	if lm == nil || lm.behind != 0 {
		t.Fatalf("orders' move: %+v, want it recorded with nobody behind", lm)
	}
	for deadline := time.Now().Add(30 * time.Second); len(e.XDS.Current().Serving("orders")) != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("orders' old socket still served: %v", e.XDS.Current().Serving("orders"))
		}
	}
}
