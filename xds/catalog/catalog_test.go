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
		{"pool port on another's endpoint", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n  - name: b\n    endpoints: [{address: 127.0.0.1, port: 2}]\n    ports: [1]\n", `c.yaml:4: service "b" may be on 127.0.0.1:1, which service "a" (line 2) may also hold`},
		{"shared pool port", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    ports: [9]\n  - name: b\n    endpoints: [{address: 127.0.0.1, port: 2}]\n    ports: [9]\n", `c.yaml:5: service "b" may be on 127.0.0.1:9`},
		{"mapped address", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n  - name: b\n    endpoints: [{address: '::ffff:127.0.0.1', port: 1}]\n", `service "b" may be on 127.0.0.1:1`},
		{"too many sockets", "services:\n  - name: a\n    endpoints: [" + strings.Repeat("{address: 127.0.0.1, port: 1},", 300) + "]\n    ports: [" + strings.Repeat("2,", 4000) + "]\n", "more than 1048576 address:port pairs"},
		{"pool too large", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    ports: [" + strings.Repeat("2,", 4097) + "]\n", "4097 pool ports, want at most 4096"},
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

// Services on different addresses may use the same port numbers; Owner
// names who may hold an address:port.
func TestOwner(t *testing.T) {
	c, err := Parse("c.yaml", []byte(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}]
    ports: [2000]
  - name: payments
    endpoints: [{address: 127.0.0.2, port: 1000}]
    ports: [2000, 3000]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		port uint32
		want string
	}{
		{"127.0.0.1", 1000, "orders"}, {"127.0.0.1", 2000, "orders"}, {"127.0.0.2", 2000, "payments"},
		{"::ffff:127.0.0.2", 3000, "payments"}, {"127.0.0.1", 3000, ""}, {"not an address", 1000, ""},
	} {
		if got, _ := c.Owner(tc.addr, tc.port); got != tc.want {
			t.Errorf("Owner(%s, %d) = %q, want %q", tc.addr, tc.port, got, tc.want)
		}
	}
	if s, _ := c.Lookup("payments"); !s.InPool(3000) || s.InPool(1000) {
		t.Error("InPool: want the pool ports only")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("services:\n  - name: a\n    endpoints: [{address: '::1', port: 1}]\n"))
	f.Add([]byte("services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    ports: [2]\n  - name: b\n    endpoints: [{address: 127.0.0.2, port: 2}]\n    ports: [1]\n"))
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
			for _, e := range s.Endpoints {
				for _, p := range append([]uint32{e.Port}, s.Ports...) {
					if o, _ := c.Owner(e.Address, p); o != s.Name {
						t.Fatalf("%s:%d of %q is owned by %q", e.Address, p, s.Name, o)
					}
				}
			}
		}
	})
}
