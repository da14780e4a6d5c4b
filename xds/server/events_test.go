package server

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/api/xdsevent"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/snapshot"
)

// Four services: frontend may call orders and ledger, orders payments and
// ledger, ops (an operator's client, no service) orders; ledger has no
// pool to move to.
const eventMesh = `services:
  - name: frontend
    identity: spiffe://cluster.local/ns/shop/sa/frontend
    endpoints: [{address: 127.0.0.30, port: 41000}]
    ports: [44000, 44001]
  - name: orders
    identity: spiffe://cluster.local/ns/shop/sa/orders
    endpoints: [{address: 127.0.0.31, port: 41000}]
    ports: [42000, 43000, 45000]
  - name: payments
    identity: spiffe://cluster.local/ns/shop/sa/payments
    endpoints: [{address: 127.0.0.32, port: 41000}]
    ports: [42001, 43001]
  - name: ledger
    identity: spiffe://cluster.local/ns/shop/sa/ledger
    endpoints: [{address: 127.0.0.33, port: 41000}]
`

var eventEdges = edges{"frontend": {"orders", "ledger"}, "orders": {"payments", "ledger"}, "ops": {"orders"}}

var quick = catalog.Schedule{Grace: time.Millisecond, AckTimeout: time.Minute, HardDeadline: time.Minute}

func sa(name string) string { return identity.SPIFFE("shop", name) }

// postEvent sends an event with the admin token and decodes a 202.
func postEvent(t *testing.T, r *Running, body string) (int, EventResult, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+r.AdminAddr.String()+xdsevent.Path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+string(testToken))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res EventResult
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, res, strings.TrimSpace(string(b))
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, res, ""
}

func event(kind, workload, extra string) string {
	return `{"kind":"` + kind + `","workload":"` + workload + `"` + extra + `}`
}

// settled waits until no event move is under way.
func settled(t *testing.T, r *Running) {
	t.Helper()
	waitFor(t, func() bool { r.ev.mu.Lock(); defer r.ev.mu.Unlock(); return len(r.ev.moving) == 0 })
}

func eventMoves(r *Running, service string) float64 {
	return testutil.ToFloat64(r.metrics.rotations.WithLabelValues(service, "event"))
}

// Bodies that are not events are refused with what is wrong, counted, and
// change nothing.
func TestEventsRefuseBadBodies(t *testing.T) {
	r := start(t, eventMesh, Config{Admin: AdminAuth{Token: testToken}, Reach: eventEdges, Defaults: quick})
	for _, tc := range []struct{ name, body, want string }{
		{"empty", ``, "event: empty body"},
		{"not JSON", `kind=scan`, "malformed JSON"},
		{"unknown kind", event("nuke", sa("frontend"), ""), `"nuke" is not one of scan, lateral, quarantine, release`},
		{"no workload", `{"kind":"scan"}`, `"workload" is missing`},
		{"not a SPIFFE ID", event("scan", "frontend", ""), `field "workload"`},
		{"unknown field", event("scan", sa("frontend"), `,"port":1`), `unknown field "port"`},
		{"duplicate kind", `{"kind":"release","kind":"quarantine","workload":"` + sa("frontend") + `"}`, `given twice`},
		{"unknown service", event("scan", sa("frontend"), `,"service":"vault"`), `no service "vault" in the catalog`},
		{"too large", event("scan", sa("frontend"), `,"reason":"`+strings.Repeat("a", xdsevent.MaxBytes)+`"`), "over 65536 bytes"},
	} {
		code, _, body := postEvent(t, r, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want 400 with %q", tc.name, code, body, tc.want)
		}
	}
	if v := r.Current().Version; v != 1 || r.frozen(sa("frontend")) {
		t.Fatalf("refused events changed something: version %d, frozen %v", v, r.frozen(sa("frontend")))
	}
	if got := testutil.ToFloat64(r.ev.total.WithLabelValues("invalid", "invalid")); got != 8 {
		t.Errorf("invalid events counted %v, want 8", got)
	}
	if got := testutil.ToFloat64(r.metrics.refused.WithLabelValues("bad-event")); got != 9 {
		t.Errorf("bad-event refusals counted %v, want 9", got)
	}
}

