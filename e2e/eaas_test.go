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

// What a protected exchange costs in calls to the authorizer, once the
// filters hold their enrolments and decisions: four coordinator calls
// (request and answer, each sealed and opened) and no check. More would be
// a regression in the hop's latency, which these calls dominate.
func TestEaaSExchangeCostsFourCallouts(t *testing.T) {
	m := startEaaSMesh(t, system.EaaSOptions{})
	post := func() {
		x, err := m.Post(t.Context(), "/orders", []byte("card=4111-1111-1111-1111"))
		if err != nil || x.Status != 200 {
			t.Fatalf("%v %d %s", err, x.Status, x.Reason)
		}
	}
	post() // enrols, checks
	before := m.FilterCallouts()
	const n = 20
	for range n {
		post()
	}
	after := m.FilterCallouts()
	for path, k := range after {
		want := 0
		if path == "/v1/eaas/messages" {
			want = 4 * n
		}
		if got := k - before[path]; got != want && path != "/v1/epoch" { // the epoch is polled on a timer
			t.Errorf("%s: %d callouts for %d exchanges, want %d", path, got, n, want)
		}
	}
}
