package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/system"
)

// One request path through all of meshward: the built .wasm in the wazero
// sidecar in front of orders, the authorizer over HTTP check and gRPC, the
// eBPF agent's verdict over gRPC.
func TestSkeletonEndToEnd(t *testing.T) {
	ctx := context.Background()
	s, err := system.Start(ctx, system.Options{WasmPath: wasmPath(t), CacheDir: cacheDir(t), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	expect := func(from, method, path string, status int, reason string) {
		t.Helper()
		r, err := s.Call(ctx, from, method, path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != status || r.Reason != reason {
			t.Fatalf("%s %s %s: %d %q (%q), want %d %q", from, method, path, r.Status, r.Reason, r.Body, status, reason)
		}
	}
	expect(system.Frontend, "GET", "/orders/42", 200, "")
	expect(system.Frontend, "DELETE", "/orders/42", 403, "no-matching-rule")
	expect(system.Catalog, "GET", "/orders/42", 403, "no-matching-rule")

	if err := s.StartAgent(ctx); errors.Is(err, system.ErrNeedsRoot) {
		t.Skipf("the verdict step: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	expect(system.Frontend, "GET", "/orders/42", 200, "") // watched, still innocent
	if err := s.RunInFrontend("/bin/true"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	expect(system.Frontend, "GET", "/orders/42", 200, "") // an exec that is no shell is no verdict

	start := time.Now()
	if err := s.RunInFrontend("/bin/sh", "-c", "true"); err != nil {
		t.Fatal(err)
	}
	t.Logf("shell exec to denial: %v", waitQuarantined(ctx, t, s, start, "the shell exec"))
	// In the kernel too: the frontend's container reaches the authorizer (its
	// allow list) and nothing else.
	if ok, err := s.DialFromFrontend(s.Sidecar.Addr.String()); err != nil || ok {
		t.Fatalf("the isolated frontend connected to orders' sidecar (%v)", err)
	}
	if ok, err := s.DialFromFrontend(s.Authz.GRPCAddr.String()); err != nil || !ok {
		t.Fatalf("the isolated frontend could not reach the authorizer (%v)", err)
	}
	expect(system.Catalog, "GET", "/orders/42", 403, "no-matching-rule") // others unchanged
	if n := s.Authz.Authorizer.Engine.Quarantine().Len(); n != 1 {
		t.Fatalf("%d workloads quarantined, want 1", n)
	}
}
