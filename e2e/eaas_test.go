package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/system"
)

func startEaaSMesh(t *testing.T, o system.EaaSOptions) *system.EaaSMesh {
	t.Helper()
	o.WasmPath, o.CacheDir, o.Dir = wasmPath(t), cacheDir(t), t.TempDir()
	if o.Deception == 0 {
		o.Deception = 2 // the seed's example: each real message among three fakes
	}
	if os.Getenv("MESHWARD_E2E_LOG") != "" {
		o.Log = zerolog.New(os.Stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := system.StartEaaS(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// A request the destination denies after it was sealed comes back to the
// frontend with the destination's status and reason (the plain body of the
// denial is dropped at the source), not as an EaaS failure.
func TestEaaSDestinationDenialKeepsItsReason(t *testing.T) {
	for _, stop := range []bool{false, true} {
		m := startEaaSMesh(t, system.EaaSOptions{StopIteration: stop})
		x, err := m.Post(t.Context(), "/admin", []byte("not for orders' admin"))
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != 403 || x.Reason != "no-matching-rule" || len(x.AppSaw) != 0 {
			t.Fatalf("stop-iteration %v: %d %q, the app got %d bytes; want 403 no-matching-rule and nothing",
				stop, x.Status, x.Reason, len(x.AppSaw))
		}
	}
}