// An event moves every service the workload could reach (and the one it
// went for), never its own; a service without a pool is reported as such.
func TestEventsMoveWhatTheWorkloadCouldReach(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reach     Reach
		body      string
		moving    []string
		unmovable []string
		frozen    bool
	}{
		{"scan", eventEdges, event("scan", sa("frontend"), ""), []string{"orders"}, []string{"ledger"}, false},
		{"lateral, and the service it went for", eventEdges, event("lateral", sa("frontend"), `,"service":"payments"`), []string{"orders", "payments"}, []string{"ledger"}, false},
		{"quarantine", eventEdges, event("quarantine", sa("orders"), ""), []string{"payments"}, []string{"ledger"}, true},
		{"no need-to-know: every other service", nil, event("scan", sa("frontend"), ""), []string{"orders", "payments"}, []string{"ledger"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, eventMesh, Config{Admin: AdminAuth{Token: testToken}, Reach: tc.reach, Defaults: quick})
			code, res, body := postEvent(t, r, tc.body)
			if code != http.StatusAccepted {
				t.Fatalf("%d %s", code, body)
			}
			if !slices.Equal(res.Started, tc.moving) || !slices.Equal(res.Unmovable, tc.unmovable) || res.Frozen != tc.frozen {
				t.Fatalf("answer %+v, want moving %v, unmovable %v, frozen %v", res, tc.moving, tc.unmovable, tc.frozen)
			}
			settled(t, r)
			for _, s := range []string{"frontend", "orders", "payments", "ledger"} {
				want := 0.0
				if slices.Contains(tc.moving, s) {
					want = 1
				}
				if got := eventMoves(r, s); got != want {
					t.Errorf("%s moved %v times for the event, want %v", s, got, want)
				}
			}
		})
	}
}

// Events while a service's event move is under way ask for one more move
// between them, not one each: a storm of events costs one extra move.
func TestEventsCoalesceWhileMoving(t *testing.T) {
	// The plaintext client proves no identity (""), and may call orders.
	reach := edges{"frontend": {"orders"}, "": {"orders"}}
	r := start(t, eventMesh, Config{Admin: AdminAuth{Token: testToken}, Reach: reach, Defaults: quick})
	c := subscribe(t, r, "ops") // holds the first move until it acknowledges
	waitFor(t, func() bool { return r.acks.watchers(resource.EndpointType, snapshot.ClusterName("orders")) == 1 })
	if _, res, _ := postEvent(t, r, event("scan", sa("frontend"), "")); !slices.Equal(res.Started, []string{"orders"}) {
		t.Fatalf("first event: %+v", res)
	}
	for range 2 {
		if _, res, _ := postEvent(t, r, event("lateral", sa("frontend"), "")); !slices.Equal(res.Queued, []string{"orders"}) {
			t.Fatalf("event during the move: %+v, want orders queued", res)
		}
	}
	for range 2 { // the first move, then the one the other two asked for
		c.recv(t)
		c.send(t, nil)
	}
	settled(t, r)
	if got := eventMoves(r, "orders"); got != 2 {
		t.Fatalf("orders moved %v times for three events, want 2", got)
	}
	if got := testutil.ToFloat64(r.ev.moves.WithLabelValues(outcomeQueued)); got != 2 {
		t.Fatalf("queued counted %v, want 2", got)
	}
}

// maxPerHour holds event moves too: an attacker who provokes events
// cannot make the mesh move without end. The refusal is reported and
// counted, not an error of the call.
func TestEventsHeldByBudget(t *testing.T) {
	cat := strings.Replace(eventMesh, "    ports: [42000, 43000, 45000]\n",
		"    ports: [42000, 43000, 45000]\n    rotation: {every: 24h, maxPerHour: 1, grace: 1ms}\n", 1)
	r := start(t, cat, Config{Admin: AdminAuth{Token: testToken}, Reach: eventEdges, Defaults: quick})
	if _, res, _ := postEvent(t, r, event("scan", sa("frontend"), "")); !slices.Equal(res.Started, []string{"orders"}) {
		t.Fatalf("first event: %+v", res)
	}
	settled(t, r)
	code, res, _ := postEvent(t, r, event("quarantine", sa("frontend"), ""))
	if code != http.StatusAccepted || !slices.Equal(res.Held, []string{"orders"}) || len(res.Started) != 0 || !res.Frozen {
		t.Fatalf("second event: %d %+v, want 202 with orders held and the workload frozen", code, res)
	}
	settled(t, r)
	if eventMoves(r, "orders") != 1 || testutil.ToFloat64(r.metrics.held.WithLabelValues("orders", "budget")) != 1 ||
		testutil.ToFloat64(r.ev.moves.WithLabelValues(outcomeHeld)) != 1 {
		t.Fatalf("moves %v, held %v", eventMoves(r, "orders"), testutil.ToFloat64(r.metrics.held.WithLabelValues("orders", "budget")))
	}
}

