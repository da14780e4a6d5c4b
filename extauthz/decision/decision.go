// Package decision is meshward's per-hop decision: quarantine first, then the
// policy set (Istio's DENY-then-ALLOW, meshward's default deny). Both
// transports (gRPC ext_authz and the filter's HTTP check) call Engine.Decide,
// so they cannot disagree.
package decision

import (
	"sync/atomic"
	"time"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
	"github.com/meshward/meshward/extauthz/ratelimit"
)

// Reason ids, stable: they reach callers in the x-meshward-reason header and
// label metrics. The policy set adds its own (policy.Reason*).
const (
	ReasonAllowed                = policy.ReasonAllowed
	ReasonQuarantinedSource      = "quarantined-source"
	ReasonQuarantinedDestination = "quarantined-destination"
	ReasonRateLimited            = "rate-limited"
	ReasonDeniedByCondition      = "denied-by-condition"
	ReasonConditionError         = "condition-error"
	ReasonBadRequest             = "bad-request"
	// ReasonHeaderOmitted: the check left out a header that a policy for the
	// destination reads, so the request cannot be decided (padding attack).
	ReasonHeaderOmitted = "header-omitted"
)

// Decision is the answer for one hop.
type Decision struct {
	Allow  bool
	Reason string
	Rule   string   // namespace/policy[rule] of the deciding rule, if one decided
	Audit  []string // AUDIT rules that matched
	DryRun string   // what dry-run policies would have decided: "allow (rule)" or "deny (reason)"
	// Cacheable: a cache keyed by source principal, method, path, host and
	// destination may reuse this answer until the epoch changes.
	Cacheable bool
	// Status is the HTTP status of a denial: 403, or 429 when rate limited.
	Status int
	// Obligations the filter must fulfil on an allowed request ("encrypt").
	Obligations []string
}

// Engine decides with the current policy set and quarantine set.
type Engine struct {
	policy     atomic.Pointer[policyState]
	policyGen  atomic.Uint64
	epochBase  uint64
	instance   string
	quarantine *quarantine.Set
	limiter    *ratelimit.Limiter
	shared     atomic.Pointer[epochSource]
}

// maxBuckets bounds the rate limiter's memory.
const maxBuckets = 1 << 20

// New returns an engine that starts with set.
func New(set *policy.Set, q *quarantine.Set) *Engine {
	// Starting from the clock keeps epochs growing across restarts, so a filter
	// never takes a restarted authorizer's answers for old ones.
	e := &Engine{quarantine: q, epochBase: uint64(time.Now().UnixNano()), instance: newInstanceID(),
		limiter: ratelimit.New(maxBuckets)}
	e.policy.Store(newPolicyState(set))
	return e
}

// SetPolicy swaps the policy set atomically: a decision sees the old or the
// new set, never a mix.
func (e *Engine) SetPolicy(s *policy.Set) {
	e.policy.Store(newPolicyState(s))
	e.policyGen.Add(1)
}

// Policy is the current policy set.
func (e *Engine) Policy() *policy.Set { return e.policy.Load().set }

// Quarantine is the engine's quarantine set.
func (e *Engine) Quarantine() *quarantine.Set { return e.quarantine }

// Decide answers one request: quarantine, then rate limits (a flood is shed
// before any policy is evaluated), then policies.
func (e *Engine) Decide(r *policy.Request) Decision {
	st := e.policy.Load()
	set := st.set
	if d, stop := e.quarantined(set, r); stop {
		return d
	}
	if r.HeadersOmitted() {
		if by, ok := st.readsOmitted(r); ok {
			return Decision{Reason: ReasonHeaderOmitted, Rule: by, Status: 403}
		}
	}
	ns := r.DestinationNS()
	for _, rl := range set.RateLimits(ns) {
		// A bucket per source and destination: the source is what the
		// destination's sidecar says it verified, so one sidecar can spend only
		// the buckets of calls to its own workload, never a source's budget
		// towards others.
		if rl.Applies(r.SourcePrincipal) && !e.limiter.Allow(rl.Name+"\x00"+r.SourcePrincipal+"\x00"+r.Destination, rl.RequestsPerSecond, rl.Burst) {
			return Decision{Reason: ReasonRateLimited, Rule: rl.Name, Status: 429}
		}
	}
	conds := set.Conditions(ns)
	for _, c := range conds {
		denies, err := c.Denies(r)
		switch {
		case err != nil:
			return Decision{Reason: ReasonConditionError, Rule: c.Name, Status: 403}
		case denies:
			return Decision{Reason: ReasonDeniedByCondition, Rule: c.Name, Status: 403}
		}
	}
	res := set.Evaluate(r)
	// Rate limits count every call and conditions may read headers: such
	// answers are not for a cache keyed by principal, method, path and host.
	cacheable := res.Cacheable && len(set.RateLimits(ns)) == 0 && len(conds) == 0
	d := Decision{Allow: res.Allow, Reason: res.Reason, Rule: ruleName(res.Rule), Cacheable: cacheable}
	if !d.Allow {
		d.Status = 403
	} else if set.MustEncrypt(r) {
		d.Obligations = []string{"encrypt"}
	}
	for _, a := range res.Audit {
		d.Audit = append(d.Audit, a.Name())
	}
	if dry := res.DryRun; dry != nil {
		if dry.Allow {
			d.DryRun = "allow (" + ruleName(dry.Rule) + ")"
		} else {
			d.DryRun = "deny (" + dry.Reason + " " + ruleName(dry.Rule) + ")"
		}
	}
	return d
}

// quarantined denies a request from or to a quarantined workload, unless the
// destination's namespace exempts it (health checks, say).
func (e *Engine) quarantined(set *policy.Set, r *policy.Request) (Decision, bool) {
	_, src := e.quarantine.Lookup(r.SourcePrincipal)
	src = src && r.SourcePrincipal != ""
	_, dst := e.quarantine.Lookup(r.Destination)
	if !src && !dst || set.QuarantineExempt(r) {
		return Decision{}, false
	}
	if src {
		return Decision{Reason: ReasonQuarantinedSource, Cacheable: true, Status: 403}, true
	}
	return Decision{Reason: ReasonQuarantinedDestination, Cacheable: true, Status: 403}, true
}

func ruleName(r *policy.Rule) string {
	if r == nil {
		return ""
	}
	return r.Name()
}
