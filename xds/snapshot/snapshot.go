// Package snapshot turns a rotation.Placement into go-control-plane
// resources for proxyless gRPC clients: per service, an API listener, a route
// configuration, an EDS cluster and its endpoints. Names stay stable across
// rotations; only endpoints change (a renamed cluster fails in-flight RPCs).
package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// Resource names of a service.
func ListenerName(service string) string { return service }
func RouteName(service string) string    { return service + "-route" }
func ClusterName(service string) string  { return service + "-cluster" }

// Build makes the snapshot for a placement. It holds every service of the
// placement: a client may ask for any of them, and a state-of-the-world
// response for listeners or clusters must hold every one the client asked
// for (grpc-go takes a missing one as deleted).
//
// Endpoints are versioned by what the placement announced: a move's other
// steps change only what the moving service's sidecars serve. Listeners, routes and clusters
// depend only on the service names, so their version is a digest of the
// names: a rotation pushes only endpoints, to the clients that watch them.
func Build(p *rotation.Placement) (*cachev3.Snapshot, error) {
	services := p.Services()
	r, err := Resources(p, services)
	if err != nil {
		return nil, err
	}
	lds, rds, cds, eds := r[resource.ListenerType], r[resource.RouteType], r[resource.ClusterType], r[resource.EndpointType]
	names := namesVersion(services)
	snap := &cachev3.Snapshot{}
	for _, r := range []struct {
		typ     resource.Type
		version string
		items   []types.Resource
	}{
		{resource.ListenerType, names, lds}, {resource.RouteType, names, rds},
		{resource.ClusterType, names, cds}, {resource.EndpointType, strconv.FormatUint(p.Announced, 10), eds},
	} {
		snap.Resources[cachev3.GetResponseType(r.typ)] = cachev3.NewResources(r.version, r.items)
	}
	return snap, nil
}

// Resources are the proxyless resources of the given services only: what
// a client may know (need-to-know), by type.
func Resources(p *rotation.Placement, services []string) (map[resource.Type][]types.Resource, error) {
	out := map[resource.Type][]types.Resource{}
	for _, svc := range services {
		l, err := listener(svc)
		if err != nil {
			return nil, err
		}
		out[resource.ListenerType] = append(out[resource.ListenerType], l)
		out[resource.RouteType] = append(out[resource.RouteType], route(svc))
		out[resource.ClusterType] = append(out[resource.ClusterType], cluster(svc))
		out[resource.EndpointType] = append(out[resource.EndpointType], assignment(svc, p.Endpoints(svc)))
	}
	return out, nil
}

// namesVersion is a digest of the sorted service names.
func namesVersion(services []string) string {
	h := sha256.New()
	for _, s := range services {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "names-" + hex.EncodeToString(h.Sum(nil)[:8])
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// listener is an API listener: what grpc-go resolves for xds:///<service>.
func listener(svc string) (*listenerv3.Listener, error) {
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix: svc,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: ads(), RouteConfigName: RouteName(svc),
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	})
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{Name: ListenerName(svc), ApiListener: &listenerv3.ApiListener{ApiListener: hcm}}, nil
}

func route(svc string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: RouteName(svc),
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    svc,
			Domains: []string{svc},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: ""}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: ClusterName(svc)},
				}},
			}},
		}},
	}
}

func cluster(svc string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 ClusterName(svc),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
}

func assignment(svc string, eps []catalog.Endpoint) *endpointv3.ClusterLoadAssignment {
	lb := make([]*endpointv3.LbEndpoint, len(eps))
	for i, e := range eps {
		lb[i] = &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: e.Address, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: e.Port},
				}}},
			}},
			HealthStatus: corev3.HealthStatus_HEALTHY,
		}
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: ClusterName(svc),
		// grpc-go rejects a locality without an ID or a weight.
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			Locality:            &corev3.Locality{Region: "local", Zone: "local"},
			LoadBalancingWeight: wrapperspb.UInt32(1),
			LbEndpoints:         lb,
		}},
	}
}
