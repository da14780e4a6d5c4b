package server

import (
	"context"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/snapshot"
)

func deltaStream(t *testing.T, addr string, creds credentials.TransportCredentials) discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Incremental ADS is served, guarded like state of the world (a delta
// stream naming another workload's node is refused), and its
// acknowledgements count: a move waits for them.
func TestDeltaADS(t *testing.T) {
	r, creds, front := frontendOverMTLS(t, Config{Defaults: catalog.Schedule{Grace: time.Millisecond, AckTimeout: time.Minute, HardDeadline: time.Minute}})

	forged := deltaStream(t, r.Addr.String(), creds)
	_ = forged.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: identity.SPIFFE("shop", "orders")},
		TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{snapshot.ClusterName("orders")}})
	if _, err := forged.Recv(); err == nil || !strings.Contains(err.Error(), "not the client certificate's identity") {
		t.Fatalf("a delta stream in another node's name: %v", err)
	}

	s := deltaStream(t, r.Addr.String(), creds)
	node := &corev3.Node{Id: front}
	if err := s.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType,
		ResourceNamesSubscribe: []string{snapshot.ClusterName("orders")}}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil || len(resp.GetResources()) != 1 {
		t.Fatalf("first delta answer: %v %v", resp, err)
	}
	acked := make(chan error, 1)
	go func() {
		for {
			if err := s.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResponseNonce: resp.GetNonce()}); err != nil {
				acked <- err
				return
			}
			if resp, err = s.Recv(); err != nil {
				return
			}
		}
	}()
	waitFor(t, func() bool { return r.acks.watchers(resource.EndpointType, snapshot.ClusterName("orders")) == 1 })
	if _, err := r.Move(context.Background(), "orders", 3000, "admin"); err != nil {
		t.Fatal(err)
	}
	if n := r.metrics.laggards.WithLabelValues("orders"); n == nil {
		t.Fatal("no laggard counter")
	}
	r.acks.mu.Lock()
	behind := r.acks.pending(waitSet{typ: resource.EndpointType, names: []string{snapshot.ClusterName("orders")}})
	r.acks.mu.Unlock()
	if len(behind) != 0 {
		t.Fatalf("the move returned before the delta client acknowledged: %v behind", behind)
	}
}
