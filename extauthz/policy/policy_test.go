package policy

import (
	"strings"
	"testing"
)

const (
	frontend = "spiffe://cluster.local/ns/shop/sa/frontend"
	orders   = "spiffe://cluster.local/ns/shop/sa/orders"
	payments = "spiffe://cluster.local/ns/shop/sa/payments"
	intruder = "spiffe://cluster.local/ns/dmz/sa/web"
)

// The policies of the semantics table: one namespace (shop) with an
// orders workload, a payments workload, and a root-namespace DENY.
const shopPolicies = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-read, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/shop/sa/frontend"]}
    to:
    - operation: {methods: ["GET", "HEAD"], paths: ["/orders", "/orders/*"], notPaths: ["/orders/internal*"]}
  - from:
    - source: {namespaces: ["shop"], notPrincipals: ["cluster.local/ns/shop/sa/frontend"]}
    to:
    - operation: {methods: ["POST"], paths: ["*/refund"], ports: ["8080"]}
    when:
    - {key: "request.headers[x-approved]", values: ["yes"]}
  - to:
    - operation: {paths: ["/healthz"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-no-delete, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - to:
    - operation: {methods: ["DELETE"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payments-by-service, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: payments}]
  rules:
  - from:
    - source: {serviceAccounts: ["orders"], ipBlocks: ["127.0.0.0/8"], notIpBlocks: ["127.0.0.66"]}
    to:
    - operation: {hosts: ["payments.shop*", "*.example.com"], paths: ["/v1/{*}/charge"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-deny-dmz, namespace: istio-system}
spec:
  action: DENY
  rules:
  - from:
    - source: {namespaces: ["dmz"]}
    when:
    - {key: destination.port, notValues: ["9090"]}
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: defaults, namespace: legacy}
spec: {defaultAction: ALLOW}
`

func req(src, path string, mut ...func(*Request)) *Request {
	r := &Request{SourcePrincipal: src, SourceAddress: "127.0.0.1:5000", Destination: orders,
		DestinationLabels: map[string]string{"app": "orders"}, DestinationAddress: "127.0.0.1:8080",
		Method: "GET", Path: path, Host: "orders.shop:8080"}
	for _, m := range mut {
		m(r)
	}
	return r
}

func method(m string) func(*Request) { return func(r *Request) { r.Method = m } }
func withHeader(k, v string) func(*Request) {
	return func(r *Request) { r.Headers = map[string]string{k: v} }
}
func toPayments(r *Request) {
	r.Destination, r.DestinationService, r.DestinationLabels = payments, "payments", map[string]string{"app": "payments"}
	r.Host = "payments.shop.svc.cluster.local"
}

func TestEvaluate(t *testing.T) {
	set, err := Parse("shop.yaml", []byte(shopPolicies))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		req    *Request
		allow  bool
		reason string
		rule   string
	}{
		{"exact path", req(frontend, "/orders"), true, ReasonAllowed, "shop/orders-read[0]"},
		{"prefix path, query ignored", req(frontend, "/orders/7?x=1"), true, ReasonAllowed, "shop/orders-read[0]"},
		{"second method", req(frontend, "/orders/7", method("HEAD")), true, ReasonAllowed, "shop/orders-read[0]"},
		{"notPaths wins over paths", req(frontend, "/orders/internal/x"), false, ReasonNoMatchingRule, ""},
		{"prefix is not a substring", req(frontend, "/ordersX"), false, ReasonNoMatchingRule, ""},
		{"method not allowed", req(frontend, "/orders/7", method("PUT")), false, ReasonNoMatchingRule, ""},
		{"DENY before ALLOW", req(frontend, "/orders/7", method("DELETE")), false, ReasonDeniedByPolicy, "shop/orders-no-delete[0]"},
		{"rule without from: anyone, health", req("", "/healthz"), true, ReasonAllowed, "shop/orders-read[2]"},
		{"namespaces + notPrincipals + suffix + port + header", req(payments, "/v2/refund", method("POST"), withHeader("x-approved", "yes")), true, ReasonAllowed, "shop/orders-read[1]"},
		{"notPrincipals excludes", req(frontend, "/v2/refund", method("POST"), withHeader("x-approved", "yes")), false, ReasonNoMatchingRule, ""},
		{"condition value", req(payments, "/v2/refund", method("POST"), withHeader("x-approved", "no")), false, ReasonNoMatchingRule, ""},
		{"condition absent header", req(payments, "/v2/refund", method("POST")), false, ReasonNoMatchingRule, ""},
		{"port", req(payments, "/v2/refund", method("POST"), withHeader("x-approved", "yes"), func(r *Request) { r.DestinationAddress = "127.0.0.1:9999" }), false, ReasonNoMatchingRule, ""},
		{"root DENY applies in every namespace", req(intruder, "/healthz"), false, ReasonDeniedByPolicy, "istio-system/mesh-deny-dmz[0]"},
		{"root DENY notValues", req(intruder, "/healthz", func(r *Request) { r.DestinationAddress = "127.0.0.1:9090" }), true, ReasonAllowed, "shop/orders-read[2]"},
		{"targetRefs, serviceAccounts, ipBlocks, host prefix, template", req(orders, "/v1/abc/charge", toPayments), true, ReasonAllowed, "shop/payments-by-service[0]"},
		{"path template is one segment", req(orders, "/v1/a/b/charge", toPayments), false, ReasonNoMatchingRule, ""},
		{"notIpBlocks", req(orders, "/v1/abc/charge", toPayments, func(r *Request) { r.SourceAddress = "127.0.0.66:1" }), false, ReasonNoMatchingRule, ""},
		{"ipBlocks", req(orders, "/v1/abc/charge", toPayments, func(r *Request) { r.SourceAddress = "[::1]:1" }), false, ReasonNoMatchingRule, ""},
		{"host suffix, case-insensitive", req(orders, "/v1/abc/charge", toPayments, func(r *Request) { r.Host = "API.Example.COM" }), true, ReasonAllowed, "shop/payments-by-service[0]"},
		{"serviceAccounts", req(frontend, "/v1/abc/charge", toPayments), false, ReasonNoMatchingRule, ""},
		{"targetRefs needs the service", req(orders, "/v1/abc/charge", toPayments, func(r *Request) { r.DestinationService = "" }), false, ReasonNoAllowPolicy, ""},
		{"no ALLOW policy selects: meshward denies", req(frontend, "/", func(r *Request) { r.DestinationLabels = map[string]string{"app": "cart"} }), false, ReasonNoAllowPolicy, ""},
		{"namespace default ALLOW", req(frontend, "/", func(r *Request) { r.Destination = "spiffe://cluster.local/ns/legacy/sa/x" }), true, ReasonAllowedByDefault, ""},
		{"DENY still applies under default ALLOW", req(intruder, "/", func(r *Request) { r.Destination = "spiffe://cluster.local/ns/legacy/sa/x" }), false, ReasonDeniedByPolicy, "istio-system/mesh-deny-dmz[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := set.Evaluate(tc.req)
			rule := ""
			if got.Rule != nil {
				rule = got.Rule.Name()
			}
			if got.Allow != tc.allow || got.Reason != tc.reason || rule != tc.rule {
				t.Fatalf("got allow=%v %s %s, want allow=%v %s %s", got.Allow, got.Reason, rule, tc.allow, tc.reason, tc.rule)
			}
		})
	}
}

func TestAllowNothingAndAllowAll(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		allow  bool
		reason string
	}{
		{"{}", false, ReasonNoMatchingRule},    // ALLOW with no rules selects and allows nothing
		{"{rules: [{}]}", true, ReasonAllowed}, // one empty rule matches everything
		{"{action: DENY, rules: [{}]}", false, ReasonDeniedByPolicy},
	} {
		set, err := Parse("p.yaml", []byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec: "+tc.spec+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		got := set.Evaluate(req(frontend, "/x"))
		if got.Allow != tc.allow || got.Reason != tc.reason {
			t.Fatalf("spec %s: allow=%v %s, want %v %s", tc.spec, got.Allow, got.Reason, tc.allow, tc.reason)
		}
	}
}

func TestDryRunAndAudit(t *testing.T) {
	set, err := Parse("p.yaml", []byte(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-all, namespace: shop}
spec: {rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: would-deny-post
  namespace: shop
  annotations: {istio.io/dry-run: "true"}
spec:
  action: DENY
  rules: [{to: [{operation: {methods: [POST]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-admin, namespace: shop}
spec:
  action: AUDIT
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	post := set.Evaluate(req(frontend, "/admin/x", method("POST")))
	if !post.Allow || post.DryRun == nil || post.DryRun.Allow || post.DryRun.Rule.Name() != "shop/would-deny-post[0]" {
		t.Fatalf("dry-run: enforced %+v, dry %+v", post, post.DryRun)
	}
	if len(post.Audit) != 1 || post.Audit[0].Name() != "shop/audit-admin[0]" {
		t.Fatalf("audit %v", post.Audit)
	}
	get := set.Evaluate(req(frontend, "/x"))
	if !get.Allow || get.DryRun == nil || !get.DryRun.Allow || len(get.Audit) != 0 {
		t.Fatalf("GET: %+v dry %+v", get, get.DryRun)
	}
}

func TestParseErrors(t *testing.T) {
	ap := "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\n"
	tests := []struct{ name, in, want string }{
		{"not yaml", "a: [", "p.yaml: yaml: line 1"},
		{"unknown kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", `p.yaml:1: v1 "ConfigMap" is not a policy kind`},
		{"no name", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nspec: {}\n", "p.yaml:1: metadata.name is required"},
		{"unknown spec field", ap + "spec:\n  rules:\n  - fromm: []\n", `p.yaml:6: spec: unknown field "fromm"`},
		{"unknown metadata field", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, labelz: {}}\n", `p.yaml:3: error unmarshaling JSON: while decoding JSON: json: unknown field "labelz"`},
		{"CUSTOM", ap + "spec: {action: CUSTOM, provider: {name: x}}\n", "p.yaml:4: spec.action: CUSTOM is not supported"},
		{"bad action", ap + "spec: {action: ALOW}\n", "p.yaml:4: spec: invalid value for enum"},
		{"selector and targetRefs", ap + "spec:\n  selector: {matchLabels: {a: b}}\n  targetRefs: [{kind: Service, name: s}]\n", "p.yaml:5: spec.selector: selector and targetRefs cannot both be set"},
		{"gateway target", ap + "spec:\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]\n", "p.yaml:5: spec.targetRefs[0]: kind \"Gateway\""},
		{"star in middle", ap + "spec:\n  rules:\n  - to:\n    - operation:\n        paths: [\"/a/*/b\"]\n", `p.yaml:8: spec.rules[0].to[0].operation.paths[0]: "/a/*/b": '*' may stand only at the start or the end`},
		{"bad template", ap + "spec:\n  rules:\n  - to:\n    - operation:\n        paths: [\"/a/{**}/{*}\"]\n", "{**} must be the last operator"},
		{"bad cidr", ap + "spec:\n  rules:\n  - from:\n    - source:\n        ipBlocks: [\"10.0.0.0/33\"]\n", `p.yaml:8: spec.rules[0].from[0].source.ipBlocks[0]: "10.0.0.0/33" is not an IP address`},
		{"bad port", ap + "spec:\n  rules:\n  - to:\n    - operation:\n        notPorts: [\"0\"]\n", "operation.notPorts[0]: \"0\" is not a port"},
		{"sa with principals", ap + "spec:\n  rules:\n  - from:\n    - source:\n        principals: [a]\n        serviceAccounts: [b]\n", "source.serviceAccounts: cannot be set with principals or namespaces"},
		{"sa wildcard", ap + "spec:\n  rules:\n  - from:\n    - source:\n        serviceAccounts: [\"a*\"]\n", "service accounts take no wildcard"},
		{"jwt condition", ap + "spec:\n  rules:\n  - when:\n    - key: request.auth.claims[iss]\n      values: [x]\n", `p.yaml:7: spec.rules[0].when[0].key: "request.auth.claims[iss]" is not supported`},
		{"credential header", ap + "spec:\n  rules:\n  - when:\n    - key: request.headers[Authorization]\n      notValues: [\"Bearer x\"]\n", `p.yaml:7: spec.rules[0].when[0].key: header "authorization" never reaches the authorizer`},
		{"pseudo-header", ap + "spec:\n  rules:\n  - when:\n    - key: request.headers[:scheme]\n      values: [https]\n", `pseudo-header ":scheme" is not supported`},
		{"targetRefs namespace, even its own", ap + "spec:\n  targetRefs: [{kind: Service, name: s, namespace: shop}]\n", "p.yaml:5: spec.targetRefs[0].namespace: must not be set"},
		{"dry-run not a boolean", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n  annotations: {istio.io/dry-run: \"yes\"}\nspec: {}\n", `p.yaml:5: metadata.annotations.istio.io/dry-run: "yes" is not a boolean`},
		{"unknown condition", ap + "spec:\n  rules:\n  - when:\n    - key: source.color\n      values: [x]\n", `unknown condition key "source.color"`},
		{"condition without values", ap + "spec:\n  rules:\n  - when:\n    - key: source.ip\n", "a condition needs values or notValues"},
		{"empty source", ap + "spec:\n  rules:\n  - from:\n    - {}\n", "spec.rules[0].from[0].source: from without a source"},
		{"bad default", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: d}\nspec:\n  defaultAction: MAYBE\n", `p.yaml:5: spec.defaultAction: "MAYBE": want DENY or ALLOW`},
		{"duplicate", ap + "spec: {}\n---\n" + ap + "spec: {}\n", "p.yaml:6: AuthorizationPolicy shop/p is already defined at p.yaml:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(shopPolicies))
	f.Add([]byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {rules: [{when: [{key: source.ip, values: ['::1/128']}]}]}\n"))
	f.Add([]byte("---\n---\napiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: d}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		// Whatever loads must decide without panicking, consistently.
		r := req(frontend, "/orders/1")
		if a, b := set.Evaluate(r), set.Evaluate(r); a.Allow != b.Allow || a.Reason != b.Reason {
			t.Fatalf("two answers for one request: %+v, %+v", a, b)
		}
	})
}

func TestCacheable(t *testing.T) {
	set, err := Parse("shop.yaml", []byte(shopPolicies+`---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  rules: [{from: [{source: {principals: [a]}}], to: [{operation: {methods: [GET], hosts: [cart]}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  *Request
		want bool
	}{
		{"orders: a header condition", req(frontend, "/"), false},
		{"payments: ipBlocks", req(orders, "/", toPayments), false},
		{"cart: principals, methods, hosts only", req(frontend, "/", func(r *Request) { r.DestinationLabels = map[string]string{"app": "cart"} }), true},
		{"nothing selects but the root DENY (a destination.port condition)", req(frontend, "/", func(r *Request) { r.DestinationLabels = nil }), true},
	} {
		if got := set.Evaluate(tc.req).Cacheable; got != tc.want {
			t.Errorf("%s: cacheable=%v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRateLimitSettings(t *testing.T) {
	mp := "apiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: m, namespace: shop}\nspec:\n  rateLimits:\n"
	set, err := Parse("m.yaml", []byte(mp+"  - {requestsPerSecond: 2.5}\n  - {sources: [\"*/sa/batch\"], requestsPerSecond: 100, burst: 7}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rls := set.RateLimits("shop")
	if len(rls) != 2 || rls[0].Burst != 3 || !rls[0].Applies(frontend) || rls[1].Burst != 7 ||
		rls[1].Applies(frontend) || !rls[1].Applies("spiffe://cluster.local/ns/jobs/sa/batch") || set.RateLimits("other") != nil {
		t.Fatalf("limits %+v", rls)
	}
	for in, want := range map[string]string{
		"  - {requestsPerSecond: 0}\n":                     "m.yaml:6: spec.rateLimits[0].requestsPerSecond: 0: want more than 0",
		"  - {requestsPerSecond: 1, burst: -1}\n":          "m.yaml:6: spec.rateLimits[0].burst: -1",
		"  - {requestsPerSecond: 1, sources: [\"a*b\"]}\n": "spec.rateLimits[0].sources[0]",
		"  - {rps: 1}\n":                                   `unknown field "rps"`,
	} {
		if _, err := Parse("m.yaml", []byte(mp+in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}

func TestMeshwardPolicyErrors(t *testing.T) {
	mp := "apiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: m, namespace: shop}\nspec:\n"
	for in, want := range map[string]string{
		"  conditions:\n  - {name: c, expression: 'request.method =='}\n":   "m.yaml:6: spec.conditions[0].expression: CEL: ",
		"  conditions:\n  - {name: c, expression: 'request.method'}\n":      "the expression is dyn, want bool",
		"  conditions:\n  - {name: c, expression: 'nope.x == 1'}\n":         "undeclared reference to 'nope'",
		"  conditions:\n  - {expression: 'true'}\n":                         "spec.conditions[0].name: empty",
		"  conditions:\n  - {name: c, action: ALLOW, expression: 'true'}\n": `"ALLOW": want DENY or REQUIRE`,
		"  quarantineExemptions:\n  - {}\n":                                 "an exemption needs paths or methods",
		"  quarantineExemptions:\n  - {paths: [\"/a/*/b\"]}\n":              "spec.quarantineExemptions[0].paths[0]",
		"  encrypt:\n  - {sources: []}\n":                                   "spec.encrypt[0].sources: empty",
		"  lateralMovement: {mode: block}\n":                                `spec.lateralMovement.mode: "block": want alert or enforce`,
		"  lateralMovement: {quarantineSeconds: -1}\n":                      "spec.lateralMovement.quarantineSeconds: -1",
	} {
		if _, err := Parse("m.yaml", []byte(mp+in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}