// edsWatch is a proxyless client of orders' endpoints with a mesh
// certificate, acknowledging everything it gets.
type edsWatch struct {
	node string
	got  chan *discoveryv3.DiscoveryResponse
}

func watchOrders(t *testing.T, r *Running, ca *identity.CA, account, node string) *edsWatch {
	t.Helper()
	cert, _ := ca.Issue(sa(account))
	s, err := ads(t, r.Addr.String(), credentials.NewTLS(ca.ClientTLS(cert)))
	if err != nil {
		t.Fatal(err)
	}
	w := &edsWatch{node: node, got: make(chan *discoveryv3.DiscoveryResponse, 16)}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resource.EndpointType,
		ResourceNames: []string{snapshot.ClusterName("orders")}}
	if err := s.Send(req); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.got)
		for {
			resp, err := s.Recv()
			if err != nil {
				return
			}
			w.got <- resp
			ack := &discoveryv3.DiscoveryRequest{Node: req.Node, TypeUrl: resource.EndpointType, ResourceNames: req.ResourceNames,
				VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
			if s.Send(ack) != nil {
				return
			}
		}
	}()
	return w
}

// port is the port of orders' endpoint in the next response.
func (w *edsWatch) port(t *testing.T) uint32 {
	t.Helper()
	resp, ok := <-w.got
	if !ok {
		t.Fatalf("%s: the stream ended", w.node)
	}
	var cla endpointv3.ClusterLoadAssignment
	if err := resp.GetResources()[0].UnmarshalTo(&cla); err != nil {
		t.Fatal(err)
	}
	return cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
}

// snapshotPort is the port of orders' endpoint in what the server holds
// for node (what it would send it), and whether it holds anything.
func snapshotPort(t *testing.T, r *Running, node string) (uint32, bool) {
	t.Helper()
	snap, err := r.cache.GetSnapshot(node)
	if err != nil {
		return 0, false
	}
	for _, res := range snap.GetResources(resource.EndpointType) {
		cla := res.(*endpointv3.ClusterLoadAssignment)
		return cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue(), true
	}
	return 0, true
}

// The attack: frontend, compromised and quarantined, keeps its ADS stream
// and asks again under a new instance name, to learn where orders went.
// Its quarantine moves orders; the operator's client follows; frontend's
// nodes are told nothing (its stream gets no response, the server holds
// only the old endpoints for it, and its new node gets no configuration at
// all) until the release, when both get the new endpoints.
func TestQuarantinedNodesLearnNothing(t *testing.T) {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	r := start(t, eventMesh, Config{TLS: ca.ServerTLS(srv), Admin: AdminAuth{Token: testToken}, Reach: eventEdges, Defaults: quick})
	attacker := watchOrders(t, r, ca, "frontend", sa("frontend"))
	ops := watchOrders(t, r, ca, "ops", sa("ops"))
	if a, o := attacker.port(t), ops.port(t); a != 41000 || o != 41000 {
		t.Fatalf("initial ports %d %d", a, o)
	}
	if _, res, body := postEvent(t, r, event("quarantine", sa("frontend"), `,"reason":"syscall-anomaly"`)); !res.Frozen || res.Nodes != 1 ||
		!slices.Equal(res.Started, []string{"orders"}) {
		t.Fatalf("quarantine: %+v %s", res, body)
	}
	moved := ops.port(t)
	if moved == 41000 {
		t.Fatalf("ops was told %d", moved)
	}
	settled(t, r)
	if p, _ := snapshotPort(t, r, sa("frontend")); p != 41000 || len(attacker.got) != 0 {
		t.Fatalf("the quarantined node holds port %d and has %d responses waiting; want the old port and none", p, len(attacker.got))
	}
	again := watchOrders(t, r, ca, "frontend", sa("frontend")+"~again")
	waitFor(t, func() bool { return r.nodesOf(sa("frontend")) == 2 })
	if p, held := snapshotPort(t, r, sa("frontend")+"~again"); held {
		t.Fatalf("a new node of the quarantined identity was given a configuration (port %d)", p)
	}
	if n := gauge(t, r, "meshward_xds_frozen_nodes"); n != 2 {
		t.Fatalf("%v frozen nodes, want 2", n)
	}

	if _, res, body := postEvent(t, r, event("release", sa("frontend"), "")); res.Frozen || res.Nodes != 2 {
		t.Fatalf("release: %+v %s", res, body)
	}
	if a, b := attacker.port(t), again.port(t); a != moved || b != moved {
		t.Fatalf("after the release: ports %d and %d, want %d", a, b, moved)
	}
	if gauge(t, r, "meshward_xds_frozen_identities") != 0 || testutil.ToFloat64(r.ev.total.WithLabelValues("release", "accepted")) != 1 {
		t.Fatal("the release was not counted, or nodes stay frozen")
	}
}

