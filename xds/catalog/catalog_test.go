package catalog

import (
	"strings"
	"testing"
)

const good = `
services:
  - name: orders
    endpoints:
      - address: 127.0.0.1
        port: 50051
    ports: [50052, 50053]
`

func TestParse(t *testing.T) {
	c, err := Parse("c.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := c.Lookup("orders")
	if !ok || s.Endpoints[0].String() != "127.0.0.1:50051" || len(s.Ports) != 2 || s.Line != 3 {
		t.Fatalf("got %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", ``, "c.yaml: empty catalog"},
		{"no services", `services: []`, "c.yaml: no services"},
		{"top-level typo", `servics: []`, "field servics not found"},
		{"bad name", "services:\n  - name: Orders_1\n    endpoints: [{address: 127.0.0.1, port: 1}]\n", `c.yaml:2: service name "Orders_1"`},
		{"no endpoints", "services:\n  - name: a\n", `c.yaml:2: service "a" has no endpoints`},
		{"bad address", "services:\n  - name: a\n    endpoints: [{address: orders.local, port: 1}]\n", `endpoint 0: address "orders.local" is not an IP`},
		{"bad port", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 70000}]\n", "port 70000 out of range"},
		{"bad pool port", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    ports: [0]\n", "port 0 out of range"},
		{"unknown field", "services:\n  - name: a\n    endpoint: []\n", `c.yaml:2: line 3: unknown field "endpoint" (want endpoints, name, ports)`},
		{"unknown endpoint field", "services:\n  - name: a\n    endpoints:\n      - {address: 127.0.0.1, prot: 1}\n", `c.yaml:2: line 4: unknown field "prot" (want address, port)`},
		{"duplicate", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 2}]\n", `c.yaml:4: service "a" is already defined at line 2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("services:\n  - name: a\n    endpoints: [{address: '::1', port: 1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		for _, s := range c.Services {
			if len(s.Endpoints) == 0 || !nameRE.MatchString(s.Name) {
				t.Fatalf("accepted invalid service %+v", s)
			}
		}
	})
}
