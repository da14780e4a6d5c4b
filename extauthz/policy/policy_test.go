package policy

import (
	"strings"
	"testing"
)

const (
	frontend = "spiffe://cluster.local/ns/shop/sa/frontend"
	orders   = "spiffe://cluster.local/ns/shop/sa/orders"
	payments = "spiffe://cluster.local/ns/shop/sa/payments"
)

const testPolicy = `
rules:
  - name: frontend-reads-orders
    source: ` + frontend + `
    destination: ` + orders + `
    methods: [get, HEAD]
    paths: ["/orders", "/orders/*"]
  - name: orders-charges-payments
    source: ` + orders + `
    destination: ` + payments + `
    methods: [POST]
    paths: ["*/charge"]
  - name: anyone-health
    source: "*"
    destination: "*"
    paths: ["/healthz"]
`

func TestAllowing(t *testing.T) {
	set, err := Parse("test.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  Request
		want string // rule name, "" for deny
	}{
		{"exact path", Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders"}, "frontend-reads-orders"},
		{"prefix path", Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/42?x=1"}, "frontend-reads-orders"},
		{"method lower case", Request{SourcePrincipal: frontend, Destination: orders, Method: "head", Path: "/orders"}, "frontend-reads-orders"},
		{"wrong method", Request{SourcePrincipal: frontend, Destination: orders, Method: "DELETE", Path: "/orders/42"}, ""},
		{"path outside prefix", Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/admin"}, ""},
		{"prefix needs the slash", Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/ordersX"}, ""},
		{"wrong source", Request{SourcePrincipal: payments, Destination: orders, Method: "GET", Path: "/orders"}, ""},
		{"suffix path", Request{SourcePrincipal: orders, Destination: payments, Method: "POST", Path: "/v1/charge"}, "orders-charges-payments"},
		{"lateral hop", Request{SourcePrincipal: frontend, Destination: payments, Method: "POST", Path: "/v1/charge"}, ""},
		{"wildcard rule", Request{SourcePrincipal: payments, Destination: frontend, Method: "GET", Path: "/healthz"}, "anyone-health"},
		{"unauthenticated never matches *", Request{Destination: frontend, Method: "GET", Path: "/healthz"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := set.Allowing(tc.req)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Fatalf("Allowing = %q, want %q", name, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "p.yaml: empty policy file"},
		{"unknown field", "rules:\n  - name: a\n    source: x\n    destination: y\n    verbs: [GET]\n", "p.yaml:2: line 5: unknown field \"verbs\" (want destination, methods, name, paths, source)"},
		{"no name", "rules:\n  - source: x\n    destination: y\n", "p.yaml:2: rule has no \"name\""},
		{"no source", "rules:\n  - name: a\n    destination: y\n", "p.yaml:2: rule \"a\" has no \"source\""},
		{"no destination", "rules:\n  - name: a\n    source: x\n", "p.yaml:2: rule \"a\" has no \"destination\""},
		{"bad method", "rules:\n  - name: a\n    source: x\n    destination: y\n    methods: [FETCH]\n", "p.yaml:2: rule \"a\": unknown method \"FETCH\""},
		{"star in middle", "rules:\n  - name: a\n    source: x\n    destination: y\n    paths: [\"/a/*/b\"]\n", "p.yaml:2: rule \"a\": path \"/a/*/b\""},
		{"relative path", "rules:\n  - name: a\n    source: x\n    destination: y\n    paths: [\"a\"]\n", "must start with '/'"},
		{"duplicate name", "rules:\n  - name: a\n    source: x\n    destination: y\n  - name: a\n    source: x\n    destination: z\n", "p.yaml:5: rule name \"a\" is already used at line 2"},
		{"not yaml", "rules: [", "p.yaml: yaml:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(testPolicy))
	f.Add([]byte("rules:\n  - name: a\n    source: '*'\n    destination: '*'\n    paths: ['*']\n"))
	f.Add([]byte("rules: [{name: a}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		// A loaded set must answer without panicking and never allow the unauthenticated.
		if rl := set.Allowing(Request{Destination: "d", Method: "GET", Path: "/"}); rl != nil {
			t.Fatalf("rule %q allows an unauthenticated source", rl.Name)
		}
	})
}
