package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/system"
)

// The built filter answers a hot edge from its decision cache, and a
// quarantine still reaches it through the warm cache within 1 s (the filter
// polls the authorizer's epoch).
func TestQuarantineThroughWarmCache(t *testing.T) {
	ctx := context.Background()
	s, err := system.Start(ctx, system.Options{WasmPath: wasmPath(t), CacheDir: cacheDir(t), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	call := func() system.Result {
		t.Helper()
		r, err := s.Call(ctx, system.Frontend, "GET", "/orders/42")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := call(); r.Status != 200 {
		t.Fatalf("first call: %+v", r)
	}
	before, err := s.Checks()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if r := call(); r.Status != 200 {
			t.Fatalf("warm call: %+v", r)
		}
	}
	after, _ := s.Checks()
	if after != before {
		t.Fatalf("%d checks reached the authorizer for 20 calls on a warm edge, want 0", after-before)
	}

	start := time.Now()
	if err := s.ReportVerdict(ctx, system.Frontend, "test"); err != nil {
		t.Fatal(err)
	}
	for {
		r := call()
		if r.Status == 403 && r.Reason == "quarantined-source" {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("1 s after the verdict the warm cache still answers %d %q", r.Status, r.Reason)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("verdict to denial through the warm cache: %v", time.Since(start))
}
