package sidecar

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

const ordersID = "spiffe://cluster.local/ns/shop/sa/orders"

func anyOf(t testing.TB, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func upstreamTLSSocket(t testing.TB, sans ...*tlsv3.SubjectAltNameMatcher) *corev3.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			MatchTypedSubjectAltNames: sans}}}}
	return &corev3.TransportSocket{Name: "tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: anyOf(t, ctx)}}
}

func exactURI(v string) *tlsv3.SubjectAltNameMatcher {
	return &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}
}

func edsCluster(name string, ts *corev3.TransportSocket) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		TransportSocket: ts}
}

// A peer's cluster must say whom the upstream must be: without TLS, or
// with a SAN matcher the sidecar cannot apply exactly, a squatter could
// answer for the peer, so the response is refused.
func TestParseClusters(t *testing.T) {
	prefix := exactURI("")
	prefix.Matcher.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://cluster.local/"}
	for _, tc := range []struct {
		name string
		c    *clusterv3.Cluster
		want string // error substring; "" accepts
	}{
		{"peer", edsCluster("outbound|80||orders", upstreamTLSSocket(t, exactURI(ordersID))), ""},
		{"no TLS", edsCluster("outbound|80||orders", nil), "without TLS"},
		{"no SAN", edsCluster("outbound|80||orders", upstreamTLSSocket(t)), "without TLS"},
		{"prefix SAN", edsCluster("outbound|80||orders", upstreamTLSSocket(t, prefix)), "exact URI SAN"},
		{"not SPIFFE", edsCluster("outbound|80||orders", upstreamTLSSocket(t, exactURI("https://orders"))), "SAN matcher 0"},
		{"no name", edsCluster("", upstreamTLSSocket(t, exactURI(ordersID))), "no name"},
		{"logical DNS", &clusterv3.Cluster{Name: "x", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}}, "want EDS or STATIC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := parseClusters([]*anypb.Any{anyOf(t, tc.c)})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			case tc.want == "" && cs[tc.c.Name].sans[0] != ordersID:
				t.Fatalf("SANs %v", cs[tc.c.Name].sans)
			}
		})
	}
}

func vhostFor(name string, domains ...string) *routev3.VirtualHost {
	return &routev3.VirtualHost{Name: name, Domains: domains, Routes: []*routev3.Route{{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: name}}}}}}
}

// Only hosts in the route table reach a cluster: need-to-know.
func TestRouteMatch(t *testing.T) {
	rc := &routev3.RouteConfiguration{Name: "meshward-outbound", VirtualHosts: []*routev3.VirtualHost{
		vhostFor("outbound|80||orders", "orders", "orders:80")}}
	rts, err := parseRoutes([]*anypb.Any{anyOf(t, rc)})
	if err != nil {
		t.Fatal(err)
	}
	tab := rts["meshward-outbound"]
	for host, want := range map[string]bool{"orders": true, "ORDERS:80": true, "orders:81": false, "payments": false,
		"": false, "orders.": false, "*": false} {
		if _, ok := tab.match(host, "/orders/1?q=1"); ok != want {
			t.Errorf("host %q routed %v, want %v", host, ok, want)
		}
	}
}

func TestParseRoutesRefuses(t *testing.T) {
	for name, rc := range map[string]*routev3.RouteConfiguration{
		"wildcard suffix": {Name: "r", VirtualHosts: []*routev3.VirtualHost{vhostFor("a", "*.shop")}},
		"shared domain":   {Name: "r", VirtualHosts: []*routev3.VirtualHost{vhostFor("a", "orders"), vhostFor("b", "ORDERS")}},
		"no domain":       {Name: "r", VirtualHosts: []*routev3.VirtualHost{vhostFor("a")}},
		"no name":         {VirtualHosts: []*routev3.VirtualHost{vhostFor("a", "orders")}},
	} {
		if _, err := parseRoutes([]*anypb.Any{anyOf(t, rc)}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
