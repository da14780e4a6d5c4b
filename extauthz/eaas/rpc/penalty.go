package rpc

import (
	"sync"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
)

// penalties hold callers that sent what no filter sends — a batch without
// its real message, frames naming another requester, frames that do not
// parse — and for a while refuse their batches before a byte of them is
// read: a flood of fakes from a member then costs the coordinator no more
// than one from a workload of no subscriber (the seed's Scenario 2).
type penalties struct {
	mu    sync.Mutex
	until map[string]time.Time
	d     time.Duration
	max   int
	now   func() time.Time
}

func newPenalties(d time.Duration, max int) *penalties {
	return &penalties{until: map[string]time.Time{}, d: d, max: max, now: time.Now}
}

// penalized reasons: a filter never causes them (a stale sequence number
// or an outage does not count).
var penalized = map[string]bool{
	coordinator.ReasonNoRealMessage:    true,
	coordinator.ReasonIdentityMismatch: true,
	coordinator.ReasonMalformed:        true,
}

// active says how long the caller still waits, if it does.
func (p *penalties) active(caller string) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.until[caller]
	if !ok {
		return 0, false
	}
	left := until.Sub(p.now())
	if left <= 0 {
		delete(p.until, caller)
		return 0, false
	}
	return left, true
}

// add penalizes caller; with the table full of live penalties the oldest
// one gives way (the byte budget still bounds every caller).
func (p *penalties) add(caller string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if len(p.until) >= p.max {
		oldest, first := "", time.Time{}
		for c, u := range p.until {
			if !u.After(now) {
				delete(p.until, c)
			} else if oldest == "" || u.Before(first) {
				oldest, first = c, u
			}
		}
		if len(p.until) >= p.max {
			delete(p.until, oldest)
		}
	}
	p.until[caller] = now.Add(p.d)
}
