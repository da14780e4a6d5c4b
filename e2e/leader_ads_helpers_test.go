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
// an xDS client holds it: a reader acknowledges each answer at once and
// hands its endpoints on.
type edsWatch struct {
	s       discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node    string
	service string
	got     chan []string // closed when the stream ends
}

func watchEDS(t *testing.T, addr, node, service string) *edsWatch {
	t.Helper()
	w := openEDS(t, addr, node, service)
	go w.read()
	return w
}

// openEDS subscribes without reading: a client that never acknowledges.
func openEDS(t *testing.T, addr, node, service string) *edsWatch {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	must(t, err)
	w := &edsWatch{s: s, node: node, service: service, got: make(chan []string, 64)}
	must(t, w.send("", ""))
	return w
}

func (w *edsWatch) send(version, nonce string) error {
	return w.s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: w.node}, TypeUrl: resource.EndpointType,
		ResourceNames: []string{snapshot.ClusterName(w.service)}, VersionInfo: version, ResponseNonce: nonce})
}

func (w *edsWatch) read() {
	defer close(w.got)
	for {
		resp, err := w.s.Recv()
		if err != nil {
			return
		}
		eps, err := endpointsIn(resp)
		if err != nil || w.send(resp.GetVersionInfo(), resp.GetNonce()) != nil {
			return
		}
		w.got <- eps
	}
}

func endpointsIn(resp *discoveryv3.DiscoveryResponse) ([]string, error) {
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
	return out, nil
}

// until waits for an answer that names want.
func (w *edsWatch) until(t *testing.T, want []string) {
	t.Helper()
	for got := range w.got {
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
	}
	t.Fatalf("the ADS stream ended waiting for %v", want)
}

// ended waits for the stream's end (its server died).
func (w *edsWatch) ended() {
	for range w.got {
	}
}
