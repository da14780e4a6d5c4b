package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/e2e/system"
)

// Issue 8, finding 2, against the whole system: the compromised catalog
// workload, with its own valid mesh certificate, reaches the authorizer's
// check port directly and forges checks. None is answered about another
// workload, none counts, and orders' real sidecar is still answered.
func TestForgedChecksFromInsideTheMesh(t *testing.T) {
	ctx := context.Background()
	s, err := system.Start(ctx, system.Options{WasmPath: wasmPath(t), CacheDir: cacheDir(t), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forge := func(req check.Request) check.Response {
		t.Helper()
		out, err := s.ForgeCheck(ctx, system.Catalog, req)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The oracle: may the frontend GET /orders/42 on orders?
	if d := forge(check.Request{SourcePrincipal: system.Frontend, Destination: system.Orders, Method: "GET", Path: "/orders/42",
		DestinationLabels: map[string]string{"app": "orders"}}); d.Allow || d.Rule != "" || d.Reason != "caller-not-destination" {
		t.Fatalf("the policy oracle answered %+v", d)
	}
	// Fan-out in the frontend's name, to frame it.
	for i := 0; i < 12; i++ {
		if d := forge(check.Request{SourcePrincipal: system.Frontend, Method: "GET", Path: "/",
			Destination: fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc-%d", i)}); d.Allow || d.Reason != "caller-not-destination" {
			t.Fatalf("forged check %d: %+v", i, d)
		}
	}
	// Orders' own sidecar, over mutual TLS with orders' certificate, is
	// answered (the filter denies when it gets no answer), and the frontend is
	// not quarantined.
	if r, err := s.Call(ctx, system.Frontend, "GET", "/orders/42"); err != nil || r.Status != 200 {
		t.Fatalf("the real frontend -> orders call after the forgeries: %+v %v", r, err)
	}
}
