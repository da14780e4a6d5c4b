package envoy

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	connectTimeout       = 2 * time.Second
	httpProtocolOptionsN = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// assignment is the endpoints of a cluster. Every cluster has one locality
// with a weight, which Envoy and grpc-go both accept.
func assignment(cluster string, socks []Socket) *endpointv3.ClusterLoadAssignment {
	lb := make([]*endpointv3.LbEndpoint, len(socks))
	for i, s := range socks {
		lb[i] = &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(s)}},
			HealthStatus:   corev3.HealthStatus_HEALTHY,
		}
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			Locality:            &corev3.Locality{Region: "local", Zone: "local"},
			LoadBalancingWeight: wrapperspb.UInt32(1),
			LbEndpoints:         lb,
		}},
	}
}

// staticCluster is a cluster whose endpoints are in the cluster itself:
// the local application and the meshward control components, which do not
// rotate.
func staticCluster(name string, socks []Socket, tls *corev3.TransportSocket) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       duration(connectTimeout),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		LoadAssignment:       assignment(name, socks),
		TransportSocket:      tls,
	}
}

// outboundCluster reaches a peer's sidecars, whose endpoints come by EDS
// over ADS, and accepts only a server certificate naming the peer.
func (s *Sidecar) outboundCluster(p *Peer) (*clusterv3.Cluster, error) {
	tls, err := s.TLS.upstream(p.Identity)
	if err != nil {
		return nil, err
	}
	return &clusterv3.Cluster{
		Name:                 OutboundClusterName(*p),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		ConnectTimeout:       duration(connectTimeout),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		TransportSocket:      tls,
	}, nil
}

// authzClusters are the authorizer's gRPC port (HTTP/2, for ext_authz), its
// check port (the filter's callouts) and, when elsewhere, the EaaS
// coordinator; each accepts only the authorizer's certificate.
func (s *Sidecar) authzClusters() ([]*clusterv3.Cluster, error) {
	a := &s.Authz
	grpcTLS, err := s.TLS.upstream(a.Identity, "h2")
	if err != nil {
		return nil, err
	}
	h2, err := http2Options()
	if err != nil {
		return nil, err
	}
	grpc := staticCluster(AuthzGRPCCluster, a.GRPC, grpcTLS)
	grpc.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsN: h2}
	httpTLS, err := s.TLS.upstream(a.Identity)
	if err != nil {
		return nil, err
	}
	out := []*clusterv3.Cluster{grpc, staticCluster(AuthzHTTPCluster, a.HTTP, httpTLS)}
	if len(a.EaaS) > 0 {
		out = append(out, staticCluster(EaaSCluster, a.EaaS, httpTLS))
	}
	return out, nil
}

func http2Options() (*anypb.Any, error) {
	return pack(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
}

// outboundRoute has one virtual host per peer, matching only its hosts. A
// request for any other host matches none and Envoy answers 404: there is
// no catch-all and no passthrough.
func (s *Sidecar) outboundRoute() *routev3.RouteConfiguration {
	vhosts := make([]*routev3.VirtualHost, len(s.Calls))
	for i := range s.Calls {
		p := &s.Calls[i]
		vhosts[i] = &routev3.VirtualHost{
			Name:    OutboundClusterName(*p),
			Domains: p.domains(),
			Routes:  []*routev3.Route{prefixRoute(OutboundClusterName(*p))},
		}
	}
	return &routev3.RouteConfiguration{Name: OutboundRouteName, VirtualHosts: vhosts}
}
