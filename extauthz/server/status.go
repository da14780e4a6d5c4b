package server

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
)

// StatusPath is the operator's read-only view of one replica (GET, the
// operator's bearer token).
const StatusPath = "/v1/status"

// Status is what `extauthz status` shows of one replica.
type Status struct {
	Replica         string             `json:"replica"` // its host name (the pod's, in Kubernetes)
	Epoch           uint64             `json:"epoch"`
	Policies        int                `json:"policies"`
	Rules           int                `json:"rules"`
	Quarantined     int                `json:"quarantined"`
	Quarantines     []QuarantineStatus `json:"quarantines"` // the oldest, at most StatusQuarantines
	LastPolicyError *PolicyError       `json:"last_policy_error,omitempty"`
	EaaS            bool               `json:"eaas"`
}

// QuarantineStatus is one quarantined workload.
type QuarantineStatus struct {
	Workload string     `json:"workload"`
	Reason   string     `json:"reason"`
	Score    float64    `json:"score"`
	Since    time.Time  `json:"since"`
	Expires  *time.Time `json:"expires,omitempty"`
}

// PolicyError is the last policy change the authorizer refused.
type PolicyError struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// StatusQuarantines bounds the quarantines listed: the count says the rest.
const StatusQuarantines = 20

// maxStatusText bounds each string a status carries: reasons come from
// verdicts and errors quote policy objects, neither of which the operator
// wrote.
const maxStatusText = 512

func (a *Authorizer) status(eaas bool) Status {
	e := a.Engine
	st := Status{Epoch: e.Epoch(), Policies: e.Policy().Policies(), Rules: e.Policy().Len(), EaaS: eaas,
		Quarantines: []QuarantineStatus{}}
	st.Replica, _ = os.Hostname()
	total, first := e.Quarantine().Oldest(StatusQuarantines)
	st.Quarantined = total
	for _, q := range first {
		qs := QuarantineStatus{Workload: clip(q.Workload), Reason: clip(q.Reason), Score: q.Score, Since: q.Since.UTC()}
		if !q.Expires.IsZero() {
			t := q.Expires.UTC()
			qs.Expires = &t
		}
		st.Quarantines = append(st.Quarantines, qs)
	}
	st.LastPolicyError = a.policyErr.Load()
	return st
}

func (a *Authorizer) serveStatus(eaas bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(a.status(eaas))
	}
}

// notePolicyError keeps the last refused policy change for the status.
func (a *Authorizer) notePolicyError(err error) {
	a.policyErr.Store(&PolicyError{At: time.Now().UTC(), Error: clip(err.Error())})
}

// clip bounds s and replaces control and format characters, so that what a
// workload or a policy author wrote can neither drive the operator's
// terminal nor reorder what it shows.
func clip(s string) string {
	if len(s) > maxStatusText {
		s = s[:maxStatusText] + "..."
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
