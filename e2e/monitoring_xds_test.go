package e2e

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/snapshot"
)

// driveXDS follows orders' endpoints over ADS as a proxyless client, which
// acknowledges the first answer and refuses (NACKs) the move after it, so
// it is left behind; payments, which nobody follows, moves too;
// then a stream asking for a type the server does not serve, which the
// guard ends.
func (m *monitored) driveXDS(t *testing.T) {
	cc, err := grpc.NewClient(m.xds.Addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(cc)
	s, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: identity.SPIFFE("ops", "console") + "~monitoring"},
		TypeUrl: resource.EndpointType, ResourceNames: []string{snapshot.ClusterName("orders")}}
	answer := func(nack *rpcstatus.Status) {
		t.Helper()
		resp, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		r := &discoveryv3.DiscoveryRequest{Node: req.Node, TypeUrl: req.TypeUrl, ResourceNames: req.ResourceNames,
			VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ErrorDetail: nack}
		if nack != nil {
			r.VersionInfo = req.VersionInfo // a NACK names the last version applied
		}
		req.VersionInfo = r.VersionInfo
		if err := s.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send(req); err != nil {
		t.Fatal(err)
	}
	answer(nil)
	// Nobody follows payments: its move converges whatever the load.
	if _, err := m.xds.Move(ctx, "payments", 41202, "admin"); err != nil {
		t.Fatal(err)
	}
	moved := make(chan error, 1)
	go func() { _, err := m.xds.Move(ctx, "orders", 41102, "admin"); moved <- err }()
	answer(&rpcstatus.Status{Code: 3, Message: "monitoring: endpoint refused"})
	<-moved // it ends once the acknowledgement timeout passed: the client is behind
	m.waitMetric(t, "xds", `meshward_xds_acks_total{result="nack"`)
	m.waitMetric(t, "xds", `meshward_xds_laggards_total{service="orders"}`)
	bad, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "intruder"}, TypeUrl: "type.googleapis.com/meshward.Nothing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Recv(); err == nil {
		t.Fatal("a request for a type the server does not serve was answered")
	}
	m.waitMetric(t, "xds", `meshward_xds_streams_refused_total{reason="bad-request"}`)
}
