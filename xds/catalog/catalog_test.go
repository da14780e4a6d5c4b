package catalog

import (
	"strings"
	"testing"
	"time"
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
		{"unknown field", "services:\n  - name: a\n    endpoint: []\n", `c.yaml:2: line 3: unknown field "endpoint" (want addresses, endpoints, hosts, identity, labels, name, namespace, port, portRange, ports, rotation)`},
		{"unknown endpoint field", "services:\n  - name: a\n    endpoints:\n      - {address: 127.0.0.1, prot: 1}\n", `c.yaml:2: line 4: unknown field "prot" (want address, port)`},
		{"pool port on another's endpoint", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n  - name: b\n    endpoints: [{address: 127.0.0.1, port: 2}]\n    ports: [1]\n", `c.yaml:4: service "b" may be on 127.0.0.1:1, which service "a" (c.yaml:2) may also hold`},
		{"shared pool port", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    ports: [9]\n  - name: b\n    endpoints: [{address: 127.0.0.1, port: 2}]\n    ports: [9]\n", `c.yaml:5: service "b" may be on 127.0.0.1:9`},
		{"mapped address", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n  - name: b\n    endpoints: [{address: '::ffff:127.0.0.1', port: 1}]\n", `service "b" may be on 127.0.0.1:1`},
		{"range overlaps a port", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    portRange: {from: 100, to: 200}\n  - name: b\n    endpoints: [{address: 127.0.0.1, port: 150}]\n", `c.yaml:5: service "b" may be on 127.0.0.1:150, which service "a" (c.yaml:2) may also hold`},
		{"ranges overlap", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    portRange: {from: 100, to: 200}\n  - name: b\n    endpoints: [{address: 127.0.0.1, port: 2}]\n    portRange: {from: 200, to: 300}\n", `service "b" may be on 127.0.0.1:200`},
		{"address pools overlap", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    addresses: [127.0.0.9]\n    ports: [5]\n  - name: b\n    endpoints: [{address: 127.0.0.2, port: 5}]\n    addresses: [127.0.0.9]\n", `service "b" may be on 127.0.0.9:5`},
		{"pool address is another's endpoint", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n  - name: b\n    endpoints: [{address: 127.0.0.2, port: 1}]\n    addresses: [127.0.0.1]\n", `service "b" may be on 127.0.0.1:1`},
		{"bad range", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    portRange: {from: 300, to: 200}\n", "portRange 300-200"},
		{"range past 65535", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    portRange: {from: 300, to: 70000}\n", "portRange 300-70000"},
		{"bad pool address", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    addresses: [localhost]\n", `pool address 0: address "localhost" is not an IP`},
		{"pool address twice", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    addresses: [127.0.0.5, '::ffff:127.0.0.5']\n", "listed twice"},
		{"pool smaller than endpoints", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}, {address: 127.0.0.2, port: 1}]\n    addresses: [127.0.0.5]\n", "1 pool addresses for 2 endpoints"},
		{"bad identity", "services:\n  - name: a\n    identity: orders\n    endpoints: [{address: 127.0.0.1, port: 1}]\n", `identity "orders": want spiffe://`},
		{"namespace against identity", "services:\n  - name: a\n    identity: spiffe://cluster.local/ns/shop/sa/a\n    namespace: bank\n    endpoints: [{address: 127.0.0.1, port: 1}]\n", `namespace "bank", but the identity's is "shop"`},
		{"every too short", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    rotation: {every: 10ms}\n", `service "a" rotation: every 10ms`},
		{"jitter too large", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    rotation: {every: 10s, jitter: 10s}\n", "jitter 10s"},
		{"bad duration", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    rotation: {every: soon}\n", "c.yaml:2"},
		{"bad blackout", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    rotation: {every: 10s, blackouts: ['25:00-01:00']}\n", `blackout "25:00-01:00"`},
		{"bad host", "services:\n  - name: a\n    hosts: ['a b']\n    endpoints: [{address: 127.0.0.1, port: 1}]\n", `host "a b"`},
		{"service port out of range", "services:\n  - name: a\n    port: 70000\n    endpoints: [{address: 127.0.0.1, port: 1}]\n", "port 70000 out of range"},
		{"deadline before ack timeout", "services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    rotation: {every: 10s, ackTimeout: 9s, hardDeadline: 2s}\n", "hardDeadline 2s is before ackTimeout 9s"},
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

// Ranges, address pools and schedules: what a rotation may draw from.
func TestPoolsAndSchedule(t *testing.T) {
	c, err := Parse("c.yaml", []byte(`
services:
  - name: orders
    identity: spiffe://cluster.local/ns/shop/sa/orders
    labels: {app: orders}
    endpoints: [{address: 127.0.0.1, port: 1000}, {address: 127.0.0.2, port: 1000}]
    ports: [1500]
    portRange: {from: 2000, to: 2009}
    addresses: [127.0.0.11, 127.0.0.12, 127.0.0.13]
    rotation:
      every: 60s
      jitter: 10s
      maxPerHour: 30
      blackouts: ["23:30-00:30", "12:00-12:05"]
  - name: payments
    endpoints: [{address: 127.0.0.11, port: 3000}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.Lookup("orders")
	if s.Port != 1000 || len(s.Hosts) != 1 || s.Hosts[0] != "orders" {
		t.Fatalf("defaults: port %d, hosts %v", s.Port, s.Hosts)
	}
	if s.Namespace != "shop" || s.PoolPorts() != 11 || s.PoolPort(0) != 1500 || s.PoolPort(10) != 2009 {
		t.Fatalf("namespace %q, %d pool ports, first %d, last %d", s.Namespace, s.PoolPorts(), s.PoolPort(0), s.PoolPort(10))
	}
	for _, tc := range []struct {
		port uint32
		in   bool
	}{{1500, true}, {2000, true}, {2009, true}, {2010, false}, {1000, false}, {1999, false}} {
		if s.InPool(tc.port) != tc.in {
			t.Errorf("InPool(%d) = %v", tc.port, !tc.in)
		}
	}
	if !s.InAddressPool("127.0.0.12") || s.InAddressPool("127.0.0.1") || s.InAddressPool("x") {
		t.Error("InAddressPool: want the pool addresses only")
	}
	for _, tc := range []struct {
		addr string
		port uint32
		want string
	}{{"127.0.0.13", 2005, "orders"}, {"127.0.0.11", 3000, "payments"}, {"127.0.0.11", 1500, "orders"}, {"127.0.0.13", 3000, ""}} {
		if got, _ := c.Owner(tc.addr, tc.port); got != tc.want {
			t.Errorf("Owner(%s, %d) = %q, want %q", tc.addr, tc.port, got, tc.want)
		}
	}
	r := s.Rotation
	if r.Every != time.Minute || r.Jitter != 10*time.Second || r.MaxPerHour != 30 || r.Grace != DefaultGrace || r.HardDeadline != DefaultHardDeadline {
		t.Fatalf("schedule %+v", r)
	}
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Duration
		dark bool
	}{{23*time.Hour + 45*time.Minute, true}, {15 * time.Minute, true}, {30 * time.Minute, false}, {12*time.Hour + 4*time.Minute, true}, {12*time.Hour + 5*time.Minute, false}, {6 * time.Hour, false}} {
		if r.InBlackout(day.Add(tc.at)) != tc.dark {
			t.Errorf("at %v: blackout %v, want %v", tc.at, !tc.dark, tc.dark)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("services:\n  - name: a\n    endpoints: [{address: '::1', port: 1}]\n"))
	f.Add([]byte("services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    ports: [2]\n  - name: b\n    endpoints: [{address: 127.0.0.2, port: 2}]\n    ports: [1]\n"))
	f.Add([]byte("services:\n  - name: a\n    endpoints: [{address: 127.0.0.1, port: 1}]\n    portRange: {from: 5, to: 9}\n    addresses: [127.0.0.3]\n    rotation: {every: 2s, blackouts: ['01:00-02:00']}\n"))
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
			addrs := s.Addresses
			for _, e := range s.Endpoints {
				addrs = append(addrs, e.Address)
			}
			for _, a := range addrs {
				for _, p := range append([]uint32{s.Endpoints[0].Port}, s.Ports...) {
					if o, _ := c.Owner(a, p); o != s.Name {
						t.Fatalf("%s:%d of %q is owned by %q", a, p, s.Name, o)
					}
				}
			}
		}
	})
}