func gauge(t *testing.T, r *Running, name string) float64 {
	t.Helper()
	mfs, err := r.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A workload with a valid mesh certificate that is not the authorizer
// cannot report events (it would freeze others or move services at will):
// refused before the body is read, counted; the authorizer's is accepted.
func TestEventsOnlyFromTheAuthorizer(t *testing.T) {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	authz := identity.SPIFFE("meshward-system", "meshward-authz")
	r := start(t, eventMesh, Config{Admin: AdminAuth{TLS: ca.ServerTLS(srv), EventIDs: []string{authz}}, Reach: eventEdges, Defaults: quick})
	post := func(id string) int {
		cert, _ := ca.Issue(id)
		resp, err := tlsClient(ca.ClientTLS(cert)).Post("https://"+r.AdminAddr.String()+xdsevent.Path, "application/json",
			strings.NewReader(event("quarantine", sa("orders"), "")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(sa("frontend")); code != http.StatusForbidden || r.frozen(sa("orders")) || r.Current().Version != 1 {
		t.Fatalf("a workload's event: %d, frozen %v, version %d", code, r.frozen(sa("orders")), r.Current().Version)
	}
	if got := testutil.ToFloat64(r.metrics.refused.WithLabelValues("identity-not-allowed")); got != 1 {
		t.Fatalf("refusal counted %v times", got)
	}
	if code := post(authz); code != http.StatusAccepted || !r.frozen(sa("orders")) {
		t.Fatalf("the authorizer's event: %d", code)
	}
	settled(t, r)
}

// A quarantine with a time ends its freeze by itself; a freeze's timer
// never ends a later freeze of the same identity.
func TestFreezeEndsWithItsTime(t *testing.T) {
	r := start(t, eventMesh, Config{Admin: AdminAuth{Token: testToken}, Reach: eventEdges, Defaults: quick})
	if err := r.freeze(sa("orders"), 0); err != nil {
		t.Fatal(err)
	}
	first := r.ev.gen
	if err := r.freeze(sa("orders"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.thaw(sa("orders"), first); err != nil || !r.frozen(sa("orders")) {
		t.Fatalf("the first freeze's end thawed the second (%v)", err)
	}
	if _, err := r.thaw(sa("orders"), r.ev.gen); err != nil || r.frozen(sa("orders")) {
		t.Fatalf("the second freeze's end did not thaw it (%v)", err)
	}
	if code, res, body := postEvent(t, r, event("quarantine", sa("frontend"), `,"ttl_seconds":1`)); code != http.StatusAccepted || !res.Frozen {
		t.Fatalf("%d %+v %s", code, res, body)
	}
	waitFor(t, func() bool { return !r.frozen(sa("frontend")) })
	settled(t, r)
}

// Past maxFrozen identities a quarantine is refused (503, so the
// authorizer retries) rather than memory growing without bound.
func TestFrozenSetBounded(t *testing.T) {
	r := start(t, eventMesh, Config{Admin: AdminAuth{Token: testToken}, Reach: eventEdges, Defaults: quick})
	r.ev.mu.Lock()
	for i := range maxFrozen {
		r.ev.frozen[identity.SPIFFE("n", "w"+strconv.Itoa(i))] = &freeze{}
	}
	r.ev.mu.Unlock()
	code, _, body := postEvent(t, r, event("quarantine", sa("frontend"), ""))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "too many frozen identities") || r.frozen(sa("frontend")) {
		t.Fatalf("%d %s", code, body)
	}
	if r.Current().Version != 1 {
		t.Fatal("a refused quarantine moved services")
	}
}
