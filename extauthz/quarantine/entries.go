package quarantine

import (
	"slices"
	"strings"
)

// Snapshot returns the entries in force (expired ones left out), sorted by
// workload: what a copy kept elsewhere (the Kubernetes write-back) must
// match.
func (s *Set) Snapshot() []Entry {
	now := s.now()
	s.mu.RLock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if e.Expires.IsZero() || now.Before(e.Expires) {
			out = append(out, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Workload, b.Workload) })
	return out
}
