package rotation

import (
	"strings"
	"testing"

	"github.com/meshward/meshward/xds/catalog"
)

func testCatalog(t *testing.T) *catalog.Catalog {
	c, err := catalog.Parse("c.yaml", []byte(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}, {address: 127.0.0.2, port: 1000}]
    ports: [1000, 2000, 3000]
  - name: fixed
    endpoints: [{address: 127.0.0.1, port: 5}]
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRotate(t *testing.T) {
	p := New(testCatalog(t))
	first := p.Current()
	var ports []uint32
	for i := 0; i < 4; i++ {
		pl, err := p.Rotate("orders")
		if err != nil {
			t.Fatal(err)
		}
		eps := pl.Endpoints("orders")
		if eps[0].Address != "127.0.0.1" || eps[1].Address != "127.0.0.2" || eps[0].Port != eps[1].Port {
			t.Fatalf("rotation changed addresses or split ports: %v", eps)
		}
		ports = append(ports, eps[0].Port)
	}
	if got := ports; got[0] != 2000 || got[1] != 3000 || got[2] != 1000 || got[3] != 2000 {
		t.Fatalf("ports %v, want 2000 3000 1000 2000 (never the current one)", got)
	}
	if first.Endpoints("orders")[0].Port != 1000 || first.Version != 1 || p.Current().Version != 5 {
		t.Fatalf("an old placement changed, or versions are off: %v v%d, now v%d", first.Endpoints("orders"), first.Version, p.Current().Version)
	}
	if p.Current().Endpoints("fixed")[0].Port != 5 {
		t.Fatal("rotating orders moved another service")
	}
}

func TestErrors(t *testing.T) {
	p := New(testCatalog(t))
	for _, tc := range []struct {
		name string
		f    func() error
		want string
	}{
		{"unknown service", func() error { _, err := p.Move("nope", 1); return err }, `no service "nope"`},
		{"bad port", func() error { _, err := p.Move("orders", 0); return err }, "port 0 out of range"},
		{"empty pool", func() error { _, err := p.Rotate("fixed"); return err }, "no port to rotate to"},
		{"unknown rotate", func() error { _, err := p.Rotate("nope"); return err }, `no service "nope"`},
	} {
		if err := tc.f(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	if p.Current().Version != 1 {
		t.Fatal("a failed change bumped the version")
	}
}
