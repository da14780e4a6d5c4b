// Package bench makes synthetic policy sets and requests for the authorizer's
// benchmarks (`make bench-authz`, go test -bench).
package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/meshward/meshward/extauthz/policy"
)

// Destination is the workload every generated rule protects: the worst case,
// where no per-workload narrowing helps and only the rule index does.
const (
	Destination = "spiffe://cluster.local/ns/shop/sa/orders"
	ns          = "shop"
)

// Policies writes n rules for one workload, mixed as large policy sets are:
// most name exact callers (principals), some whole namespaces, some exact
// paths for any caller, 1% are DENY rules, and five rules (health checks,
// wildcards) no index key narrows, whatever n is.
func Policies(n int) string {
	var b strings.Builder
	header := func(name, action string) {
		fmt.Fprintf(&b, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: %s, namespace: %s}\n"+
			"spec:\n  selector: {matchLabels: {app: orders}}\n  action: %s\n  rules:\n", name, ns, action)
	}
	deny := n / 100
	header("generated-deny", "DENY")
	if deny == 0 {
		b.WriteString("  - from: [{source: {principals: [cluster.local/ns/none/sa/none]}}]\n")
	}
	for i := 0; i < deny; i++ {
		fmt.Fprintf(&b, "  - from: [{source: {principals: [cluster.local/ns/%s/sa/banned-%d]}}]\n", ns, i)
	}
	header("generated-allow", "ALLOW")
	unkeyed := min(5, n)
	for i := 0; i < unkeyed; i++ {
		fmt.Fprintf(&b, "  - to: [{operation: {methods: [GET], paths: [\"/healthz/%d*\"]}}]\n", i)
	}
	for i := unkeyed; i < n-deny; i++ {
		switch i % 10 {
		case 8:
			fmt.Fprintf(&b, "  - from: [{source: {namespaces: [tenant-%d]}}]\n    to: [{operation: {methods: [GET]}}]\n", i)
		case 9:
			fmt.Fprintf(&b, "  - to: [{operation: {methods: [GET], paths: [/public/%d]}}]\n", i)
		default:
			fmt.Fprintf(&b, "  - from: [{source: {principals: [cluster.local/ns/%s/sa/caller-%d]}}]\n"+
				"    to: [{operation: {methods: [GET, POST], paths: [\"/api/%d/*\"]}}]\n", ns, i, i)
		}
	}
	return b.String()
}

// Set parses Policies(n).
func Set(n int) (*policy.Set, error) {
	return policy.Parse(fmt.Sprintf("generated-%d.yaml", n), []byte(Policies(n)))
}

// AllowAll is the baseline: one policy that allows every request, built by the
// same code.
func AllowAll() (*policy.Set, error) {
	return policy.Parse("allow-all.yaml", []byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"+
		"metadata: {name: allow-all, namespace: shop}\nspec:\n  selector: {matchLabels: {app: orders}}\n  rules: [{}]\n"))
}

// Requests makes k requests against Policies(n): nine in ten are allowed by a
// principal-keyed rule somewhere in the set, the rest are misses.
func Requests(n, k int, seed uint64) []*policy.Request {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]*policy.Request, k)
	for i := range out {
		j := 5 + rng.IntN(max(1, n-n/100-5))
		for j%10 >= 8 {
			j = 5 + rng.IntN(max(1, n-n/100-5))
		}
		r := &policy.Request{
			SourcePrincipal: fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/caller-%d", ns, j), Destination: Destination,
			DestinationLabels: map[string]string{"app": "orders"}, Method: "GET", Path: fmt.Sprintf("/api/%d/items", j),
			Host: "orders.shop.svc.cluster.local",
		}
		if rng.IntN(10) == 0 {
			r.Path = "/admin"
		}
		out[i] = r
	}
	return out
}
