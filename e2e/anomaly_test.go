package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/profile"
)

// The learned model's path through the real kernel: the frontend's
// container learns its steady work, goes on with it unflagged, then runs a
// dropped binary that is no shell (only the model can tell), and the
// authorizer denies the frontend within 1 s.
func TestAnomalyVerdictEndToEnd(t *testing.T) {
	ctx := context.Background()
	s, err := system.Start(ctx, system.Options{WasmPath: wasmPath(t), CacheDir: cacheDir(t), Log: zerolog.Nop(),
		Agent: agent.Options{Profile: profile.Config{N: 6, Window: 100, Threshold: 0.1, Learn: 1500}, AlarmK: 2, AlarmN: 64}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.StartAgent(ctx); errors.Is(err, system.ErrNeedsRoot) {
		t.Skipf("needs the eBPF agent: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	if err := s.LearnSteady(8, 10000); err != nil { // learning: 8 lives of ~20,000 calls
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.LearnSteady(2, 10000); err != nil { // detecting: the same work is no anomaly
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if r, err := s.Call(ctx, system.Frontend, "GET", "/orders/42"); err != nil || r.Status != 200 {
		e, _ := s.Authz.Authorizer.Engine.Quarantine().Lookup(system.Frontend)
		t.Fatalf("after learning, the frontend's own work got it %+v (%v): %+v", r, err, e)
	}

	dropped := filepath.Join(t.TempDir(), ".kworker")
	perl, err := os.ReadFile("/usr/bin/perl")
	if err != nil {
		t.Skipf("the dropped binary is a copy of perl: %v", err)
	}
	if err := os.WriteFile(dropped, perl, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = s.RunInFrontend(dropped, "-e", `open(F, "</etc/passwd"); my @u = <F>; opendir(D, "/proc"); my @p = readdir(D); print scalar(@u) + scalar(@p), "\n"`)
	t.Logf("dropped binary to denial: %v", waitQuarantined(ctx, t, s, start, "the dropped binary ran"))
	e, ok := s.Authz.Authorizer.Engine.Quarantine().Lookup(system.Frontend)
	if !ok || e.Reason != "syscall-anomaly" {
		t.Fatalf("quarantine %+v, want reason syscall-anomaly", e)
	}
}
