package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/meshward/meshward/e2e/system"
)

// The control plane moves 6 times among 4 addresses while orders keeps
// moving too: 4 e2e sidecar ADS clients follow the announcement (they
// reconnect before the old address closes), grpc-go's proxyless client
// finds the new address through its bootstrap's pool (its stream is ended
// with the old address). Every node is on the new address at the end of
// each move, the old address refuses connections right after (a scanner
// that found the port finds it closed), no service move is held up by a
// node reconnecting, no call of orders fails and every follower holds
// orders' last endpoint.
func TestXDSSelfMoveUnderLoad(t *testing.T) {
	if inOwnProcess(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := system.SelfMoveUnderLoad(ctx, system.SelfMoveOptions{Moves: 6, Pool: 4, Followers: 4, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	const nodes = 5 // 4 followers and grpc-go's node
	for i, m := range rep.Moves {
		t.Logf("move %d: %s -> %s, %d of %d nodes in %.1f ms", i+1, m.From, m.To, m.Moved, m.Nodes, m.TookMS)
		if m.Nodes != nodes || m.Moved != nodes || m.Lagging != 0 {
			t.Errorf("move %d: %+v, want all %d nodes on the new address", i+1, m, nodes)
		}
	}
	if len(rep.Moves) != 6 || len(rep.StillOpen) != 0 {
		t.Errorf("%d moves; old addresses still open: %v", len(rep.Moves), rep.StillOpen)
	}
	if rep.ServiceMoves == 0 || rep.Behind != 0 {
		t.Errorf("%d service moves meanwhile, %d clients behind: want some, none behind", rep.ServiceMoves, rep.Behind)
	}
	if rep.Calls == 0 || rep.Failed != 0 {
		t.Errorf("%d calls, %d failed (first: %v)", rep.Calls, rep.Failed, rep.FirstError)
	}
	if len(rep.Unfollowed) != 0 {
		t.Errorf("followers not on orders' endpoint: %v", rep.Unfollowed)
	}
	if st := rep.Status; st == nil || st.Epoch != 7 || len(st.Listening) != 1 || st.NodesOn[st.Address] != nodes {
		t.Errorf("status %+v", st)
	}
	t.Logf("%d service moves, %d calls of orders", rep.ServiceMoves, rep.Calls)
}
