package decision

import (
	"testing"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

const (
	a = "spiffe://cluster.local/ns/shop/sa/a"
	b = "spiffe://cluster.local/ns/shop/sa/b"
)

func TestDecide(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a-calls-b, namespace: shop}
spec:
  selector: {matchLabels: {app: b}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/a"]}}]
    to: [{operation: {methods: [GET]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-all, namespace: shop}
spec:
  action: AUDIT
  rules: [{}]
`))
	if err != nil {
		t.Fatal(err)
	}
	q := quarantine.New()
	e := New(set, q)
	get := &policy.Request{SourcePrincipal: a, Destination: b, DestinationLabels: map[string]string{"app": "b"}, Method: "GET", Path: "/"}

	steps := []struct {
		name   string
		before func()
		req    *policy.Request
		allow  bool
		reason string
		rule   string
	}{
		{"allowed", nil, get, true, "allowed", "shop/a-calls-b[0]"},
		{"default deny", nil, &policy.Request{SourcePrincipal: b, Destination: a, DestinationLabels: map[string]string{"app": "a"}, Method: "GET", Path: "/"}, false, "no-allow-policy", ""},
		{"source quarantined", func() { q.Add(quarantine.Entry{Workload: a}, 0) }, get, false, ReasonQuarantinedSource, ""},
		{"released", func() { q.Release(a) }, get, true, "allowed", "shop/a-calls-b[0]"},
		{"destination quarantined", func() { q.Add(quarantine.Entry{Workload: b}, 0) }, get, false, ReasonQuarantinedDestination, ""},
		{"policy swapped", func() { q.Release(b); e.SetPolicy(policy.NewSet(nil, nil)) }, get, false, "no-allow-policy", ""},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		got := e.Decide(s.req)
		if got.Allow != s.allow || got.Reason != s.reason || got.Rule != s.rule {
			t.Fatalf("%s: got %+v, want allow=%v %s %s", s.name, got, s.allow, s.reason, s.rule)
		}
		if s.name == "allowed" && (len(got.Audit) != 1 || got.Audit[0] != "shop/audit-all[0]") {
			t.Fatalf("audit rules %v", got.Audit)
		}
	}
}

func TestRateLimits(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte(`
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: limits, namespace: shop}
spec:
  defaultAction: ALLOW
  rateLimits:
  - sources: ["cluster.local/ns/shop/sa/a"]
    requestsPerSecond: 0.001
    burst: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(set, quarantine.New())
	call := func(src string) Decision {
		return e.Decide(&policy.Request{SourcePrincipal: src, Destination: b, Method: "GET", Path: "/"})
	}
	for i := 0; i < 3; i++ {
		if d := call(a); !d.Allow || d.Cacheable {
			t.Fatalf("call %d within the burst: %+v (and never cacheable: a cache would skip the bucket)", i, d)
		}
	}
	d := call(a)
	if d.Allow || d.Reason != ReasonRateLimited || d.Status != 429 || d.Rule != "shop/limits/rateLimits[0]" {
		t.Fatalf("over the burst: %+v", d)
	}
	if d := call(b); !d.Allow {
		t.Fatalf("a source the limit does not name: %+v", d)
	}
}

func TestMeshwardPolicyConditionsExemptionsObligations(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte(`
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: shop, namespace: shop}
spec:
  defaultAction: ALLOW
  conditions:
  - name: writes-need-a-ticket
    expression: 'request.method in ["POST", "DELETE"] && !("x-change-ticket" in request.headers)'
  - name: only-orders-app-on-port
    action: REQUIRE
    expression: '"app" in destination.labels || request.path.startsWith("/public")'
  - name: a-missing-key-is-an-error
    expression: 'request.path == "/boom" && destination.labels["team"] == "x"'
  quarantineExemptions:
  - {paths: ["/healthz"], methods: [GET]}
  encrypt:
  - sources: ["cluster.local/ns/shop/sa/a"]
`))
	if err != nil {
		t.Fatal(err)
	}
	q := quarantine.New()
	e := New(set, q)
	req := func(src, method, path string, headers map[string]string, labels map[string]string) *policy.Request {
		return &policy.Request{SourcePrincipal: src, Destination: b, DestinationLabels: labels, Method: method, Path: path, Headers: headers}
	}
	app := map[string]string{"app": "b"}
	steps := []struct {
		name   string
		r      *policy.Request
		allow  bool
		reason string
	}{
		{"read", req(b, "GET", "/x", nil, app), true, "allowed-by-default"},
		{"write without a ticket", req(b, "POST", "/x", nil, app), false, ReasonDeniedByCondition},
		{"write with a ticket", req(b, "POST", "/x", map[string]string{"x-change-ticket": "CHG-1"}, app), true, "allowed-by-default"},
		{"REQUIRE false", req(b, "GET", "/x", nil, nil), false, ReasonDeniedByCondition},
		{"REQUIRE true by path", req(b, "GET", "/public/x", nil, nil), true, "allowed-by-default"},
		{"an evaluation error denies", req(b, "GET", "/boom", nil, app), false, ReasonConditionError},
	}
	for _, s := range steps {
		d := e.Decide(s.r)
		if d.Allow != s.allow || d.Reason != s.reason || d.Cacheable {
			t.Fatalf("%s: %+v (never cacheable: conditions read headers)", s.name, d)
		}
	}
	if d := e.Decide(req(b, "POST", "/x", nil, app)); d.Rule != "shop/shop/conditions[0] (writes-need-a-ticket)" {
		t.Fatalf("rule %q", d.Rule)
	}
	if d := e.Decide(req(a, "GET", "/x", nil, app)); len(d.Obligations) != 1 || d.Obligations[0] != "encrypt" {
		t.Fatalf("encrypt obligation: %+v", d)
	}
	if d := e.Decide(req(b, "GET", "/x", nil, app)); len(d.Obligations) != 0 {
		t.Fatalf("obligation for a source not named: %+v", d)
	}
	q.Add(quarantine.Entry{Workload: a}, 0)
	if d := e.Decide(req(a, "GET", "/healthz", nil, app)); !d.Allow {
		t.Fatalf("an exempt health check was stopped by the quarantine: %+v", d)
	}
	if d := e.Decide(req(a, "GET", "/x", nil, app)); d.Reason != ReasonQuarantinedSource {
		t.Fatalf("quarantine: %+v", d)
	}
}
