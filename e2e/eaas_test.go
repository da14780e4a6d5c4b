package e2e

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/e2e/system"
)

func startEaaSMesh(t *testing.T, o system.EaaSOptions) *system.EaaSMesh {
	t.Helper()
	o.WasmPath, o.CacheDir, o.Dir = wasmPath(t), cacheDir(t), t.TempDir()
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

// One encrypted hop through the real filter on both sidecars: the app sends
// plaintext, the wire between the sidecars carries an envelope, orders gets
// the plaintext, and its answer travels back encrypted the same way.
func TestEaaSOneHop(t *testing.T) {
	m := startEaaSMesh(t, system.EaaSOptions{StopIteration: true, Deception: 2})
	for _, size := range []int{1, 1 << 10, 64 << 10, 1 << 20} {
		body := bytes.Repeat([]byte("card=4111-1111-1111-1111;"), size/25+1)[:size]
		x, err := m.Post(t.Context(), "/orders", body)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != 200 {
			t.Fatalf("%d bytes: status %d reason %q: %s", size, x.Status, x.Reason, x.Response)
		}
		if !bytes.Equal(x.AppSaw, body) {
			t.Fatalf("%d bytes: orders got %d bytes, not the plaintext", size, len(x.AppSaw))
		}
		if !strings.HasPrefix(string(x.WireRequest), eaas.EnvelopeMagic) || bytes.Contains(x.WireRequest, []byte("4111")) {
			t.Fatalf("%d bytes: the wire carried %.60q", size, x.WireRequest)
		}
		if !strings.HasPrefix(string(x.WireResponse), eaas.EnvelopeMagic) || bytes.Contains(x.WireResponse, []byte("receipt")) {
			t.Fatalf("%d bytes: the answer on the wire was %.60q", size, x.WireResponse)
		}
		if !strings.HasPrefix(string(x.Response), "receipt: orders got") {
			t.Fatalf("%d bytes: the frontend got %.60q", size, x.Response)
		}
	}
}
