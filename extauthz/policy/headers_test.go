package policy

import (
	"reflect"
	"slices"
	"testing"
)

func TestCELHeaderUse(t *testing.T) {
	tests := []struct {
		expr  string
		names []string
		all   bool
	}{
		{`request.method == "GET"`, nil, false},
		{`request["path"] == "/"`, nil, false},
		{`request.headers["x-api-version"] == "v1-legacy"`, []string{"x-api-version"}, false},
		{`request["headers"]["X-Tenant"] == "a"`, []string{"x-tenant"}, false},
		{`!("x-change-ticket" in request.headers) || request.headers.x_b == "1"`, []string{"x-change-ticket", "x_b"}, false},
		{`has(request.headers.x_c)`, []string{"x_c"}, false},
		{`has(request.headers)`, nil, false},
		{`request.headers.exists(h, h.startsWith("x-"))`, nil, true},
		{`size(request.headers) > 3`, nil, true},
		{`request.headers.size() > 3`, nil, true},
		{`request.headers == {"a": "b"}`, nil, true},
		{`request.headers[request.method] == "1"`, nil, true},
		{`request["head" + "ers"]["x"] == "1"`, nil, true},
		{`"headers" in request`, nil, true},
		{`[request].exists(r, r.headers["x"] == "1")`, nil, true},
		{`dyn(request).headers["x"] == "1"`, nil, true},
		{`{"k": request.headers}.size() == 1`, nil, true},
		{`["x-a", "x-b"].exists(n, n in request.headers)`, nil, true},
		{`source.namespace == "shop" && request.headers["x-a"] != "" && destination.labels["app"] == "orders"`, []string{"x-a"}, false},
	}
	for _, tc := range tests {
		ast, iss := celEnv.Compile(tc.expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", tc.expr, iss.Err())
		}
		u := celHeaderUse(ast)
		if !reflect.DeepEqual(u.names, tc.names) || u.all != tc.all {
			t.Errorf("%s: names %q all %v, want %q %v", tc.expr, u.names, u.all, tc.names, tc.all)
		}
	}
}

const headerPolicies = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reads, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
  - to: [{operation: {paths: ["/x"]}}]
    when: [{key: "request.headers[x-tenant]", values: ["a"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - when: [{key: "request.headers[X-Api-Version]", values: ["v1-legacy"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: trial, namespace: shop, annotations: {istio.io/dry-run: "true"}}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - when: [{key: "request.headers[x-dry]", values: ["1"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: watch, namespace: shop}
spec:
  action: AUDIT
  rules:
  - when: [{key: "request.headers[x-audit]", values: ["1"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-wide, namespace: istio-system}
spec:
  action: DENY
  rules:
  - when: [{key: "request.headers[x-evil]", values: ["1"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: catalog, namespace: shop}
spec:
  selector: {matchLabels: {app: catalog}}
  rules:
  - when: [{key: "request.headers[x-catalog]", values: ["1"]}]
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: shop, namespace: shop}
spec:
  conditions:
  - {name: ticket, action: DENY, expression: 'request.method == "POST" && !("x-change-ticket" in request.headers)'}
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: dmz, namespace: dmz}
spec:
  conditions:
  - {name: few-headers, action: REQUIRE, expression: 'size(request.headers) < 50'}
`

func TestHeaderNames(t *testing.T) {
	set, err := Parse("h.yaml", []byte(headerPolicies))
	if err != nil {
		t.Fatal(err)
	}
	names, all := set.HeaderNames()
	want := []string{"x-api-version", "x-audit", "x-catalog", "x-change-ticket", "x-dry", "x-evil", "x-tenant"}
	if !slices.Equal(names, want) || !all {
		t.Fatalf("names %q all %v, want %q true", names, all, want)
	}
	if names, all := NewSet(nil, nil).HeaderNames(); len(names) != 0 || all {
		t.Fatalf("empty set: %q %v", names, all)
	}
}

// A check that left out a header a policy for its destination reads must
// not be decided as if the header were absent: the padding attack.
func TestReadsOmittedHeader(t *testing.T) {
	set, err := Parse("h.yaml", []byte(headerPolicies))
	if err != nil {
		t.Fatal(err)
	}
	orders := func(omitted ...string) (*Request, func(string) bool) {
		r := &Request{SourcePrincipal: frontend, Destination: "spiffe://cluster.local/ns/shop/sa/orders",
			DestinationLabels: map[string]string{"app": "orders"}, Method: "GET", Path: "/x"}
		return r, func(h string) bool { return slices.Contains(omitted, h) }
	}
	tests := []struct {
		name    string
		ns      string
		labels  map[string]string
		omitted []string
		want    string // "" : no rule reads them
	}{
		{name: "deny policy's header", omitted: []string{"x-pad", "x-api-version"}, want: "shop/no-legacy[0]"},
		{name: "allow policy's header", omitted: []string{"x-tenant"}, want: "shop/reads[1]"},
		{name: "root namespace policy", omitted: []string{"x-evil"}, want: "istio-system/mesh-wide[0]"},
		{name: "condition's header", omitted: []string{"x-change-ticket"}, want: "shop/shop/conditions[0] (ticket)"},
		{name: "headers no one reads", omitted: []string{"x-pad-1", "x-pad-2"}},
		{name: "dry-run and audit only", omitted: []string{"x-dry", "x-audit"}},
		{name: "another workload's policy", omitted: []string{"x-catalog"}},
		{name: "a condition reads all headers", ns: "dmz", labels: map[string]string{"app": "web"}, omitted: []string{"x-pad"},
			want: "dmz/dmz/conditions[0] (few-headers)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, omitted := orders(tc.omitted...)
			if tc.ns != "" {
				r.Destination, r.DestinationLabels = "spiffe://cluster.local/ns/"+tc.ns+"/sa/x", tc.labels
			}
			by, ok := set.ReadsOmittedHeader(r, omitted)
			if by != tc.want || ok != (tc.want != "") {
				t.Fatalf("ReadsOmittedHeader = %q %v, want %q", by, ok, tc.want)
			}
		})
	}
}
