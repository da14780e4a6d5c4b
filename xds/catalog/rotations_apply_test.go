package catalog

import (
	"strings"
	"testing"
	"time"
)

const shopCatalog = `services:
  - name: orders
    identity: spiffe://cluster.local/ns/shop/sa/orders
    endpoints: [{address: 127.0.0.1, port: 1000}]
    ports: [1500]
    rotation: {every: 1h}
  - name: payments
    identity: spiffe://cluster.local/ns/shop/sa/payments
    endpoints: [{address: 127.0.0.2, port: 2000}, {address: 127.0.0.3, port: 2000}]
  - name: ledger
    identity: spiffe://cluster.local/ns/bank/sa/ledger
    endpoints: [{address: 127.0.0.4, port: 3000}]
  - name: legacy
    endpoints: [{address: 127.0.0.5, port: 4000}]
`

func shop(t *testing.T) *Catalog {
	t.Helper()
	c, err := Parse("c.yaml", []byte(shopCatalog))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rotations(t *testing.T, docs ...string) []Rotation {
	t.Helper()
	rs, err := ParseRotations("r.yaml", []byte(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// rotNS is a MeshwardRotation named name in namespace ns (none if empty),
// its spec starting at its fifth line.
func rotNS(ns, name, spec string) string {
	meta := "metadata: {name: " + name + "}\n"
	if ns != "" {
		meta = "metadata: {name: " + name + ", namespace: " + ns + "}\n"
	}
	return "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\n" + meta + "spec:\n" + spec
}

// A rotation replaces its service's pools and schedule in a new catalog;
// the catalog as loaded stays as it was, so a reload starts from it again.
func TestWithRotations(t *testing.T) {
	base := shop(t)
	rs := rotations(t,
		rotNS("shop", "orders", "  service: orders\n  portRange: {from: 20000, to: 20009}\n  every: 10m\n"),
		rotNS("shop", "payments", "  service: payments\n  ports: [2001]\n  addresses: [127.0.0.12, 127.0.0.13]\n"),
		rotNS("", "legacy", "  service: legacy\n  ports: [4001]\n"))
	c, err := base.WithRotations(rs)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := c.Lookup("orders")
	if len(o.Ports) != 0 || o.PortRange.From != 20000 || o.Rotation.Every != 10*time.Minute || o.Endpoints[0].Port != 1000 {
		t.Fatalf("orders %+v", o)
	}
	if p, _ := c.Lookup("payments"); p.Rotation != nil || !p.InAddressPool("127.0.0.13") || !p.InPool(2001) {
		t.Fatalf("payments %+v", p)
	}
	for _, tc := range []struct {
		c           *Catalog
		addr        string
		port        uint32
		want        string
		whatItMeans string
	}{
		{c, "127.0.0.1", 20005, "orders", "the rotation's range"},
		{c, "127.0.0.1", 1500, "", "the catalog's pool port, replaced"},
		{c, "127.0.0.13", 2001, "payments", "the rotation's address pool"},
		{c, "127.0.0.5", 4001, "legacy", "a rotation without a namespace, for a service without one"},
		{base, "127.0.0.1", 1500, "orders", "the base catalog, untouched"},
		{base, "127.0.0.1", 20005, "", "the base catalog, untouched"},
	} {
		if got, _ := tc.c.Owner(tc.addr, tc.port); got != tc.want {
			t.Errorf("%s: Owner(%s, %d) = %q, want %q", tc.whatItMeans, tc.addr, tc.port, got, tc.want)
		}
	}
	if o, _ := base.Lookup("orders"); o.Rotation.Every != time.Hour || o.PortRange != nil {
		t.Fatalf("the base catalog changed: %+v", o)
	}
	rs[0].PortRange.To, rs[1].Addresses[0] = 30000, "127.0.0.1"
	if o, _ := c.Lookup("orders"); o.PortRange.To != 20009 || c.Services[1].Addresses[0] != "127.0.0.12" {
		t.Fatal("the new catalog shares memory with the rotations it was made from")
	}
	again, err := base.WithRotations(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := again.Owner("127.0.0.1", 1500); got != "orders" {
		t.Fatal("without rotations the catalog's own pools are back")
	}
}

// Every refusal names where the rotation was written, and the catalog's
// file:line or the other rotation's it conflicts with. Nothing is applied.
func TestWithRotationsErrors(t *testing.T) {
	tests := []struct {
		name string
		docs []string
		want []string
	}{
		{"unknown service", []string{rotNS("shop", "r", "  service: ordrs\n  ports: [1500]\n")},
			[]string{`r.yaml:1: MeshwardRotation shop/r: service "ordrs" is not in the catalog c.yaml`}},
		{"one name twice", []string{rotNS("shop", "r", "  service: orders\n  ports: [1501]\n"), rotNS("shop", "r", "  service: payments\n  ports: [2001]\n")},
			[]string{`r.yaml:8: MeshwardRotation shop/r is already defined at r.yaml:1`}},
		{"two for one service", []string{rotNS("shop", "r", "  service: orders\n  ports: [1501]\n"), rotNS("shop", "r2", "  service: orders\n  ports: [1502]\n")},
			[]string{`r.yaml:8: MeshwardRotation shop/r2: service "orders" is already moved by MeshwardRotation shop/r (r.yaml:1)`}},
		// The attack: whoever may write rotations in shop reaches for bank's
		// service (to make it move without end, or never).
		{"another namespace's service", []string{rotNS("shop", "r", "  service: ledger\n  ports: [3001]\n")},
			[]string{`r.yaml:1: MeshwardRotation shop/r: service "ledger" (c.yaml:10) is of namespace "bank": a rotation moves only services of its own namespace`}},
		{"a service of no namespace", []string{rotNS("shop", "r", "  service: legacy\n  ports: [4001]\n")},
			[]string{`r.yaml:1: MeshwardRotation shop/r: service "legacy" (c.yaml:13) is of namespace ""`}},
		{"no namespace for a namespaced service", []string{rotNS("", "r", "  service: orders\n  ports: [1501]\n")},
			[]string{`r.yaml:1: MeshwardRotation r: service "orders" (c.yaml:2) is of namespace "shop"`}},
		{"address pool smaller than the endpoints", []string{rotNS("shop", "r", "  service: payments\n  addresses: [127.0.0.12]\n")},
			[]string{`r.yaml:1: MeshwardRotation shop/r: service "payments": 1 pool addresses for 2 endpoints`}},
		// The attack: a pool that reaches another service's socket, so that
		// a move would send one service's clients to the other.
		{"a pool on another service's endpoint", []string{rotNS("shop", "r", "  service: orders\n  portRange: {from: 1999, to: 2001}\n  addresses: [127.0.0.2]\n")},
			[]string{`c.yaml:7: service "payments" may be on 127.0.0.2:2000, which service "orders" (r.yaml:1) may also hold`}},
		{"pools of two rotations", []string{rotNS("shop", "r", "  service: orders\n  ports: [6000]\n  addresses: [127.0.0.20]\n"),
			rotNS("shop", "r2", "  service: payments\n  ports: [6000]\n  addresses: [127.0.0.21, 127.0.0.20]\n")},
			[]string{`r.yaml:9: service "payments" may be on 127.0.0.20:6000, which service "orders" (r.yaml:1) may also hold`}},
		{"every error at once", []string{rotNS("shop", "r", "  service: ordrs\n  ports: [1500]\n"), rotNS("shop", "r2", "  service: ledger\n  ports: [3001]\n")},
			[]string{`r.yaml:1: MeshwardRotation shop/r: service "ordrs"`, `r.yaml:8: MeshwardRotation shop/r2: service "ledger"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := shop(t).WithRotations(rotations(t, tc.docs...))
			if err == nil || c != nil {
				t.Fatalf("accepted: %v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant %s", err, w)
				}
			}
		})
	}
}

// The example manifest applies to a shop catalog.
func TestExampleRotations(t *testing.T) {
	rs, err := LoadRotations("../../manifests/rotations/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := shop(t).WithRotations(rs)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Owner("10.20.0.12", 21002); got != "payments" || len(rs) != 2 {
		t.Fatalf("owner of the example's pool: %q (%d rotations)", got, len(rs))
	}
}
