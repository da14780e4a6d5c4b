package bench

import (
	"fmt"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/snapshot"
)

// subscription is one resource a client watches, as a sidecar of the
// service does: its listener, route, cluster and the cluster's endpoints.
type subscription struct {
	typeURL string
	name    string
	bit     int
}

func subscriptions(service string) []subscription {
	// Envoy's order: clusters and their endpoints before listeners.
	return []subscription{
		{resource.ClusterType, snapshot.ClusterName(service), ackedCDS},
		{resource.EndpointType, snapshot.ClusterName(service), ackedEDS},
		{resource.ListenerType, snapshot.ListenerName(service), ackedLDS},
		{resource.RouteType, snapshot.RouteName(service), ackedRDS},
	}
}

func (s subscription) newMessage() proto.Message {
	switch s.typeURL {
	case resource.ClusterType:
		return &clusterv3.Cluster{}
	case resource.EndpointType:
		return &endpointv3.ClusterLoadAssignment{}
	case resource.ListenerType:
		return &listenerv3.Listener{}
	default:
		return &routev3.RouteConfiguration{}
	}
}

type named interface{ GetName() string }

// check decodes one resource of the subscription's type: it must be the one
// subscribed to. For endpoints it returns their key (endpointsKey).
func (s subscription) check(a *anypb.Any) (string, error) {
	if a.GetTypeUrl() != s.typeURL {
		return "", fmt.Errorf("resource of type %q in a %s response", a.GetTypeUrl(), s.typeURL)
	}
	m := s.newMessage()
	if err := a.UnmarshalTo(m); err != nil {
		return "", fmt.Errorf("%s: %w", s.typeURL, err)
	}
	cla, ok := m.(*endpointv3.ClusterLoadAssignment)
	if !ok {
		if got := m.(named).GetName(); got != s.name {
			return "", fmt.Errorf("%s: got %q, subscribed to %q", s.typeURL, got, s.name)
		}
		return "", nil
	}
	if got := cla.GetClusterName(); got != s.name {
		return "", fmt.Errorf("%s: got %q, subscribed to %q", s.typeURL, got, s.name)
	}
	var eps []string
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			eps = append(eps, catalog.Endpoint{Address: sa.GetAddress(), Port: sa.GetPortValue()}.String())
		}
	}
	if len(eps) == 0 {
		return "", fmt.Errorf("%s %q: no endpoints", s.typeURL, s.name)
	}
	return joinSorted(eps), nil
}

// endpointsKey names a set of endpoints: what a client holds.
func endpointsKey(eps []catalog.Endpoint) string {
	s := make([]string, len(eps))
	for i, e := range eps {
		s[i] = e.String()
	}
	return joinSorted(s)
}

func joinSorted(s []string) string {
	slices.Sort(s)
	return strings.Join(s, ",")
}
