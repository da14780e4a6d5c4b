package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// wasmPath is the filter that `make wasm` builds; MESHWARD_WASM overrides it.
func wasmPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("MESHWARD_WASM")
	if p == "" {
		p = filepath.Join("..", "build", "meshward-filter.wasm")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("the filter is not built (%v): run `make wasm`, or `make test`, which builds it", err)
	}
	return p
}
