package server

import (
	"errors"
	"fmt"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/internal/identity"
)

// Reason ids of checks refused before any decision: the caller may not ask.
const (
	ReasonUnauthenticatedCaller = "unauthenticated-caller"
	ReasonCallerNotDestination  = "caller-not-destination"
	ReasonUnboundClaim          = "unbound-workload-claim"
)

// errUnauthenticated: a check came without a verified mesh certificate.
var errUnauthenticated = errors.New("check refused: no verified mesh certificate (mutual TLS with the mesh CA)")

// vouch says whether caller may ask about r. A sidecar vouches only for
// requests to its own workload, whose peers it verified itself: a check
// whose destination is another workload would let one compromised sidecar
// frame others (lateral-movement quarantines), poison learn mode, or probe
// the policy. caller is the verified SPIFFE ID of the client certificate, ""
// without one.
func (a *Authorizer) vouch(caller string, r *policy.Request) (reason string, err error) {
	if a.insecureChecks {
		return "", nil
	}
	if caller == "" {
		return ReasonUnauthenticatedCaller, errUnauthenticated
	}
	if r.Destination != caller {
		return ReasonCallerNotDestination, fmt.Errorf("check refused: caller %s asked about destination %q; a sidecar may ask only about its own workload", caller, r.Destination)
	}
	_, ns, _, err := identity.Parse(caller)
	if err != nil {
		return ReasonUnauthenticatedCaller, fmt.Errorf("check refused: caller certificate: %w", err)
	}
	if r.DestinationNamespace != "" && r.DestinationNamespace != ns {
		return ReasonCallerNotDestination, fmt.Errorf("check refused: caller %s in namespace %q asked about namespace %q", caller, ns, r.DestinationNamespace)
	}
	if a.workloads != nil {
		if err := a.workloads.Vouch(caller, r.DestinationLabels, r.DestinationService); err != nil {
			return ReasonUnboundClaim, fmt.Errorf("check refused: %w", err)
		}
	}
	return "", nil
}

// refuse counts and logs a refused check; the caller gets a denial.
func (a *Authorizer) refuse(transport, reason string, err error) {
	a.Metrics.decisions.WithLabelValues(transport, "deny", reason).Inc()
	a.Log.Warn().Str("transport", transport).Str("reason", reason).Err(err).Msg("check refused")
}
