package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/xds/catalog"
)

func TestAdminRotate(t *testing.T) {
	cat, err := catalog.Parse("c", []byte("services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1000}]\n    ports: [2000]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(context.Background(), Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	base := "http://" + r.AdminAddr.String()
	tests := []struct {
		name, query string
		code        int
		want        string
	}{
		{"unknown service", "service=payments", 400, `no service "payments"`},
		{"bad port", "service=orders&port=70000", 400, `port "70000": want 1-65535`},
		{"zero port", "service=orders&port=0", 400, "want 1-65535"},
		{"pool", "service=orders", 200, `"orders":["127.0.0.1:2000"]`},
		{"explicit port", "service=orders&port=3000", 200, `"orders":["127.0.0.1:3000"]`},
	}
	for _, tc := range tests {
		resp, err := http.Post(base+"/rotate?"+tc.query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Fatalf("%s: %d %s, want %d containing %s", tc.name, resp.StatusCode, b, tc.code, tc.want)
		}
	}
	resp, err := http.Get(base + "/placement")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p placementJSON
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 || p.Endpoints["orders"][0] != "127.0.0.1:3000" {
		t.Fatalf("placement %+v, want version 3 on port 3000 (failed moves change nothing)", p)
	}
	if resp, _ := http.Get(base + "/rotate"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /rotate: %d", resp.StatusCode)
	}
}
