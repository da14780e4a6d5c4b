package sidecar

import (
	"fmt"
	"net/netip"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshward/meshward/internal/identity"
)

// Bounds on one response: a sidecar calls a few services.
const (
	maxClusters      = 256
	maxEndpoints     = 64 // per cluster
	maxRouteConfigs  = 16
	maxVirtualHosts  = 256
	maxDomains       = 64 // per virtual host
	maxRoutesPerHost = 16
)

// clusterSpec is what the outbound side uses of a cluster: the SPIFFE IDs
// its upstream may present (from its TLS transport socket) and where its
// endpoints come from.
type clusterSpec struct {
	name    string
	eds     string           // the EDS service name; "" for a static cluster
	static  []netip.AddrPort // a static cluster's endpoints
	tls     bool
	sans    []string // exact URI SANs; one must match the upstream's certificate
	tlsALPN []string
}

// parseClusters reads a CDS response. A cluster the outbound side cannot
// use safely is an error naming it: an EDS cluster (a mesh peer) must have
// TLS that names the peer's SPIFFE ID, or a squatter could answer for it.
func parseClusters(res []*anypb.Any) (map[string]clusterSpec, error) {
	if len(res) > maxClusters {
		return nil, fmt.Errorf("%d clusters, at most %d", len(res), maxClusters)
	}
	out := make(map[string]clusterSpec, len(res))
	for i, a := range res {
		var c clusterv3.Cluster
		if err := unmarshalAs(a, resource.ClusterType, &c); err != nil {
			return nil, fmt.Errorf("cluster %d: %w", i, err)
		}
		s, err := clusterOf(&c)
		if err != nil {
			return nil, fmt.Errorf("cluster %d %q: %w", i, c.GetName(), err)
		}
		if _, dup := out[s.name]; dup {
			return nil, fmt.Errorf("cluster %d %q: named twice", i, s.name)
		}
		out[s.name] = s
	}
	return out, nil
}

func clusterOf(c *clusterv3.Cluster) (clusterSpec, error) {
	s := clusterSpec{name: c.GetName()}
	if s.name == "" {
		return s, fmt.Errorf("no name")
	}
	var err error
	if s.tls, s.sans, s.tlsALPN, err = upstreamTLS(c.GetTransportSocket()); err != nil {
		return s, err
	}
	switch c.GetType() {
	case clusterv3.Cluster_EDS:
		if !s.tls || len(s.sans) == 0 {
			return s, fmt.Errorf("an EDS cluster without TLS naming the peer's SPIFFE ID")
		}
		s.eds = c.GetEdsClusterConfig().GetServiceName()
		if s.eds == "" {
			s.eds = s.name
		}
	case clusterv3.Cluster_STATIC:
		s.static, err = lbSockets(c.GetLoadAssignment())
	default:
		err = fmt.Errorf("discovery type %v: want EDS or STATIC", c.GetType())
	}
	return s, err
}

// upstreamTLS reads a cluster's TLS transport socket: whether there is
// one, and the exact URI SANs its validation context accepts.
func upstreamTLS(ts *corev3.TransportSocket) (bool, []string, []string, error) {
	if ts == nil {
		return false, nil, nil, nil
	}
	var ctx tlsv3.UpstreamTlsContext
	tc := ts.GetTypedConfig()
	if tc == nil || !tc.MessageIs(&ctx) {
		return false, nil, nil, fmt.Errorf("transport socket %q: want an UpstreamTlsContext", ts.GetName())
	}
	if err := tc.UnmarshalTo(&ctx); err != nil {
		return false, nil, nil, fmt.Errorf("transport socket: %w", err)
	}
	common := ctx.GetCommonTlsContext()
	vc := common.GetValidationContext()
	if cvc := common.GetCombinedValidationContext(); cvc != nil {
		vc = cvc.GetDefaultValidationContext()
	}
	var sans []string
	for j, m := range vc.GetMatchTypedSubjectAltNames() {
		if m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI || m.GetMatcher().GetExact() == "" {
			return false, nil, nil, fmt.Errorf("SAN matcher %d: want an exact URI SAN", j)
		}
		san := m.GetMatcher().GetExact()
		if _, _, _, err := identity.Parse(san); err != nil {
			return false, nil, nil, fmt.Errorf("SAN matcher %d: %w", j, err)
		}
		sans = append(sans, san)
	}
	return true, sans, common.GetAlpnProtocols(), nil
}

