package server

import (
	"context"
	"fmt"
	"time"

	"github.com/meshward/meshward/extauthz/decision"
)

// Shared is the replicas' shared state (extauthz/sharedstate on etcd).
type Shared interface {
	// Start loads the shared quarantine set into the engine's and makes the
	// engine report the shared epoch; it fails if it cannot load it.
	Start(ctx context.Context, e *decision.Engine) error
	// PolicyApplied says this replica's policies changed.
	PolicyApplied()
}

// sharedLoadTimeout bounds the first load: a replica that never saw the
// shared quarantine set does not serve (its filters' fail mode answers).
const sharedLoadTimeout = 30 * time.Second

func (r *Running) startShared(sh Shared) error {
	if sh == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedLoadTimeout)
	defer cancel()
	if err := sh.Start(ctx, r.Authorizer.Engine); err != nil {
		return fmt.Errorf("authorizer: shared state: %w", err)
	}
	r.Authorizer.shared = sh
	return nil
}
