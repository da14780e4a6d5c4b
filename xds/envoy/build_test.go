package envoy

import (
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

func TestMeshBuildsAndValidates(t *testing.T) {
	m := mesh()
	tests := []struct {
		sidecar   string
		listeners []string
		clusters  []string
		endpoints []string
	}{
		{"frontend", []string{"inbound|127.0.0.10:41000", "outbound|127.0.0.10:15001"},
			[]string{"inbound|8080||frontend", AuthzGRPCCluster, AuthzHTTPCluster, "outbound|8080||orders"},
			[]string{"outbound|8080||orders"}},
		{"orders", []string{"inbound|127.0.0.20:41000", "outbound|127.0.0.20:15001"},
			[]string{"inbound|8080||orders", AuthzGRPCCluster, AuthzHTTPCluster, "outbound|8080||payments"},
			[]string{"outbound|8080||payments"}},
		{"orders-2", []string{"inbound|127.0.0.21:41001", "inbound|127.0.0.21:41000", "outbound|127.0.0.21:15001"},
			[]string{"inbound|8080||orders", AuthzGRPCCluster, AuthzHTTPCluster, "outbound|8080||payments"},
			[]string{"outbound|8080||payments"}},
		{"payments", []string{"inbound|127.0.0.30:41000", "outbound|127.0.0.30:15001"},
			[]string{"inbound|8080||payments", AuthzGRPCCluster, AuthzHTTPCluster}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.sidecar, func(t *testing.T) {
			r := mustBuild(t, m[tc.sidecar])
			opened := 0
			for _, typ := range ResourceTypes() {
				for _, it := range r[typ] {
					opened += validateDeep(t, typ, it)
				}
			}
			// Two listeners' connection managers, their filters and TLS at least.
			if opened < 8 {
				t.Errorf("validated %d typed configs; the walk did not open them", opened)
			}
			for typ, want := range map[resource.Type][]string{
				resource.ListenerType: tc.listeners, resource.ClusterType: tc.clusters,
				resource.EndpointType: tc.endpoints, resource.RouteType: {OutboundRouteName},
			} {
				if got := names(r[typ]); !slices.Equal(got, want) {
					t.Errorf("%s: %v, want %v", typ, got, want)
				}
			}
			versions, err := r.Versions()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Snapshot(versions); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A compromised workload reads its own sidecar's configuration (Envoy's
// config_dump, or the xDS stream with its own node id). It must learn
// nothing about services it may not call.
func TestNeedToKnow(t *testing.T) {
	m := mesh()
	tests := []struct {
		sidecar   string
		forbidden []string
	}{
		{"frontend", []string{"payments", "127.0.0.30"}},
		{"orders", []string{"frontend", "127.0.0.10"}},
		{"payments", []string{"frontend", "orders", "127.0.0.10", "127.0.0.20", "127.0.0.21"}},
	}
	for _, tc := range tests {
		t.Run(tc.sidecar, func(t *testing.T) {
			d := dump(t, mustBuild(t, m[tc.sidecar]))
			for _, f := range tc.forbidden {
				if i := strings.Index(d, f); i >= 0 {
					t.Errorf("%s's resources name %q: ...%s...", tc.sidecar, f, d[max(0, i-80):min(len(d), i+80)])
				}
			}
		})
	}
}

// virtualHost picks a virtual host the way Envoy does: the host lower-cased,
// port included; an exact domain first, then the longest "*suffix", then the
// longest "prefix*", then "*".
func virtualHost(rc *routev3.RouteConfiguration, authority string) *routev3.VirtualHost {
	host := strings.ToLower(authority)
	var best *routev3.VirtualHost
	bestLen, bestRank := -1, 4
	for _, vh := range rc.VirtualHosts {
		for _, d := range vh.Domains {
			d = strings.ToLower(d)
			rank, n := 4, 0
			switch {
			case d == host:
				rank, n = 0, len(d)
			case d == "*":
				rank = 3
			case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1:
				rank, n = 1, len(d)
			case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:len(d)-1]) && len(host) > len(d)-1:
				rank, n = 2, len(d)
			}
			if rank < bestRank || (rank == bestRank && rank < 4 && n > bestLen) {
				best, bestRank, bestLen = vh, rank, n
			}
		}
	}
	if bestRank == 4 {
		return nil
	}
	return best
}

// The frontend's application (or code that took it over) asks its sidecar
// for services by :authority. Only orders, under its listed hosts and
// service port, has a route; everything else gets Envoy's 404 (no route),
// never a passthrough.
func TestOutboundRoutesOnlyPermittedHosts(t *testing.T) {
	rc := outboundRoute(t, mustBuild(t, mesh()["frontend"]))
	const orders = "outbound|8080||orders"
	tests := []struct {
		authority string
		cluster   string
	}{
		{"orders", orders},
		{"orders:8080", orders},
		{"ORDERS:8080", orders},
		{"orders.shop.svc.cluster.local", orders},
		{"orders.shop.svc.cluster.local:8080", orders},
		{"orders:41000", ""}, // the endpoint's rotating port is no service port
		{"orders:9999", ""},
		{"payments", ""},
		{"payments:8080", ""},
		{"payments.shop.svc.cluster.local", ""},
		{"127.0.0.30:41000", ""}, // payments' sidecar by address
		{"127.0.0.20:41000", ""}, // orders' sidecar by address
		{"orders.evil.example", ""},
		{"evil.orders", ""},
		{"*", ""},
		{"", ""},
		{"meshward-authz", ""},
	}
	for _, tc := range tests {
		vh := virtualHost(rc, tc.authority)
		got := ""
		if vh != nil {
			if len(vh.Routes) != 1 {
				t.Fatalf("%q: virtual host %s has %d routes", tc.authority, vh.Name, len(vh.Routes))
			}
			got = vh.Routes[0].GetRoute().GetCluster()
		}
		if got != tc.cluster {
			t.Errorf(":authority %q routes to %q, want %q", tc.authority, got, tc.cluster)
		}
	}
	for _, vh := range rc.VirtualHosts {
		for _, d := range vh.Domains {
			if strings.Contains(d, "*") {
				t.Errorf("virtual host %s has wildcard domain %q", vh.Name, d)
			}
		}
	}
}

// payments may call nothing: its outbound route has no virtual host at all,
// so every request its application sends out is refused.
func TestNoCallsNoRoutes(t *testing.T) {
	rc := outboundRoute(t, mustBuild(t, mesh()["payments"]))
	for _, a := range []string{"orders", "frontend:8080", "payments", "*", "127.0.0.20:41000"} {
		if vh := virtualHost(rc, a); vh != nil {
			t.Errorf(":authority %q matches %s", a, vh.Name)
		}
	}
}
