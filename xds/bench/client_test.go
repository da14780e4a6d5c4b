package bench

import (
	"errors"
	"net"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func cla(name string, ports ...uint32) *endpointv3.ClusterLoadAssignment {
	var lb []*endpointv3.LbEndpoint
	for _, p := range ports {
		lb = append(lb, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: p}}}}}}})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lb}}}
}

// What the client takes and what it refuses: it never ACKs an answer a
// sidecar could not use, and says why.
func TestClientChecksAnswers(t *testing.T) {
	c := newClient(0, "bench", false, newTracker(1))
	good := mustAny(t, cla("bench-cluster", 20001, 20000))
	for _, tc := range []struct {
		name    string
		resp    *discoveryv3.DiscoveryResponse
		wantKey string
		wantErr string
	}{
		{"endpoints", &discoveryv3.DiscoveryResponse{TypeUrl: resource.EndpointType, Resources: []*anypb.Any{good}},
			"127.0.0.1:20000,127.0.0.1:20001", ""},
		{"cluster", &discoveryv3.DiscoveryResponse{TypeUrl: resource.ClusterType,
			Resources: []*anypb.Any{mustAny(t, &clusterv3.Cluster{Name: "bench-cluster"})}}, "", ""},
		{"unsubscribed type", &discoveryv3.DiscoveryResponse{TypeUrl: resource.SecretType}, "", "not subscribed"},
		{"none: deleted", &discoveryv3.DiscoveryResponse{TypeUrl: resource.EndpointType}, "", "0 resources"},
		{"two", &discoveryv3.DiscoveryResponse{TypeUrl: resource.EndpointType, Resources: []*anypb.Any{good, good}}, "", "2 resources"},
		{"another cluster's endpoints", &discoveryv3.DiscoveryResponse{TypeUrl: resource.EndpointType,
			Resources: []*anypb.Any{mustAny(t, cla("other-cluster", 1))}}, "", `got "other-cluster"`},
		{"no endpoints", &discoveryv3.DiscoveryResponse{TypeUrl: resource.EndpointType,
			Resources: []*anypb.Any{mustAny(t, cla("bench-cluster"))}}, "", "no endpoints"},
		{"a cluster in an endpoints answer", &discoveryv3.DiscoveryResponse{TypeUrl: resource.EndpointType,
			Resources: []*anypb.Any{mustAny(t, &clusterv3.Cluster{Name: "bench-cluster"})}}, "", "of type"},
		{"garbage", &discoveryv3.DiscoveryResponse{TypeUrl: resource.EndpointType,
			Resources: []*anypb.Any{{TypeUrl: resource.EndpointType, Value: []byte{0xff, 0xff}}}}, "", resource.EndpointType},
	} {
		_, key, err := c.checkSOTW(tc.resp)
		if key != tc.wantKey || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: key %q err %v, want %q and an error with %q", tc.name, key, err, tc.wantKey, tc.wantErr)
		}
	}
}

func TestDeltaClientChecksAnswers(t *testing.T) {
	c := newClient(0, "bench", true, newTracker(1))
	good := &discoveryv3.Resource{Name: "bench-cluster", Version: "h1", Resource: mustAny(t, cla("bench-cluster", 20001))}
	for _, tc := range []struct {
		name    string
		resp    *discoveryv3.DeltaDiscoveryResponse
		wantErr string
	}{
		{"endpoints", &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType, Resources: []*discoveryv3.Resource{good}}, ""},
		{"a removal", &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType, RemovedResources: []string{"bench-cluster"}}, "removes"},
		{"nothing", &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType}, "0 resources"},
		{"misnamed", &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType, Resources: []*discoveryv3.Resource{
			{Name: "other", Resource: good.Resource}}}, `named "other"`},
	} {
		_, key, version, err := c.checkDelta(tc.resp)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.wantErr)
		}
		if err == nil && (key != "127.0.0.1:20001" || version != "h1") {
			t.Errorf("%s: key %q version %q", tc.name, key, version)
		}
	}
}

// A server that serves only state-of-the-world ADS: a delta client reports
// "not served", not a generic failure; a state-of-the-world client against a
// server that serves neither does not claim that.
func TestDeltaNotServed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(s, discoveryv3.UnimplementedAggregatedDiscoveryServiceServer{})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	err = newClient(0, "bench", true, newTracker(1)).run(t.Context(), l.Addr().String())
	if !errors.Is(err, ErrDeltaNotServed) {
		t.Errorf("delta client: %v, want ErrDeltaNotServed", err)
	}
	err = newClient(0, "bench", false, newTracker(1)).run(t.Context(), l.Addr().String())
	if err == nil || errors.Is(err, ErrDeltaNotServed) {
		t.Errorf("sotw client: %v, want an Unimplemented error that is not ErrDeltaNotServed", err)
	}
}
