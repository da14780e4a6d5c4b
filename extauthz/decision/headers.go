package decision

import (
	"strings"

	"github.com/meshward/meshward/extauthz/policy"
)

// policyState is a policy set with what its policies read of the request
// headers, computed once per set.
type policyState struct {
	set        *policy.Set
	names      []string        // sorted
	named      map[string]bool // the same names
	allHeaders bool            // some condition reads headers it does not name
}

func newPolicyState(set *policy.Set) *policyState {
	st := &policyState{set: set, named: map[string]bool{}}
	st.names, st.allHeaders = set.HeaderNames()
	for _, n := range st.names {
		st.named[n] = true
	}
	return st
}

// HeaderNames are the request headers some policy reads, and whether some
// condition reads headers it does not name: filters send those first.
func (e *Engine) HeaderNames() (names []string, all bool) {
	st := e.policy.Load()
	return st.names, st.allHeaders
}

// readsOmitted names the rule or condition that would read a header the
// check left out. Only the omitted names that some policy of the set names
// are looked up per destination, so a check that lists thousands of
// omitted headers costs one map lookup for each.
func (st *policyState) readsOmitted(r *policy.Request) (string, bool) {
	var relevant map[string]bool
	for _, h := range r.OmittedHeaders {
		if h = strings.ToLower(h); st.named[h] {
			if relevant == nil {
				relevant = map[string]bool{}
			}
			relevant[h] = true
		}
	}
	if relevant == nil && !st.allHeaders && !r.OmittedHeadersTruncated {
		return "", false
	}
	truncated := r.OmittedHeadersTruncated
	return st.set.ReadsOmittedHeader(r, func(h string) bool { return truncated || relevant[h] })
}
