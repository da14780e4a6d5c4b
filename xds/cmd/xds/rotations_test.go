package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// --rotations: the files are read and applied to the catalog at start; a
// bad one stops the server with its file:line.
func TestConfigRotations(t *testing.T) {
	dir := t.TempDir()
	const head = "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata: {name: orders, namespace: shop}\nspec:\n"
	f := flags{catalog: write(t, dir, "c.yaml", "services:\n  - name: orders\n    identity: spiffe://cluster.local/ns/shop/sa/orders\n"+
		"    endpoints: [{address: 127.0.0.1, port: 1}]\n    ports: [2]\n"),
		adminToken: write(t, dir, "token", "0123456789abcdef0123\n")}
	f.rotations = []string{write(t, dir, "r.yaml", head+"  service: orders\n  ports: [3]\n  every: 1m\n")}
	cfg, err := config(f)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cfg.Catalog.Lookup("orders")
	if !s.InPool(3) || s.InPool(2) || s.Rotation == nil {
		t.Fatalf("orders %+v: want the rotation's pool and schedule", s)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"bad.yaml", head + "  service: orders\n  ports: [0]\n", "bad.yaml:6: spec.ports[0]: port 0 out of range"},
		{"other.yaml", head + "  service: payments\n  ports: [3]\n", `other.yaml:1: MeshwardRotation shop/orders: service "payments" is not in the catalog`},
	} {
		f.rotations = []string{filepath.Join(dir, "r.yaml"), write(t, dir, tc.name, tc.doc)}
		if _, err := config(f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
