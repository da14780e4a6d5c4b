package quarantine

import (
	"slices"
	"strings"
)

// Oldest returns how many workloads are quarantined now and the first n
// of them, oldest first (ties by workload): what an operator reads first.
// Expired entries not yet released are left out, as Lookup leaves them.
func (s *Set) Oldest(n int) (total int, first []Entry) {
	now := s.now()
	s.mu.RLock()
	live := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if e.Expires.IsZero() || now.Before(e.Expires) {
			live = append(live, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(live, func(a, b Entry) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Workload, b.Workload)
	})
	return len(live), live[:min(max(n, 0), len(live))]
}
