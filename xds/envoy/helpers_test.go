package envoy

import (
	"fmt"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

func spiffe(sa string) string { return "spiffe://cluster.local/ns/shop/sa/" + sa }

const authzID = "spiffe://cluster.local/ns/meshward-system/sa/meshward-authz"

var (
	ordersOld = Socket{"127.0.0.20", 41000}
	ordersNew = Socket{"127.0.0.20", 41001}
)

func peer(svc string, port uint32, eps ...Socket) Peer {
	return Peer{Service: svc, Identity: spiffe(svc), Port: port, Hosts: []string{svc, svc + ".shop.svc.cluster.local"}, Endpoints: eps}
}

// sidecar is one node of the test mesh; each node's sockets are on its own
// loopback address.
func sidecar(node, svc, ip string, calls ...Peer) Sidecar {
	return Sidecar{
		Node:     node,
		Identity: spiffe(svc),
		Service:  svc,
		Inbound:  []Socket{{ip, 41000}},
		App:      Socket{ip, 8080},
		Outbound: Socket{ip, 15001},
		Calls:    calls,
		Filter: WasmFilter{
			VMID: "meshward", Code: WasmCode{File: "/etc/meshward/meshward-filter.wasm"},
			Inbound:  `{"authorizer_cluster":"meshward-authz","fail_mode":"closed","eaas":{"enabled":true,"direction":"inbound"}}`,
			Outbound: `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"direction":"outbound"}}`,
		},
		Authz: Authorizer{
			Identity: authzID,
			GRPC:     []Socket{{"127.0.0.2", 9191}},
			HTTP:     []Socket{{"127.0.0.2", 9192}},
		},
		TLS: TLS{CertFile: "/etc/certs/cert-chain.pem", KeyFile: "/etc/certs/key.pem", CAFile: "/etc/certs/root-cert.pem"},
	}
}

// mesh is the small mesh: frontend calls orders, orders calls payments,
// payments calls nothing; orders has two replicas, the second in the middle
// of a rotation (new socket serving, old one draining).
func mesh() map[string]Sidecar {
	orders2 := sidecar("orders-2", "orders", "127.0.0.21", peer("payments", 8080, Socket{"127.0.0.30", 41000}))
	orders2.Inbound = []Socket{{"127.0.0.21", 41001}}
	orders2.Draining = []Socket{{"127.0.0.21", 41000}}
	return map[string]Sidecar{
		"frontend": sidecar("frontend-1", "frontend", "127.0.0.10",
			peer("orders", 8080, ordersOld, Socket{"127.0.0.21", 41001})),
		"orders":   sidecar("orders-1", "orders", "127.0.0.20", peer("payments", 8080, Socket{"127.0.0.30", 41000})),
		"orders-2": orders2,
		"payments": sidecar("payments-1", "payments", "127.0.0.30"),
	}
}

func mustBuild(t *testing.T, s Sidecar) Resources {
	t.Helper()
	r, err := Build(s)
	if err != nil {
		t.Fatalf("Build(%s): %v", s.Node, err)
	}
	return r
}

// validateDeep runs ValidateAll on m and every message inside it, unpacking
// each Any (a resource's own ValidateAll stops at an Any). It returns how
// many Anys it opened.
func validateDeep(t *testing.T, where string, m proto.Message) int {
	t.Helper()
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			t.Errorf("%s: %T: %v", where, m, err)
		}
	}
	opened := 0
	if a, ok := m.(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("%s: Any %s: %v", where, a.TypeUrl, err)
		}
		return 1 + validateDeep(t, where+"/"+a.TypeUrl, inner)
	}
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Message() != nil {
					opened += validateDeep(t, where+"."+string(fd.Name()), mv.Message().Interface())
				}
				return true
			})
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				opened += validateDeep(t, fmt.Sprintf("%s.%s[%d]", where, fd.Name(), i), v.List().Get(i).Message().Interface())
			}
		default:
			opened += validateDeep(t, where+"."+string(fd.Name()), v.Message().Interface())
		}
		return true
	})
	return opened
}

// dump is every resource as JSON with every Any opened: what an operator,
// or a compromised workload reading its sidecar's config_dump, sees.
func dump(t *testing.T, r Resources) string {
	t.Helper()
	var b strings.Builder
	for _, typ := range ResourceTypes() {
		for _, it := range r[typ] {
			j, err := protojson.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := proto.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(j)
			b.Write(raw)
		}
	}
	return b.String()
}

func names(items []types.Resource) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = cachev3.GetResourceName(it)
	}
	return out
}

func listeners(r Resources) []*listenerv3.Listener {
	var out []*listenerv3.Listener
	for _, it := range r[resource.ListenerType] {
		out = append(out, it.(*listenerv3.Listener))
	}
	return out
}

func clusterNamed(t *testing.T, r Resources, name string) *clusterv3.Cluster {
	t.Helper()
	for _, it := range r[resource.ClusterType] {
		if c := it.(*clusterv3.Cluster); c.Name == name {
			return c
		}
	}
	t.Fatalf("no cluster %q in %v", name, names(r[resource.ClusterType]))
	return nil
}

func unpack[M proto.Message](t *testing.T, a *anypb.Any, m M) M {
	t.Helper()
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatalf("%s: %v", a.TypeUrl, err)
	}
	return m
}

func hcmOf(t *testing.T, l *listenerv3.Listener) *hcmv3.HttpConnectionManager {
	t.Helper()
	if len(l.FilterChains) != 1 || len(l.FilterChains[0].Filters) != 1 {
		t.Fatalf("listener %s: want one filter chain with one filter", l.Name)
	}
	return unpack(t, l.FilterChains[0].Filters[0].GetTypedConfig(), &hcmv3.HttpConnectionManager{})
}

func outboundRoute(t *testing.T, r Resources) *routev3.RouteConfiguration {
	t.Helper()
	if len(r[resource.RouteType]) != 1 {
		t.Fatalf("routes %v, want only %s", names(r[resource.RouteType]), OutboundRouteName)
	}
	return r[resource.RouteType][0].(*routev3.RouteConfiguration)
}

func upstreamTLS(t *testing.T, c *clusterv3.Cluster) *tlsv3.UpstreamTlsContext {
	t.Helper()
	if c.TransportSocket == nil {
		t.Fatalf("cluster %s has no TLS", c.Name)
	}
	return unpack(t, c.TransportSocket.GetTypedConfig(), &tlsv3.UpstreamTlsContext{})
}
