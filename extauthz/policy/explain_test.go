package policy

import (
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	set, err := Parse("shop.yaml", []byte(shopPolicies))
	if err != nil {
		t.Fatal(err)
	}
	e := set.Explain(req(frontend, "/orders/internal/x", withHeader("x-approved", "no")))
	if e.Result.Allow || e.Namespace != "shop" {
		t.Fatalf("result %+v", e.Result)
	}
	var got []string
	for _, p := range e.Selected {
		for _, r := range p.Rules {
			got = append(got, p.Policy.Action.String()+" "+r.Rule.Name()+": "+r.Why)
		}
	}
	want := []string{
		`DENY istio-system/mesh-deny-dmz[0]: from[0]: namespaces: "shop" matches none of ["dmz"]`,
		`DENY shop/orders-no-delete[0]: to[0]: methods: "GET" matches none of ["DELETE"]`,
		`ALLOW shop/orders-read[0]: to[0]: notPaths: "/orders/internal/x" matches "/orders/internal*"`,
		`ALLOW shop/orders-read[1]: from[0]: notPrincipals: "cluster.local/ns/shop/sa/frontend" matches "cluster.local/ns/shop/sa/frontend"`,
		`ALLOW shop/orders-read[2]: to[0]: paths: "/orders/internal/x" matches none of ["/healthz"]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("explanation:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cond := set.Explain(req(payments, "/v2/refund", method("POST"), withHeader("x-approved", "no")))
	if why := cond.Selected[2].Rules[1].Why; why != `when[0]: request.headers[x-approved] is "no", which the condition's values do not admit` {
		t.Fatalf("condition: %s", why)
	}
}
