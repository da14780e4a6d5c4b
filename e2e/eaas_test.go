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
