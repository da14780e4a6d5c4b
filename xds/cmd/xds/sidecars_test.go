package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The template shipped in manifests/ loads, and the flag reaches the
// server's configuration.
func TestSidecarsTemplate(t *testing.T) {
	dir := t.TempDir()
	f := flags{catalog: write(t, dir, "c.yaml", "services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1}]\n"),
		adminToken: write(t, dir, "token", "0123456789abcdef0123\n"), sidecars: "../../../manifests/xds/sidecars.yaml"}
	cfg, err := config(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sidecars == nil || cfg.Sidecars.Filter.Code.File != "/etc/meshward/meshward-filter.wasm" || cfg.Sidecars.TLS.SDS == nil {
		t.Fatalf("sidecars template %+v", cfg.Sidecars)
	}
	raw, err := cfg.Sidecars.PluginConfig("spiffe://cluster.local/ns/shop/sa/orders", map[string]string{"app": "orders"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		Destination string            `json:"destination"`
		Labels      map[string]string `json:"destination_labels"`
	}
	if err := json.Unmarshal([]byte(raw), &pc); err != nil || pc.Destination != "spiffe://cluster.local/ns/shop/sa/orders" || pc.Labels["app"] != "orders" {
		t.Fatalf("plugin config %s (%v)", raw, err)
	}

	f.sidecars = write(t, dir, "bad.yaml", "filter:\n  vmID: meshward\n  fle: /x.wasm\n")
	if _, err := config(f); err == nil || !strings.Contains(err.Error(), "bad.yaml: yaml: unmarshal errors:\n  line 3: field fle not found") {
		t.Fatalf("a misspelt template key: %v", err)
	}
}
