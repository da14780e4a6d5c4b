package quarantine

import (
	"context"
	"time"
)

// Sharer makes a change on every replica (extauthz/sharedstate writes it to
// etcd, and each replica's watch applies it with Put and Release).
type Sharer interface {
	// Quarantine records e for ttl (0: until released) and applies it to
	// this replica's set before it returns, even when it returns an error
	// that says the change is not shared yet.
	Quarantine(ctx context.Context, e Entry, ttl time.Duration) (epoch uint64, err error)
	// Release lifts a quarantine everywhere, or returns an error and
	// changes nothing.
	Release(ctx context.Context, workload string) (bool, error)
}

type sharerBox struct{ Sharer }

// ShareWith routes Quarantine and Lift through sh from now on.
func (s *Set) ShareWith(sh Sharer) { s.sharer.Store(&sharerBox{sh}) }

// Quarantine isolates e.Workload on every replica (this one only when the
// set is not shared). Since and Expires are set here.
func (s *Set) Quarantine(ctx context.Context, e Entry, ttl time.Duration) (uint64, error) {
	sh := s.sharer.Load()
	if sh == nil {
		return s.Add(e, ttl), nil
	}
	e.Since = s.now()
	if ttl > 0 {
		e.Expires = e.Since.Add(ttl)
	}
	return sh.Quarantine(ctx, e, ttl)
}

// Lift releases workload on every replica (this one only when the set is not
// shared).
func (s *Set) Lift(ctx context.Context, workload string) (bool, error) {
	sh := s.sharer.Load()
	if sh == nil {
		return s.Release(workload), nil
	}
	return sh.Release(ctx, workload)
}

// Change is one workload entering (Quarantined) or leaving the set, here or
// on another replica.
type Change struct {
	Entry       Entry
	Quarantined bool
}

// OnChange calls f after every change of the set, wherever it was made (a
// verdict here, another replica through the sharer, a re-sync after an
// outage). f runs on the changing goroutine, outside the set's lock: it must
// not block (queue the work). Entries that expire by their TTL are reported
// when the sharer removes them (their lease ends), not at Expires.
func (s *Set) OnChange(f func(Change)) { s.onChange.Store(&f) }

func (s *Set) changed(c Change) {
	if f := s.onChange.Load(); f != nil {
		(*f)(c)
	}
}
