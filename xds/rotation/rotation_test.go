package rotation

import (
	"errors"
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

// The attacks of the review: moving a service to a port nobody gave it
// (port 1 broke every client) or to another service's port (it sent orders'
// clients to that service). Both are refused and change nothing.
func TestMoveRefusals(t *testing.T) {
	p := New(testCatalog(t))
	for _, tc := range []struct {
		name    string
		f       func() error
		is      error
		message string
	}{
		{"unknown service", func() error { _, err := p.Move("nope", 1000); return err }, ErrUnknownService, `"nope"`},
		{"port 0", func() error { _, err := p.Move("orders", 0); return err }, ErrOutsidePool, "may move to [1000 2000 3000], not to 0"},
		{"port 1", func() error { _, err := p.Move("orders", 1); return err }, ErrOutsidePool, "not to 1"},
		{"port past 65535", func() error { _, err := p.Move("orders", 70000); return err }, ErrOutsidePool, "not to 70000"},
		{"another service's port", func() error { _, err := p.Move("orders", 5); return err }, ErrOtherService, `127.0.0.1:5 is service "fixed"'s`},
		{"fixed onto orders' port", func() error { _, err := p.Move("fixed", 1000); return err }, ErrOtherService, `service "orders"'s`},
		{"empty pool", func() error { _, err := p.Rotate("fixed"); return err }, ErrNoPort, "fixed"},
		{"unknown rotate", func() error { _, err := p.Rotate("nope"); return err }, ErrUnknownService, `"nope"`},
	} {
		err := tc.f()
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: err %v, want %v saying %q", tc.name, err, tc.is, tc.message)
		}
	}
	if now := p.Current(); now.Version != 1 || now.Endpoints("orders")[0].Port != 1000 || now.Endpoints("fixed")[0].Port != 5 {
		t.Fatalf("a refused move changed the placement: v%d %v %v", now.Version, now.Endpoints("orders"), now.Endpoints("fixed"))
	}
	if pl, err := p.Move("orders", 3000); err != nil || pl.Endpoints("orders")[1].Port != 3000 || pl.Version != 2 {
		t.Fatalf("a pool port: %v %v", pl, err)
	}
}
