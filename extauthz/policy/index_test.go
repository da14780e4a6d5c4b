package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomPolicies writes ALLOW rules over a small vocabulary, so that index
// keys collide, overlap and mix with unindexable rules.
func randomPolicies(rng *rand.Rand, rules int) string {
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	var b strings.Builder
	if rng.IntN(2) == 0 { // the same rules with hosts matching any port
		b.WriteString("apiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: m, namespace: shop}\nspec: {hostsMatchAnyPort: true}\n---\n")
	}
	b.WriteString("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: r, namespace: shop}\nspec:\n  rules:\n")
	for i := 0; i < rules; i++ {
		b.WriteString("  - ")
		var parts []string
		switch rng.IntN(8) {
		case 5:
			parts = append(parts, fmt.Sprintf("from: [{source: {namespaces: [%q], requestPrincipals: [%q]}}]", pick("sh*p", "*", "d*"), pick("*", "iss/*", "*/u")))
		case 6:
			parts = append(parts, fmt.Sprintf("from: [{source: {trustDomains: [%q], notRequestPrincipals: [\"*\"]}}]", pick("cluster.local", "*.local", "other")))
		case 7:
			kv := [][2]string{{"source.serviceAccount", pick("a", "dmz/c")}, {"source.trustDomain", pick("cluster.local", "*.local")}, {"request.auth.principal", pick("iss/u", "*/u")}}[rng.IntN(3)]
			parts = append(parts, fmt.Sprintf("when: [{key: %s, values: [%q]}]", kv[0], kv[1]))
		case 0:
			parts = append(parts, fmt.Sprintf("from: [{source: {principals: [%q, %q]}}]", pick("cluster.local/ns/shop/sa/a", "cluster.local/ns/shop/sa/b"), pick("cluster.local/ns/dmz/sa/c", "cluster.local/ns/shop/sa/*")))
		case 1:
			parts = append(parts, fmt.Sprintf("from: [{source: {namespaces: [%q]}}, {source: {serviceAccounts: [%q]}}]", pick("shop", "dmz"), pick("a", "dmz/c")))
		case 2:
			parts = append(parts, fmt.Sprintf("from: [{source: {serviceAccounts: [%q], notServiceAccounts: [%q]}}]", pick("a", "b", "dmz/c"), pick("shop/a", "x")))
		}
		switch rng.IntN(5) {
		case 0:
			parts = append(parts, fmt.Sprintf("to: [{operation: {paths: [%q, %q]}}]", pick("/a", "/b", "/b/{*}"), pick("/c", "/a/*", "/c*")))
		case 1:
			parts = append(parts, fmt.Sprintf("to: [{operation: {hosts: [%q], methods: [%q]}}]", pick("Orders", "orders:8080", "*.shop"), pick("GET", "POST")))
		case 2:
			parts = append(parts, fmt.Sprintf("to: [{operation: {methods: [%q]}}]", pick("GET", "PUT")))
		case 3:
			parts = append(parts, fmt.Sprintf("to: [{operation: {paths: [%q]}}, {operation: {paths: [%q], methods: [GET]}}]", pick("/a/*", "/b/{**}"), pick("/c/x", "/a/{*}/z")))
		}
		if len(parts) == 0 {
			b.WriteString("{}\n")
			continue
		}
		b.WriteString(strings.Join(parts, "\n    ") + "\n")
	}
	return b.String()
}

// The index finds the same first rule as a scan of every rule in order.
func TestIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	principals := []string{"spiffe://cluster.local/ns/shop/sa/a", "spiffe://cluster.local/ns/shop/sa/b", "spiffe://cluster.local/ns/dmz/sa/c", ""}
	for round := 0; round < 200; round++ {
		set, err := Parse("random.yaml", []byte(randomPolicies(rng, 1+rng.IntN(30))))
		if err != nil {
			t.Fatal(err)
		}
		p := set.byNS["shop"][0]
		for q := 0; q < 50; q++ {
			r := &Request{
				SourcePrincipal: principals[rng.IntN(len(principals))], Destination: orders,
				RequestPrincipal: []string{"", "iss/u", "iss/v", "x/u"}[rng.IntN(4)],
				Method:           []string{"GET", "POST", "PUT"}[rng.IntN(3)], Path: []string{"/a", "/b", "/c", "/a/x", "/b/x", "/cx", "/c/x", "/a/q/z", "/b/x/y?z"}[rng.IntN(9)],
				Host: []string{"orders", "ORDERS:8080", "x.shop", "orders:8080"}[rng.IntN(4)],
			}
			f := &facts{}
			derive(r, f)
			f.anyPortNS = set.anyPort
			var want *Rule
			for _, rl := range p.Rules {
				if rl.matches(f) {
					want = rl
					break
				}
			}
			got := set.Evaluate(r).Rule
			if got != want {
				t.Fatalf("round %d: index found %v, scan %v, for %+v", round, name(got), name(want), r)
			}
		}
	}
}

func name(r *Rule) string {
	if r == nil {
		return "none"
	}
	return r.Name()
}
