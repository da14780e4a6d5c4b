package server

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/envoy"
)

// A mesh of three services with identities: frontend may call orders,
// orders may call payments (the test's Reach stands for the policy).
const sidecarMesh = `services:
  - name: frontend
    identity: spiffe://cluster.local/ns/shop/sa/frontend
    endpoints: [{address: 127.0.0.30, port: 41000}]
  - name: orders
    identity: spiffe://cluster.local/ns/shop/sa/orders
    labels: {app: orders}
    endpoints: [{address: 127.0.0.31, port: 41000}]
    ports: [42000, 43000]
  - name: payments
    identity: spiffe://cluster.local/ns/shop/sa/payments
    endpoints: [{address: 127.0.0.32, port: 41000}]
`

type edges map[string][]string // caller's service account -> services

func (e edges) Reachable(caller string, s catalog.Service) bool {
	sa := caller[strings.LastIndex(caller, "/")+1:]
	return slices.Contains(e[sa], s.Name)
}

func sidecarTemplate() *SidecarTemplate {
	return &SidecarTemplate{
		Filter: envoy.WasmFilter{VMID: "meshward", Code: envoy.WasmCode{File: "/etc/meshward/meshward-filter.wasm"}},
		PluginConfig: func(id string, labels map[string]string, inbound bool) (string, error) {
			if !inbound {
				return "", nil
			}
			l, err := json.Marshal(labels)
			return `{"authorizer_cluster":"meshward-authz","fail_mode":"closed","destination_labels":` + string(l) + `}`, err
		},
		Authz: envoy.Authorizer{Identity: identity.SPIFFE("meshward-system", "meshward-authz"),
			GRPC: []envoy.Socket{{Address: "127.0.0.2", Port: 9191}}, HTTP: []envoy.Socket{{Address: "127.0.0.2", Port: 9192}}},
		TLS: envoy.TLS{CertFile: "/etc/certs/cert.pem", KeyFile: "/etc/certs/key.pem", CAFile: "/etc/certs/ca.pem"},
	}
}

type meshRig struct {
	r  *Running
	ca *identity.CA
}

func startSidecarMesh(t *testing.T, d catalog.Schedule) meshRig {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	r := start(t, sidecarMesh, Config{TLS: ca.ServerTLS(srv), Admin: AdminAuth{Token: testToken}, Defaults: d,
		Reach: edges{"frontend": {"orders"}, "orders": {"payments"}}, Sidecars: sidecarTemplate()})
	return meshRig{r, ca}
}

// sidecarStream is a sidecar of sa asking for its listeners and clusters
// (wildcard, as Envoy does) and, if ack, acknowledging what it gets.
type sidecarStream struct {
	s        discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node     *corev3.Node
	got      map[string][]*discoveryv3.DiscoveryResponse // received, not yet taken, by type
	received chan *discoveryv3.DiscoveryResponse
}

func (m meshRig) sidecar(t *testing.T, sa string, ack bool) (*sidecarStream, error) {
	t.Helper()
	cert, _ := m.ca.Issue(identity.SPIFFE("shop", sa))
	s, err := ads(t, m.r.Addr.String(), credentials.NewTLS(m.ca.ClientTLS(cert)))
	if err != nil {
		return nil, err
	}
	md, _ := structpb.NewStruct(map[string]any{MetaKind: "sidecar", MetaEndpoint: "0",
		MetaApp: "127.0.0.1:8080", MetaOutbound: "127.0.0.1:15001"})
	c := &sidecarStream{s: s, node: &corev3.Node{Id: identity.SPIFFE("shop", sa) + "~0", Metadata: md},
		got: map[string][]*discoveryv3.DiscoveryResponse{}, received: make(chan *discoveryv3.DiscoveryResponse, 64)}
	for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
		if err := s.Send(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: typ}); err != nil {
			return nil, err
		}
	}
	go func() {
		for {
			resp, err := s.Recv()
			if err != nil {
				close(c.received)
				return
			}
			if ack {
				_ = s.Send(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: resp.GetTypeUrl(),
					VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
			}
			c.received <- resp
		}
	}()
	return c, nil
}

// next takes the next response of typ, keeping those of other types for
// later (the server answers each type when it likes).
func (c *sidecarStream) next(t *testing.T, typ string) *discoveryv3.DiscoveryResponse {
	t.Helper()
	if q := c.got[typ]; len(q) > 0 {
		c.got[typ] = q[1:]
		return q[0]
	}
	for resp := range c.received {
		if resp.GetTypeUrl() == typ {
			return resp
		}
		c.got[resp.GetTypeUrl()] = append(c.got[resp.GetTypeUrl()], resp)
	}
	t.Fatalf("the stream ended before a %s response", typ)
	return nil
}

