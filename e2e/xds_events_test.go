package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
)

// orders may move; frontend and the operators' console may call it, and
// only orders may call payments.
const eventsCatalog = `services:
  - name: frontend
    identity: spiffe://cluster.local/ns/shop/sa/frontend
    labels: {app: frontend}
    endpoints: [{address: 127.0.0.1, port: 41000}]
  - name: orders
    identity: spiffe://cluster.local/ns/shop/sa/orders
    labels: {app: orders}
    endpoints: [{address: 127.0.0.1, port: 41001}]
    ports: [41101, 41102, 41103, 41104]
  - name: payments
    identity: spiffe://cluster.local/ns/shop/sa/payments
    labels: {app: payments}
    endpoints: [{address: 127.0.0.1, port: 41002}]
    ports: [41201, 41202]
`

const eventsPolicies = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-callers, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend", "cluster.local/ns/ops/sa/console"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payments-callers, namespace: shop}
spec:
  selector: {matchLabels: {app: payments}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/orders"]}}]
`

// The attack: frontend is compromised (a valid mesh identity, an ADS
// stream of its own) and the eBPF agent's verdict quarantines it. The
// authorizer reports the quarantine to the xDS server over mutual TLS,
// which moves orders (what frontend could reach; payments, which it could
// not, stays) at once. The operators' console follows orders to its new
// port; frontend keeps the old one: asking again, on its stream or as a
// new node, gets it nothing new, and neither does reporting its own
// release to the xDS admin API with its mesh certificate (refused,
// counted). Once the quarantine is released through the authorizer, both
// of frontend's nodes get orders' new port.
func TestQuarantineMovesWhatTheWorkloadCouldReach(t *testing.T) {
	ctx := context.Background()
	e, err := system.StartEvents(eventsCatalog, eventsPolicies,
		catalog.Schedule{Grace: 10 * time.Millisecond, AckTimeout: 30 * time.Second, HardDeadline: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	frontend, console := identity.SPIFFE("shop", "frontend"), identity.SPIFFE("ops", "console")
	attacker := watch(t, e, frontend, frontend)
	ops := watch(t, e, console, console)
	if a, o := next(t, attacker), next(t, ops); a != 41001 || o != 41001 {
		t.Fatalf("orders at %d and %d before the quarantine, want 41001", a, o)
	}

	start := time.Now()
	if err := e.Quarantine(ctx, frontend, false); err != nil {
		t.Fatal(err)
	}
	moved := next(t, ops)
	took := time.Since(start)
	t.Logf("from the verdict to the console's new endpoints for orders (%d -> %d): %v", 41001, moved, took)
	if moved == 41001 || took > 10*time.Second {
		t.Fatalf("the console was told %d after %v; want a new port within 10 s", moved, took)
	}
	// The move is recorded once the console's acknowledgement is in.
	deadline := time.Now().Add(30 * time.Second)
	for e.XDS.Status().Services["orders"].LastMove == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := e.XDS.Status()
	if lm := st.Services["orders"].LastMove; lm == nil || lm.Trigger != "event" {
		t.Fatalf("orders' last move: %+v, want one by the event", lm)
	}
	if st.Services["payments"].LastMove != nil {
		t.Fatal("payments moved although frontend could not reach it")
	}

	if err := attacker.Reask(); err != nil {
		t.Fatal(err)
	}
	if p := next(t, attacker); p != 41001 {
		t.Fatalf("the quarantined workload, asking again, was told orders is at %d", p)
	}
	again := watch(t, e, frontend, frontend+"~again")
	code, _, err := e.Admin(frontend, "POST", "/events", `{"kind":"release","workload":"`+frontend+`"}`)
	if err != nil || code != http.StatusForbidden {
		t.Fatalf("frontend reporting its own release: %d %v, want 403", code, err)
	}
	if err := attacker.Reask(); err != nil {
		t.Fatal(err)
	}
	if p := next(t, attacker); p != 41001 || len(again.Ports) != 0 {
		t.Fatalf("after its own release was refused, the quarantined workload was told %d (new node: %d answers)", p, len(again.Ports))
	}

	if err := e.Quarantine(ctx, frontend, true); err != nil {
		t.Fatal(err)
	}
	if a, b := next(t, attacker), next(t, again); a != moved || b != moved {
		t.Fatalf("after the release frontend's nodes were told %d and %d, want %d", a, b, moved)
	}
	// The authorizer's identity reports events and nothing else.
	if code, _, err := e.Admin(e.AuthzID, "GET", "/placement", ""); err != nil || code != http.StatusForbidden {
		t.Fatalf("the authorizer's identity read the placement: %d %v", code, err)
	}
	code, metrics, err := e.Admin(e.OperatorID, "GET", "/metrics", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("xds metrics: %d %v", code, err)
	}
	for _, want := range []string{
		`meshward_xds_admin_refused_total{reason="identity-not-allowed"} 1`,
		`meshward_xds_admin_refused_total{reason="events-only"} 1`,
		`meshward_xds_events_total{kind="quarantine",result="accepted"} 1`,
		`meshward_xds_events_total{kind="release",result="accepted"} 1`,
		`meshward_xds_rotations_total{service="orders",trigger="event"} 1`,
		`meshward_xds_frozen_identities 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("xds metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `meshward_xds_rotations_total{service="payments"`) {
		t.Error("payments moved although frontend could not reach it")
	}
}

func watch(t *testing.T, e *system.Events, id, node string) *system.EDSWatch {
	t.Helper()
	w, err := e.WatchEndpoints(id, node, "orders")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// next is the port of the watch's next answer; the bound only catches a
// server that never answers.
func next(t *testing.T, w *system.EDSWatch) uint32 {
	t.Helper()
	select {
	case p, ok := <-w.Ports:
		if !ok {
			t.Fatal("the ADS stream ended")
		}
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("no answer on the ADS stream")
	}
	return 0
}
