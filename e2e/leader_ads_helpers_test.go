package e2e

import (
	"context"
	"fmt"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/xds/snapshot"
)

// edsWatch is one ADS stream's subscription to a service's endpoints, as
// an xDS client holds it: each answer is acknowledged, and the next one is
// the next change.
type edsWatch struct {
	s       discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node    string
	service string
}

func watchEDS(t *testing.T, addr, node, service string) *edsWatch {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	must(t, err)
	w := &edsWatch{s: s, node: node, service: service}
	must(t, w.send("", ""))
	return w
}

func (w *edsWatch) send(version, nonce string) error {
	return w.s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: w.node}, TypeUrl: resource.EndpointType,
		ResourceNames: []string{snapshot.ClusterName(w.service)}, VersionInfo: version, ResponseNonce: nonce})
}

// next waits for the next answer, acknowledges it and returns its
// endpoints; an error when the stream ended (its server died).
func (w *edsWatch) next() ([]string, error) {
	resp, err := w.s.Recv()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range resp.GetResources() {
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			return nil, err
		}
		for _, le := range cla.GetEndpoints() {
			for _, ep := range le.GetLbEndpoints() {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				out = append(out, fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
		}
	}
	return out, w.send(resp.GetVersionInfo(), resp.GetNonce())
}

// until reads answers until one names want.
func (w *edsWatch) until(t *testing.T, want []string) {
	t.Helper()
	for {
		got, err := w.next()
		if err != nil {
			t.Fatalf("the ADS stream ended waiting for %v: %v", want, err)
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
	}
}
