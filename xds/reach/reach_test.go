package reach

import (
	"strings"
	"testing"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/xds/catalog"
)

const policies = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
    to: [{operation: {methods: ["POST"], paths: ["/orders"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payments-admin, namespace: shop}
spec:
  selector: {matchLabels: {app: payments}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/orders"]}}]
    to: [{operation: {ports: ["9999"]}}]
`

const services = `services:
  - name: orders
    identity: spiffe://cluster.local/ns/shop/sa/orders
    labels: {app: orders}
    endpoints: [{address: 127.0.0.31, port: 41000}]
  - name: payments
    identity: spiffe://cluster.local/ns/shop/sa/payments
    labels: {app: payments}
    endpoints: [{address: 127.0.0.32, port: 41000}]
    ports: [42000]
  - name: catalog
    identity: spiffe://cluster.local/ns/shop/sa/catalog
    labels: {app: catalog}
    endpoints: [{address: 127.0.0.33, port: 41000}]
`

// The same policies the authorizer enforces decide who is told of what:
// frontend of orders (some request may pass), nobody of payments (its only
// rule needs a port payments never serves on), nobody of catalog (no ALLOW
// policy selects it, and meshward denies by default).
func TestReachFromPolicies(t *testing.T) {
	set, err := policy.Parse("p.yaml", []byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Parse("c.yaml", []byte(services))
	if err != nil {
		t.Fatal(err)
	}
	p := New(set)
	front, orders, mallory := "spiffe://cluster.local/ns/shop/sa/frontend", "spiffe://cluster.local/ns/shop/sa/orders", "spiffe://cluster.local/ns/shop/sa/mallory"
	for _, tc := range []struct {
		caller, service string
		want            bool
	}{
		{front, "orders", true}, {mallory, "orders", false}, {orders, "orders", false},
		{orders, "payments", false}, {front, "payments", false},
		{front, "catalog", false}, {mallory, "catalog", false},
	} {
		s, _ := cat.Lookup(tc.service)
		if got := p.Reachable(tc.caller, s); got != tc.want {
			t.Errorf("%s -> %s: %v (%s), want %v", tc.caller, tc.service, got, p.Explain(tc.caller, s), tc.want)
		}
	}
	wider, err := policy.Parse("wider.yaml", []byte(strings.Replace(policies, `principals: ["cluster.local/ns/shop/sa/frontend"]`,
		`principals: ["cluster.local/ns/shop/sa/frontend", "cluster.local/ns/shop/sa/mallory"]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p.Set(wider)
	if s, _ := cat.Lookup("orders"); !p.Reachable(mallory, s) {
		t.Error("after the set changed to admit mallory, orders is still unreachable for it")
	}
}
