package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/meshward/meshward/e2e/system"
)

// grpc-go's proxyless xDS client keeps calling orders while meshward's xDS
// server moves its endpoint to another port; the old backend drains once the
// client has moved; no call fails, and the calls end on the new port.
func TestXDSEndpointMoveLosesNoCalls(t *testing.T) {
	rep, err := system.MoveUnderLoad(context.Background(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moved %s -> %s; the client followed in %v; calls: %d old, %d new, %d failed",
		rep.OldAddr, rep.NewAddr, rep.Followed, rep.CallsOld, rep.CallsNew, rep.Failed)
	if rep.Failed != 0 {
		t.Fatalf("%d calls failed; first: %v", rep.Failed, rep.FirstError)
	}
	if rep.CallsOld == 0 || rep.CallsNew == 0 {
		t.Fatalf("calls: %d old, %d new; want some on each", rep.CallsOld, rep.CallsNew)
	}
}