func clusterNamesIn(t *testing.T, resp *discoveryv3.DiscoveryResponse) []string {
	var out []string
	for _, a := range resp.GetResources() {
		var c clusterv3.Cluster
		if err := a.UnmarshalTo(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c.GetName())
	}
	slices.Sort(out)
	return out
}

func listenerNamesIn(t *testing.T, resp *discoveryv3.DiscoveryResponse) []string {
	var out []string
	for _, a := range resp.GetResources() {
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l.GetName())
	}
	slices.Sort(out)
	return out
}

// Need-to-know: each sidecar gets clusters for what its policy lets it
// call and nothing else; payments' sidecar, which calls nobody, learns no
// other service's address at all.
func TestSidecarsGetOnlyWhatTheyMayCall(t *testing.T) {
	m := startSidecarMesh(t, catalog.Schedule{})
	for sa, want := range map[string][]string{
		"frontend": {"outbound|41000||orders"},
		"orders":   {"outbound|41000||payments"},
		"payments": nil,
	} {
		c, err := m.sidecar(t, sa, true)
		if err != nil {
			t.Fatal(err)
		}
		var peers []string
		for _, n := range clusterNamesIn(t, c.next(t, resource.ClusterType)) {
			if strings.HasPrefix(n, "outbound|") {
				peers = append(peers, n)
			}
		}
		if !slices.Equal(peers, want) {
			t.Errorf("%s's sidecar has clusters %v, want %v", sa, peers, want)
		}
		if l := listenerNamesIn(t, c.next(t, resource.ListenerType)); !slices.Contains(l, envoy.InboundListenerName(envoy.Socket{Address: "127.0.0.3" + map[string]string{"frontend": "0", "orders": "1", "payments": "2"}[sa], Port: 41000})) {
			t.Errorf("%s's sidecar listens on %v", sa, l)
		}
	}
}

// The inbound filter's plugin configuration carries the labels of the
// sidecar's own catalog service: the authorizer's policy selectors match
// them, so a sidecar told another service's labels would be judged by the
// wrong policies.
func TestSidecarPluginConfigCarriesItsServiceLabels(t *testing.T) {
	m := startSidecarMesh(t, catalog.Schedule{})
	for sa, want := range map[string]string{"orders": `{\"app\":\"orders\"}`, "payments": `null`} {
		c, err := m.sidecar(t, sa, true)
		if err != nil {
			t.Fatal(err)
		}
		resp := c.next(t, resource.ListenerType)
		raw, err := protojson.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(raw), `\"destination_labels\":`+want); got != 1 {
			t.Errorf("%s's listeners carry destination_labels %s %d times, want once: %s", sa, want, got, raw)
		}
	}
}

// A workload that proves one identity cannot be another service's
// sidecar, and a sidecar must prove one.
func TestSidecarMustBeItsService(t *testing.T) {
	m := startSidecarMesh(t, catalog.Schedule{})
	c, err := m.sidecar(t, "mallory", true)
	if err == nil {
		if _, ok := <-c.received; ok {
			err = errors.New("configured")
		} else {
			_, err = c.s.Recv()
		}
	}
	if err == nil || !strings.Contains(err.Error(), "no service of the catalog runs as") {
		t.Fatalf("a sidecar of no service: %v", err)
	}
}