// lbSockets are the healthy (or unknown) endpoints of an assignment.
func lbSockets(cla *endpointv3.ClusterLoadAssignment) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			if len(out) == maxEndpoints {
				return nil, fmt.Errorf("more than %d endpoints", maxEndpoints)
			}
			h := lb.GetHealthStatus()
			if h != corev3.HealthStatus_HEALTHY && h != corev3.HealthStatus_UNKNOWN {
				continue
			}
			ap, err := tcpSocket(lb.GetEndpoint().GetAddress().GetSocketAddress())
			if err != nil {
				return nil, fmt.Errorf("endpoint %d: %w", len(out), err)
			}
			out = append(out, ap)
		}
	}
	return out, nil
}

func tcpSocket(sa *corev3.SocketAddress) (netip.AddrPort, error) {
	if sa == nil || sa.GetProtocol() != corev3.SocketAddress_TCP {
		return netip.AddrPort{}, fmt.Errorf("want a TCP socket address")
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("address %q is not an IP address", sa.GetAddress())
	}
	p := sa.GetPortValue()
	if p == 0 || p > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range 1-65535", p)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(p)), nil
}

// parseEndpoints reads an EDS response: the endpoints by cluster name.
func parseEndpoints(res []*anypb.Any) (map[string][]netip.AddrPort, error) {
	if len(res) > maxClusters {
		return nil, fmt.Errorf("%d load assignments, at most %d", len(res), maxClusters)
	}
	out := make(map[string][]netip.AddrPort, len(res))
	for i, a := range res {
		var cla endpointv3.ClusterLoadAssignment
		if err := unmarshalAs(a, resource.EndpointType, &cla); err != nil {
			return nil, fmt.Errorf("load assignment %d: %w", i, err)
		}
		name := cla.GetClusterName()
		if _, dup := out[name]; dup || name == "" {
			return nil, fmt.Errorf("load assignment %d %q: unnamed or named twice", i, name)
		}
		socks, err := lbSockets(&cla)
		if err != nil {
			return nil, fmt.Errorf("load assignment %d %q: %w", i, name, err)
		}
		out[name] = socks
	}
	return out, nil
}

// routeTable is one route configuration: each virtual host's domains and
// its routes, in order.
type routeTable struct {
	name   string
	vhosts []vhost
}

type vhost struct {
	name    string
	domains []string // lower-case; exact, or "*" alone
	routes  []route
}

type route struct {
	prefix, path string // one is set (prefix "/" matches every path)
	cluster      string
}

// parseRoutes reads an RDS response. Only what the xDS server makes and
// the sidecar implements is accepted (exact domains or "*", prefix or path
// matches, a cluster action): anything else would be routed differently
// than Envoy routes it, so it is refused.
func parseRoutes(res []*anypb.Any) (map[string]routeTable, error) {
	if len(res) > maxRouteConfigs {
		return nil, fmt.Errorf("%d route configurations, at most %d", len(res), maxRouteConfigs)
	}
	out := make(map[string]routeTable, len(res))
	for i, a := range res {
		var rc routev3.RouteConfiguration
		if err := unmarshalAs(a, resource.RouteType, &rc); err != nil {
			return nil, fmt.Errorf("route configuration %d: %w", i, err)
		}
		t, err := routeTableOf(&rc)
		if err != nil {
			return nil, fmt.Errorf("route configuration %d %q: %w", i, rc.GetName(), err)
		}
		if _, dup := out[t.name]; dup || t.name == "" {
			return nil, fmt.Errorf("route configuration %d %q: unnamed or named twice", i, t.name)
		}
		out[t.name] = t
	}
	return out, nil
}

