package decision

import (
	"crypto/rand"
	"encoding/hex"
)

// Epoch changes with every policy or quarantine change; caches of decisions
// (the filter's) drop their entries when it moves. It means something only
// together with Instance.
func (e *Engine) Epoch() uint64 {
	if s := e.shared.Load(); s != nil {
		return s.EpochSource.Epoch()
	}
	return e.epochBase + e.policyGen.Load() + e.quarantine.Epoch()
}

// Instance identifies this engine among the authorizer's replicas and
// restarts, or names the replicas' shared state (ShareEpoch). A filter
// behind several instances must never take one's epoch for another's: it
// compares epochs of one instance only, and drops its cache when the
// instance changes.
func (e *Engine) Instance() string {
	if s := e.shared.Load(); s != nil {
		return s.EpochSource.Instance()
	}
	return e.instance
}

// EpochSource is an epoch that replicas sharing their state agree on: equal
// where their states are, growing with every change any of them makes.
type EpochSource interface {
	Epoch() uint64
	Instance() string
}

type epochSource struct{ EpochSource }

// ShareEpoch makes the engine report src's instance and epoch, so that the
// filters' caches stay warm across replicas and still drop a change made on
// any of them.
func (e *Engine) ShareEpoch(src EpochSource) { e.shared.Store(&epochSource{src}) }

func newInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b)
}
