package decision

import (
	"testing"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

const legacyPolicies = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a-calls-b, namespace: shop}
spec:
  selector: {matchLabels: {app: b}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/a"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: b}}
  action: DENY
  rules:
  - when: [{key: "request.headers[x-api-version]", values: ["v1-legacy"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: c-open, namespace: shop}
spec:
  selector: {matchLabels: {app: c}}
  rules: [{}]
`

// The padding attack: headers pushed x-api-version out of the check. The
// engine knows the DENY on it and refuses to decide as if it were absent.
func TestOmittedHeaderThatAPolicyReadsDenies(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte(legacyPolicies))
	if err != nil {
		t.Fatal(err)
	}
	q := quarantine.New()
	e := New(set, q)
	req := func(app string, omitted []string, truncated bool) *policy.Request {
		return &policy.Request{SourcePrincipal: a, Destination: b, DestinationLabels: map[string]string{"app": app},
			Method: "GET", Path: "/", OmittedHeaders: omitted, OmittedHeadersTruncated: truncated}
	}
	tests := []struct {
		name   string
		req    *policy.Request
		allow  bool
		reason string
		rule   string
	}{
		{"nothing omitted", req("b", nil, false), true, "allowed", "shop/a-calls-b[0]"},
		{"padding only", req("b", []string{"x-pad-1", "x-pad-2"}, false), true, "allowed", "shop/a-calls-b[0]"},
		{"the denied header omitted", req("b", []string{"x-pad-1", "X-Api-Version"}, false), false, ReasonHeaderOmitted, "shop/no-legacy[0]"},
		{"even the names omitted", req("b", []string{"x-pad-1"}, true), false, ReasonHeaderOmitted, "shop/no-legacy[0]"},
		{"another destination reads no header", req("c", []string{"x-api-version"}, true), true, "allowed", "shop/c-open[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := e.Decide(tc.req)
			if d.Allow != tc.allow || d.Reason != tc.reason || d.Rule != tc.rule {
				t.Fatalf("got %+v, want allow=%v %s %s", d, tc.allow, tc.reason, tc.rule)
			}
			if !d.Allow && (d.Status != 403 || d.Cacheable) {
				t.Fatalf("denial %+v: want 403, not cacheable", d)
			}
		})
	}
	if names, all := e.HeaderNames(); len(names) != 1 || names[0] != "x-api-version" || all {
		t.Fatalf("HeaderNames = %q %v", names, all)
	}
	// A quarantine is the more telling reason.
	q.Add(quarantine.Entry{Workload: a}, 0)
	if d := e.Decide(req("b", []string{"x-api-version"}, false)); d.Reason != ReasonQuarantinedSource {
		t.Fatalf("quarantined and omitted: %+v", d)
	}
	// A policy change applies to the names at once, with the set it decides with.
	e.SetPolicy(policy.NewSet(nil, nil))
	q.Release(a)
	if names, _ := e.HeaderNames(); len(names) != 0 {
		t.Fatalf("names after the change: %q", names)
	}
	if d := e.Decide(req("b", []string{"x-api-version"}, true)); d.Reason != "no-allow-policy" {
		t.Fatalf("after the change: %+v", d)
	}
}

func TestInstance(t *testing.T) {
	e1, e2 := New(policy.NewSet(nil, nil), quarantine.New()), New(policy.NewSet(nil, nil), quarantine.New())
	if len(e1.Instance()) != 16 || e1.Instance() == e2.Instance() || e1.Instance() != e1.Instance() {
		t.Fatalf("instances %q %q", e1.Instance(), e2.Instance())
	}
}

// A decision without a rule name to format allocates nothing: the
// omitted-header test costs nothing when nothing was omitted.
func TestDecideAllocatesNothing(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte(legacyPolicies))
	if err != nil {
		t.Fatal(err)
	}
	e := New(set, quarantine.New())
	r := &policy.Request{SourcePrincipal: b, Destination: b, DestinationLabels: map[string]string{"app": "b"}, Method: "GET", Path: "/",
		Headers: map[string]string{"x-api-version": "v2"}}
	if n := testing.AllocsPerRun(100, func() { e.Decide(r) }); n != 0 {
		t.Fatalf("Decide allocates %v times", n)
	}
}
