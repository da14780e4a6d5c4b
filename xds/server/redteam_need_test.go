package server

import (
	"bytes"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/envoy"
	"github.com/meshward/meshward/xds/snapshot"
)

// paymentsNames are every name payments' resources go by, and the
// wildcards.
var paymentsNames = []string{snapshot.ListenerName("payments"), snapshot.RouteName("payments"), snapshot.ClusterName("payments"),
	envoy.OutboundClusterName(envoy.Peer{Service: "payments", Port: 41000}), "*", "payments*", ""}

// leaks says whether resources mention payments or its address.
func leaks(res []*anypb.Any) bool {
	for _, a := range res {
		if bytes.Contains(a.GetValue(), []byte("payments")) || bytes.Contains(a.GetValue(), []byte("127.0.0.32")) {
			return true
		}
	}
	return false
}

// The attack: frontend may call orders, not payments. It asks for
// payments' listener, route, cluster and endpoints by every name they go
// by, with wildcards, state of the world and delta. It must get nothing of
// payments (held: each node's snapshot holds only what it may know).
func TestRedteamXDSNeedToKnowByName(t *testing.T) {
	g := startRed(t, Config{})
	node := &corev3.Node{Id: identity.SPIFFE("shop", "frontend")}
	s := g.stream(t, "frontend")
	for _, typ := range envoy.ResourceTypes() {
		if err := s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: paymentsNames}); err != nil {
			t.Fatal(err)
		}
		resp, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if leaks(resp.GetResources()) {
			t.Errorf("state of the world %s: payments was served", typ)
		}
	}
	d := deltaStream(t, g.r.Addr.String(), g.creds(t, "frontend"))
	for _, typ := range envoy.ResourceTypes() {
		if err := d.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ, ResourceNamesSubscribe: paymentsNames,
			InitialResourceVersions: map[string]string{snapshot.ClusterName("payments"): "1"}}); err != nil {
			t.Fatal(err)
		}
		resp, err := d.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.GetResources() {
			if strings.Contains(r.GetName(), "payments") || leaks([]*anypb.Any{r.GetResource()}) {
				t.Errorf("delta %s: payments was served", typ)
			}
		}
	}
}

// The attack: frontend's certificate, another node's id (held: the node id
// must be the certificate's SPIFFE ID, or it and "~" and an instance name;
// case, escapes and path tricks are other strings), or a change of node
// id within a stream.
func TestRedteamXDSNodeIDTricks(t *testing.T) {
	g := startRed(t, Config{})
	front, orders := identity.SPIFFE("shop", "frontend"), identity.SPIFFE("shop", "orders")
	for _, ids := range [][]string{
		{orders}, {orders + "~0"}, {front + "/../orders"}, {front + "~0/../../orders"}, {front + "~"}, {front + "~a~b"},
		{strings.ToUpper(front)}, {strings.Replace(front, "frontend", "fr%6Fntend", 1)}, {front + "\x00"},
		{"spiffe://cluster.local/ns/shop/sa/orders~x"}, {front, front + "~1"}, {front + "~1", front + "~2"}, {front + "~1", orders},
	} {
		s := g.stream(t, "frontend")
		var err error
		for _, id := range ids {
			if err = s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: id}, TypeUrl: resource.ClusterType}); err != nil {
				break
			}
		}
		for err == nil {
			var resp *discoveryv3.DiscoveryResponse
			if resp, err = s.Recv(); err == nil && len(ids) == 1 {
				t.Fatalf("node %q was served %d clusters", ids[0], len(resp.GetResources()))
			}
		}
		if !strings.Contains(err.Error(), "node id") {
			t.Errorf("nodes %q: %v, want a refusal naming the node id", ids, err)
		}
	}
}
