// Package quarantine keeps the workloads that meshward has isolated, from
// verdicts of the eBPF agent or an operator. It knows nothing of transports.
package quarantine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Entry says why and until when a workload is quarantined.
type Entry struct {
	Workload string
	Reason   string
	Score    float64
	Evidence []string
	Since    time.Time
	Expires  time.Time // zero: until released
}

// Set is a concurrency-safe set of quarantined workloads.
type Set struct {
	mu      sync.RWMutex
	entries map[string]Entry
	epoch   atomic.Uint64
	now     func() time.Time
}

// New returns an empty set.
func New() *Set { return &Set{entries: map[string]Entry{}, now: time.Now} }

// Add quarantines e.Workload; a ttl of 0 keeps it until Release. It returns the
// new epoch.
func (s *Set) Add(e Entry, ttl time.Duration) uint64 {
	e.Since = s.now()
	if ttl > 0 {
		e.Expires = e.Since.Add(ttl)
	}
	s.mu.Lock()
	s.entries[e.Workload] = e
	s.mu.Unlock()
	return s.epoch.Add(1)
}

// Release lifts a quarantine; it reports whether the workload was quarantined.
func (s *Set) Release(workload string) bool {
	s.mu.Lock()
	_, ok := s.entries[workload]
	delete(s.entries, workload)
	s.mu.Unlock()
	if ok {
		s.epoch.Add(1)
	}
	return ok
}

// Lookup returns the entry of a quarantined workload.
func (s *Set) Lookup(workload string) (Entry, bool) {
	s.mu.RLock()
	e, ok := s.entries[workload]
	s.mu.RUnlock()
	if ok && !e.Expires.IsZero() && !s.now().Before(e.Expires) {
		return Entry{}, false
	}
	return e, ok
}

// Epoch changes whenever the set changes.
func (s *Set) Epoch() uint64 { return s.epoch.Load() }

// Len counts the entries, expired ones included until they are released.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}
