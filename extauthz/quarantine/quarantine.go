// Package quarantine keeps the workloads that meshward has isolated, from
// verdicts of the eBPF agent or an operator. It knows nothing of transports:
// replicas share their sets through a Sharer (extauthz/sharedstate, on etcd).
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

// Set is a concurrency-safe set of quarantined workloads. Every check
// consults it, so it stays in memory: sharing happens beside it, never on the
// hot path.
type Set struct {
	mu       sync.RWMutex
	entries  map[string]Entry
	epoch    atomic.Uint64
	now      func() time.Time
	sharer   atomic.Pointer[sharerBox]
	onChange atomic.Pointer[func(Change)]
}

// New returns an empty set.
func New() *Set { return &Set{entries: map[string]Entry{}, now: time.Now} }

// Add quarantines e.Workload in this set only; a ttl of 0 keeps it until
// Release. It returns the new epoch. Quarantine shares it with the replicas.
func (s *Set) Add(e Entry, ttl time.Duration) uint64 {
	e.Since = s.now()
	if ttl > 0 {
		e.Expires = e.Since.Add(ttl)
	}
	return s.Put(e)
}

// Put stores e as it is (times included): the sharer applies entries made by
// other replicas with it. It returns the new epoch.
func (s *Set) Put(e Entry) uint64 {
	s.mu.Lock()
	s.entries[e.Workload] = e
	s.mu.Unlock()
	s.changed(Change{Entry: e, Quarantined: true})
	return s.epoch.Add(1)
}

// Release lifts a quarantine in this set only; it reports whether the
// workload was quarantined. Lift shares the release with the replicas.
func (s *Set) Release(workload string) bool {
	s.mu.Lock()
	e, ok := s.entries[workload]
	delete(s.entries, workload)
	s.mu.Unlock()
	if ok {
		s.epoch.Add(1)
		s.changed(Change{Entry: e})
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