// Make-before-break on the sidecars: the move announces orders' new
// socket only after orders' sidecar acknowledged listening on it; a
// sidecar that never acknowledges calls the move off, and callers never
// hear of the new socket.
func TestMoveOpensOnSidecarsFirst(t *testing.T) {
	m := startSidecarMesh(t, catalog.Schedule{Grace: time.Millisecond, AckTimeout: 200 * time.Millisecond})
	orders, err := m.sidecar(t, "orders", true)
	if err != nil {
		t.Fatal(err)
	}
	orders.next(t, resource.ListenerType)
	p, err := m.r.Move(context.Background(), "orders", 42000, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if eps := p.Endpoints("orders"); eps[0].Port != 42000 {
		t.Fatalf("announced %v", eps)
	}
	opened := envoy.InboundListenerName(envoy.Socket{Address: "127.0.0.31", Port: 42000})
	if l := listenerNamesIn(t, orders.next(t, resource.ListenerType)); !slices.Contains(l, opened) {
		t.Fatalf("orders' sidecar was not given %s first: %v", opened, l)
	}

	mute, err := m.sidecar(t, "orders", false) // a second stream of the same node that never acknowledges
	if err != nil {
		t.Fatal(err)
	}
	mute.next(t, resource.ListenerType)
	before := m.r.Current().Announced
	if _, err := m.r.Move(context.Background(), "orders", 43000, "admin"); !errors.Is(err, ErrNotOpened) {
		t.Fatalf("a sidecar that never opened: %v", err)
	}
	if cur := m.r.Current(); cur.Announced != before || cur.Endpoints("orders")[0].Port != 42000 || len(cur.Serving("orders")) != 1 {
		t.Fatalf("the called-off move left %v (serving %v, announced v%d)", cur.Endpoints("orders"), cur.Serving("orders"), cur.Announced)
	}
}

// A policy change reaches every node it concerns: frontend loses orders
// (its next clusters name no orders), payments' configuration does not
// move at all.
func TestRepublishAfterPolicyChange(t *testing.T) {
	m := startSidecarMesh(t, catalog.Schedule{})
	front, err := m.sidecar(t, "frontend", true)
	if err != nil {
		t.Fatal(err)
	}
	pay, err := m.sidecar(t, "payments", true)
	if err != nil {
		t.Fatal(err)
	}
	front.next(t, resource.ClusterType)
	first := pay.next(t, resource.ClusterType).GetVersionInfo()
	m.r.mu.Lock()
	m.r.cfg.Reach.(edges)["frontend"] = nil
	m.r.mu.Unlock()
	if err := m.r.Republish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := clusterNamesIn(t, front.next(t, resource.ClusterType)); slices.Contains(got, "outbound|41000||orders") {
		t.Fatalf("frontend still has orders: %v", got)
	}
	m.r.mu.Lock()
	v := m.r.nodes[identity.SPIFFE("shop", "payments")+"~0"].versions[resource.ClusterType]
	m.r.mu.Unlock()
	if strconv.FormatUint(v, 10) != first {
		t.Fatalf("payments' clusters moved from version %s to %d although nothing changed for it", first, v)
	}
}

// A quarantined service's sidecars are told nothing, so they cannot open
// new sockets: a move of that service is called off, and callers are never
// sent to a socket nobody listens on.
func TestNoMoveOfAQuarantinedService(t *testing.T) {
	m := startSidecarMesh(t, catalog.Schedule{Grace: time.Millisecond, AckTimeout: 200 * time.Millisecond})
	orders, err := m.sidecar(t, "orders", true)
	if err != nil {
		t.Fatal(err)
	}
	orders.next(t, resource.ListenerType)
	if err := m.r.freeze(identity.SPIFFE("shop", "orders"), time.Minute); err != nil {
		t.Fatal(err)
	}
	before := m.r.Current()
	if _, err := m.r.Move(context.Background(), "orders", 42000, "timer"); !errors.Is(err, ErrNotOpened) {
		t.Fatalf("a move of a quarantined service: %v", err)
	}
	if cur := m.r.Current(); cur.Announced != before.Announced || cur.Endpoints("orders")[0].Port != 41000 || len(cur.Serving("orders")) != 1 {
		t.Fatalf("the refused move left %v serving %v", cur.Endpoints("orders"), cur.Serving("orders"))
	}
}

// A service that runs behind sidecars is not moved while none of them is
// connected (nobody would open the new sockets), and a sidecar whose stream
// breaks while a move waits for it counts as behind: it did not open them.
func TestNoMoveWithoutASidecarToOpen(t *testing.T) {
	m := startSidecarMesh(t, catalog.Schedule{Grace: time.Millisecond, AckTimeout: 200 * time.Millisecond})
	orders, err := m.sidecar(t, "orders", true)
	if err != nil {
		t.Fatal(err)
	}
	orders.next(t, resource.ListenerType)
	if err := orders.s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { m.r.mu.Lock(); defer m.r.mu.Unlock(); return len(m.r.nodes) == 0 })
	if _, err := m.r.Move(context.Background(), "orders", 42000, "timer"); !errors.Is(err, ErrNotOpened) {
		t.Fatalf("a move with no sidecar connected: %v", err)
	}
	m.r.acks.mu.Lock()
	behind := m.r.acks.pending(waitSet{typ: resource.ListenerType, nodes: map[string]bool{"gone": true}})
	m.r.acks.mu.Unlock()
	if len(behind) != 1 || behind[0] != "gone" {
		t.Fatalf("a waited-for node without a stream: behind %v", behind)
	}
	if got := m.r.Current().Endpoints("orders")[0].Port; got != 41000 {
		t.Fatalf("orders was announced on %d", got)
	}
}
