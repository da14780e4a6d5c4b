package sidecar

import (
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// FuzzOutboundXDS feeds the outbound side's parsers hostile resources of
// each type: they return an error or a result, never panic, and a route
// table they accept answers every lookup.
func FuzzOutboundXDS(f *testing.F) {
	seed := func(m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		for typ := range 4 {
			f.Add(uint8(typ), b)
		}
	}
	seed(edsCluster("outbound|80||orders", upstreamTLSSocket(f, exactURI(ordersID))))
	seed(&routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{vhostFor("a", "orders", "*")}})
	seed(&endpointv3.ClusterLoadAssignment{ClusterName: "c"})
	seed(&listenerv3.Listener{Name: "outbound|127.0.0.1:15001"})
	types := []string{resource.ClusterType, resource.EndpointType, resource.RouteType, resource.ListenerType}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		a := &anypb.Any{TypeUrl: types[int(typ)%len(types)], Value: b}
		res := []*anypb.Any{a}
		_, _ = parseClusters(res)
		_, _ = parseEndpoints(res)
		_, _ = outboundOf(res)
		_, _ = inboundFilters(res)
		if rts, err := parseRoutes(res); err == nil {
			for _, tab := range rts {
				tab.match("orders", "/x")
				tab.match("", "")
			}
		}
	})
}
