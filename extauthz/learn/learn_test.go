package learn

import (
	"strings"
	"testing"

	"github.com/meshward/meshward/extauthz/policy"
)

const (
	frontend = "spiffe://cluster.local/ns/shop/sa/frontend"
	checkout = "spiffe://cluster.local/ns/shop/sa/checkout"
	orders   = "spiffe://cluster.local/ns/shop/sa/orders"
	payments = "spiffe://cluster.local/ns/shop/sa/payments"
)

func req(src, dst, app, method, path string) *policy.Request {
	return &policy.Request{SourcePrincipal: src, Destination: dst, DestinationLabels: map[string]string{"app": app}, Method: method, Path: path}
}

// The generated policies allow exactly what was observed: every observed
// request again, and not a new edge, a new method or a new path.
func TestLearnedPoliciesAllowObservedOnly(t *testing.T) {
	l := New()
	observed := []*policy.Request{
		req(frontend, orders, "orders", "GET", "/orders/42"),
		req(frontend, orders, "orders", "GET", "/orders/43?x=1"),
		req(frontend, orders, "orders", "GET", "/orders"),
		req(checkout, orders, "orders", "POST", "/orders"),
		req(checkout, payments, "payments", "POST", "/v1/charges/9f1c2a4e-1b2c-4d3e-8f90-0123456789ab/capture"),
	}
	for _, r := range observed {
		l.Observe(r)
	}
	l.Observe(req("", orders, "orders", "GET", "/orders")) // plaintext: not learned
	yaml, err := l.Policies()
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.Parse("learned.yaml", yaml)
	if err != nil {
		t.Fatalf("generated policies do not load: %v\n%s", err, yaml)
	}
	if set.Policies() != 2 || set.Len() != 3 {
		t.Fatalf("%d policies, %d rules, want 2 and 3:\n%s", set.Policies(), set.Len(), yaml)
	}
	for _, r := range observed {
		if res := set.Evaluate(r); !res.Allow {
			t.Errorf("observed %s %s %s is denied: %s", r.SourcePrincipal, r.Method, r.Path, res.Reason)
		}
	}
	if !set.Evaluate(req(frontend, orders, "orders", "GET", "/orders/7")).Allow {
		t.Error("a generalised ID path is denied")
	}
	for _, r := range []*policy.Request{
		req(frontend, payments, "payments", "POST", "/v1/charges/1/capture"), // new edge
		req(frontend, orders, "orders", "DELETE", "/orders/42"),              // new method
		req(frontend, orders, "orders", "GET", "/admin"),                     // new path
		req(checkout, orders, "orders", "GET", "/orders"),                    // a method the source never used
		req("", orders, "orders", "GET", "/orders"),                          // plaintext
	} {
		if res := set.Evaluate(r); res.Allow {
			t.Errorf("unobserved %s %s %s %s is allowed by %s", r.SourcePrincipal, r.Method, r.Destination, r.Path, res.Rule.Name())
		}
	}
	if w, e, d := l.Stats(); w != 2 || e != 3 || d != 0 {
		t.Fatalf("stats %d %d %d", w, e, d)
	}
	if !strings.Contains(string(yaml), "/orders/{*}") {
		t.Fatalf("no generalised path in:\n%s", yaml)
	}
}

func TestWritablePath(t *testing.T) {
	for in, want := range map[string]string{
		"/a/12/b":     "/a/{*}/b",
		"/a//12":      "/a//12", // an empty segment is no template literal: kept exact
		"/a b/12?q=1": "/a b/12",
		"/a/*/12":     "", // no policy can name it: not learned
		"/x/{y}":      "",
	} {
		got, ok := writablePath(in)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("writablePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGeneralise(t *testing.T) {
	for in, want := range map[string]string{
		"/a/12/b?q=1":         "/a/{*}/b",
		"/a/deadbeefcafe1234": "/a/{*}",
		"/a/v1/b":             "/a/v1/b",
		"/":                   "/",
	} {
		if got := generalise(in); got != want {
			t.Errorf("generalise(%q) = %q, want %q", in, got, want)
		}
	}
}

// A caller that sends paths no policy can name (a '*' or braces inside)
// gets neither an unloadable learned policy nor a wildcard from them.
func TestUnwritablePathsAreNotLearned(t *testing.T) {
	l := New()
	l.Observe(req(frontend, orders, "orders", "GET", "/a/7"))
	l.Observe(req(frontend, orders, "orders", "GET", "/admin/*/42"))
	l.Observe(req(frontend, orders, "orders", "GET", "/x/{y}/1"))
	l.Observe(req(checkout, orders, "orders", "GET", "/only/*/weird"))
	yaml, err := l.Policies()
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.Parse("learned.yaml", yaml)
	if err != nil {
		t.Fatalf("generated policies do not load: %v\n%s", err, yaml)
	}
	if !set.Evaluate(req(frontend, orders, "orders", "GET", "/a/8")).Allow {
		t.Error("the writable path is denied")
	}
	for _, r := range []*policy.Request{
		req(frontend, orders, "orders", "GET", "/admin/*/42"),
		req(frontend, orders, "orders", "GET", "/admin/x/42"),
		req(frontend, orders, "orders", "GET", "/x/{y}/1"),
		req(checkout, orders, "orders", "GET", "/only/*/weird"),
		req(checkout, orders, "orders", "GET", "/anything"), // nothing writable learned: no rule at all
	} {
		if res := set.Evaluate(r); res.Allow {
			t.Errorf("%s %s is allowed by %s", r.SourcePrincipal, r.Path, res.Rule.Name())
		}
	}
}
