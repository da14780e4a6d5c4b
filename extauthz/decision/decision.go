// Package decision is meshward's per-hop decision: quarantine first, then the
// allow-list, default deny. Both transports (gRPC ext_authz and the filter's
// HTTP check) call Engine.Decide, so they cannot disagree.
package decision

import (
	"sync/atomic"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

// Reason ids, stable: they reach callers in the x-meshward-reason header and
// label metrics.
const (
	ReasonAllowed                = "allowed"
	ReasonNoMatchingRule         = "no-matching-rule"
	ReasonUnauthenticated        = "unauthenticated"
	ReasonQuarantinedSource      = "quarantined-source"
	ReasonQuarantinedDestination = "quarantined-destination"
	ReasonBadRequest             = "bad-request"
)

// Decision is the answer for one hop.
type Decision struct {
	Allow  bool
	Reason string
	Rule   string // the allowing rule, when one decided
}

// Engine decides with the current policy set and quarantine set.
type Engine struct {
	policy     atomic.Pointer[policy.Set]
	quarantine *quarantine.Set
}

// New returns an engine that starts with set.
func New(set *policy.Set, q *quarantine.Set) *Engine {
	e := &Engine{quarantine: q}
	e.policy.Store(set)
	return e
}

// SetPolicy swaps the policy set atomically: a decision sees the old or the
// new set, never a mix.
func (e *Engine) SetPolicy(s *policy.Set) { e.policy.Store(s) }

// Quarantine is the engine's quarantine set.
func (e *Engine) Quarantine() *quarantine.Set { return e.quarantine }

// Decide answers one request.
func (e *Engine) Decide(r policy.Request) Decision {
	if r.SourcePrincipal == "" {
		return Decision{Reason: ReasonUnauthenticated}
	}
	if _, ok := e.quarantine.Lookup(r.SourcePrincipal); ok {
		return Decision{Reason: ReasonQuarantinedSource}
	}
	if _, ok := e.quarantine.Lookup(r.Destination); ok {
		return Decision{Reason: ReasonQuarantinedDestination}
	}
	if rl := e.policy.Load().Allowing(r); rl != nil {
		return Decision{Allow: true, Reason: ReasonAllowed, Rule: rl.Name}
	}
	return Decision{Reason: ReasonNoMatchingRule}
}