func routeTableOf(rc *routev3.RouteConfiguration) (routeTable, error) {
	t := routeTable{name: rc.GetName()}
	if len(rc.GetVirtualHosts()) > maxVirtualHosts {
		return t, fmt.Errorf("%d virtual hosts, at most %d", len(rc.GetVirtualHosts()), maxVirtualHosts)
	}
	seen := map[string]string{}
	for i, v := range rc.GetVirtualHosts() {
		h, err := vhostOf(v)
		if err != nil {
			return t, fmt.Errorf("virtual host %d %q: %w", i, v.GetName(), err)
		}
		for _, d := range h.domains {
			if other, dup := seen[d]; dup {
				// Envoy refuses a configuration in which two virtual hosts share a domain.
				return t, fmt.Errorf("virtual host %d %q: domain %q is also %q's", i, h.name, d, other)
			}
			seen[d] = h.name
		}
		t.vhosts = append(t.vhosts, h)
	}
	return t, nil
}

func vhostOf(v *routev3.VirtualHost) (vhost, error) {
	h := vhost{name: v.GetName()}
	if n := len(v.GetDomains()); n == 0 || n > maxDomains {
		return h, fmt.Errorf("%d domains, want 1 to %d", n, maxDomains)
	}
	for j, d := range v.GetDomains() {
		if d == "" || (strings.Contains(d, "*") && d != "*") || len(d) > 260 {
			return h, fmt.Errorf("domain %d %q: want a host[:port] or \"*\"", j, d)
		}
		h.domains = append(h.domains, strings.ToLower(d))
	}
	if n := len(v.GetRoutes()); n == 0 || n > maxRoutesPerHost {
		return h, fmt.Errorf("%d routes, want 1 to %d", n, maxRoutesPerHost)
	}
	for j, r := range v.GetRoutes() {
		rt, err := routeOf(r)
		if err != nil {
			return h, fmt.Errorf("route %d: %w", j, err)
		}
		h.routes = append(h.routes, rt)
	}
	return h, nil
}

func routeOf(r *routev3.Route) (route, error) {
	m := r.GetMatch()
	if len(m.GetHeaders()) > 0 || len(m.GetQueryParameters()) > 0 || m.GetCaseSensitive() != nil ||
		m.GetRuntimeFraction() != nil || m.GetGrpc() != nil || m.GetTlsContext() != nil {
		return route{}, fmt.Errorf("only prefix and path matches are implemented")
	}
	var rt route
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		rt.prefix = ps.Prefix
	case *routev3.RouteMatch_Path:
		rt.path = ps.Path
		if rt.path == "" {
			return rt, fmt.Errorf("an empty path match")
		}
	default:
		return rt, fmt.Errorf("only prefix and path matches are implemented")
	}
	a := r.GetRoute()
	if a == nil || a.GetCluster() == "" {
		return rt, fmt.Errorf("want a route action to one cluster")
	}
	rt.cluster = a.GetCluster()
	return rt, nil
}

// match picks the cluster for a request's host (:authority) and path, as
// Envoy's router does: the virtual host by domain (exact first, then "*"),
// then its first matching route. ok is false for no route.
func (t routeTable) match(host, path string) (string, bool) {
	host = strings.ToLower(host)
	var wild *vhost
	for i := range t.vhosts {
		v := &t.vhosts[i]
		for _, d := range v.domains {
			switch d {
			case host:
				return v.pick(path)
			case "*":
				wild = v
			}
		}
	}
	if wild == nil {
		return "", false
	}
	return wild.pick(path)
}

func (v *vhost) pick(path string) (string, bool) {
	p, _, _ := strings.Cut(path, "?")
	for _, r := range v.routes {
		if (r.path != "" && p == r.path) || (r.path == "" && strings.HasPrefix(p, r.prefix)) {
			return r.cluster, true
		}
	}
	return "", false
}

// clustersOf are the clusters a route table sends to.
func (t routeTable) clustersOf() []string {
	var out []string
	for _, v := range t.vhosts {
		for _, r := range v.routes {
			out = append(out, r.cluster)
		}
	}
	return out
}
