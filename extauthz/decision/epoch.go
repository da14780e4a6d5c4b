package decision

import (
	"crypto/rand"
	"encoding/hex"
)

// Epoch changes with every policy or quarantine change; caches of decisions
// (the filter's) drop their entries when it moves. It means something only
// together with Instance.
func (e *Engine) Epoch() uint64 { return e.epochBase + e.policyGen.Load() + e.quarantine.Epoch() }

// Instance identifies this engine among the authorizer's replicas and
// restarts. Replicas keep quarantine sets of their own, so a filter behind
// several must never take one's epoch for another's: it compares epochs of
// one instance only, and drops its cache when the instance changes.
func (e *Engine) Instance() string { return e.instance }

func newInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b)
}
