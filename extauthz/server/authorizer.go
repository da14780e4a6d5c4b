// Package server holds the authorizer's thin transports: Envoy's gRPC
// ext_authz, the filter's HTTP check, and the verdict API. The decision itself
// is extauthz/decision's.
package server

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/learn"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/workloads"
	"github.com/meshward/meshward/internal/pathnorm"
)

// Authorizer answers checks from both transports with one engine.
type Authorizer struct {
	Engine  *decision.Engine
	Metrics *Metrics
	Log     zerolog.Logger
	// policyErr is the last policy change refused (status.go).
	policyErr atomic.Pointer[PolicyError]
	// CacheTTL is how long filters may reuse a cacheable answer (0: never).
	CacheTTL time.Duration
	// PathNormalization is the mesh's (Istio's meshConfig.pathNormalization):
	// every check's path is normalized again here before any rule sees it, in
	// case a proxy in front did not.
	PathNormalization pathnorm.Mode
	// insecureChecks: no listener authenticates its callers (dev mode), so
	// every check's claims are taken as they come.
	insecureChecks bool
	token          []byte // the operator's bearer token (verdicts, learned policies)
	workloads      *workloads.Registry
	lateral        *lateralFeed
	xds            *xdsNotifier   // nil: no xDS server hears of events (xdsevents.go)
	learner        *learn.Learner // nil unless in learn mode
	dlog           *decisionLog
	shared         Shared // nil: this process keeps its own state
}

// ReasonInvalidPath denies a check whose path cannot be normalized (NUL,
// invalid escapes, fragments, escaped slashes where the mode refuses them...).
const ReasonInvalidPath = "invalid-path"

// decide runs one decision with the timers and the log line every transport
// needs.
func (a *Authorizer) decide(transport string, r *policy.Request, start time.Time) decision.Decision {
	evalStart := time.Now()
	p, err := pathnorm.Normalize(r.Path, a.PathNormalization)
	if err != nil {
		// A denial with its reason, not a 400: a fail-open filter would let a
		// request it cannot describe through.
		d := decision.Decision{Reason: ReasonInvalidPath, Status: 403}
		a.Metrics.observe(transport, false, d.Reason, start, evalStart, time.Now())
		return d
	}
	r.Path = p
	d := a.Engine.Decide(r)
	evalEnd := time.Now()
	a.Metrics.observe(transport, d.Allow, d.Reason, start, evalStart, evalEnd)
	if a.lateral != nil {
		a.lateral.observe(r, evalEnd)
	}
	if a.learner != nil && d.Allow {
		a.learn(r)
	}
	if a.dlog != nil {
		a.dlog.write(transport, r, d, evalEnd.Sub(start))
	}
	return d
}

// ServeLearned writes the least-privilege policies learned so far (learn
// mode), as AuthorizationPolicy YAML.
func (a *Authorizer) ServeLearned(w http.ResponseWriter, _ *http.Request) {
	if a.learner == nil {
		http.Error(w, "learn mode is off: start the authorizer with --learn", http.StatusNotFound)
		return
	}
	b, err := a.learner.Policies()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ws, es, dropped := a.learner.Stats()
	w.Header().Set("Content-Type", "application/yaml")
	fmt.Fprintf(w, "# learned by meshward: %d workloads, %d edges, %d observations not recorded (memory bound)\n", ws, es, dropped)
	_, _ = w.Write(b)
}

// meshCaller admits a request only from a verified mesh identity (any
// workload: the epoch is the same for all), unless checks are insecure.
func (a *Authorizer) meshCaller(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.insecureChecks && verifiedID(r.TLS) == "" {
			http.Error(w, errUnauthenticated.Error(), http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

// operator admits a request with the operator's bearer token: learned
// policies describe the mesh's traffic and are not for workloads to read.
func (a *Authorizer) operator(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !bearerMatches(r.Header.Values("Authorization"), a.token) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "learned policies: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

// learn records an allowed request. What it writes back is a selector, so
// it takes the destination's labels from the workload registry when there is
// one (a claim of fewer labels, or none, would become a wider policy), and
// never learns a request whose destination has no labels at all.
func (a *Authorizer) learn(r *policy.Request) {
	if a.workloads != nil {
		labels, ok := a.workloads.Labels(r.Destination, r.DestinationLabels, r.DestinationService)
		if !ok {
			return
		}
		cp := *r
		cp.DestinationLabels = labels
		r = &cp
	}
	if len(r.DestinationLabels) == 0 {
		return
	}
	a.learner.Observe(r)
}
