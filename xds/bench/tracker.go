package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// xDS types a client subscribes to, as bits of what it has ACKed.
const (
	ackedLDS = 1 << iota
	ackedRDS
	ackedCDS
	ackedEDS
	ackedAll = ackedLDS | ackedRDS | ackedCDS | ackedEDS
)

// clientState is what one client has ACKed.
type clientState struct {
	acked    int       // ackedLDS | ...
	key      string    // endpoints of the last EDS response ACKed
	version  string    // its version
	at       time.Time // when that ACK was sent
	versions []string  // every EDS version ACKed, in order
}

// round is one wait: until every client's state satisfies converged.
type round struct {
	converged func(*clientState) bool
	at        []time.Time // when each client converged; zero: not yet
	remaining int
	done      chan struct{}
	// allowed are the endpoints a client may ACK during the round: the
	// previous and the awaited; anything else is a wrong answer.
	allowed map[string]bool
}

// tracker gathers every client's ACKs under one lock, so that a round armed
// after the clients already answered still sees their answers.
type tracker struct {
	mu     sync.Mutex
	states []clientState
	round  *round
	err    error
	failed chan struct{}
}

func newTracker(n int) *tracker {
	return &tracker{states: make([]clientState, n), failed: make(chan struct{})}
}

// ack records that client i ACKed a response of type bit; for EDS, key and
// version say what the response held.
func (t *tracker) ack(i, bit int, key, version string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.states[i]
	s.acked |= bit
	if bit == ackedEDS {
		s.key, s.version, s.at = key, version, at
		s.versions = append(s.versions, version)
	}
	// A finished round judges nothing: the next rotation's answers arrive
	// before the Move call returns and the next round is armed, whose
	// arming looks at them.
	if r := t.round; r != nil && r.remaining > 0 {
		if bit == ackedEDS && r.allowed != nil && !r.allowed[key] {
			t.failLocked(fmt.Errorf("client %d ACKed endpoints %q (version %q), which this round does not serve", i, key, version))
			return
		}
		t.checkLocked(i, at)
	}
}

func (t *tracker) checkLocked(i int, at time.Time) {
	r := t.round
	if !r.at[i].IsZero() || !r.converged(&t.states[i]) {
		return
	}
	r.at[i] = at
	r.remaining--
	if r.remaining == 0 {
		close(r.done)
	}
}

// arm starts a round. Clients that already converged count from the time of
// their ACK; allowed (nil: any) bounds the endpoints a client may hold.
func (t *tracker) arm(converged func(*clientState) bool, allowed map[string]bool) *round {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &round{converged: converged, at: make([]time.Time, len(t.states)), remaining: len(t.states),
		done: make(chan struct{}), allowed: allowed}
	t.round = r
	if r.remaining == 0 {
		close(r.done)
	}
	for i := range t.states {
		s := &t.states[i]
		if allowed != nil && s.acked&ackedEDS != 0 && !allowed[s.key] {
			t.failLocked(fmt.Errorf("client %d holds endpoints %q (version %q), which this round does not serve", i, s.key, s.version))
			break
		}
		t.checkLocked(i, s.at)
	}
	return r
}

// fail ends every wait with err; the first error is the one kept.
func (t *tracker) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failLocked(err)
}

func (t *tracker) failLocked(err error) {
	if t.err == nil {
		t.err = err
		close(t.failed)
	}
}

// agreed is the one EDS version every client ACKed last; clients that
// disagree on what version their endpoints are at are an error.
func (t *tracker) agreed() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.states) == 0 {
		return "", errors.New("no clients")
	}
	v := t.states[0].version
	for i, s := range t.states {
		if s.version != v {
			return "", fmt.Errorf("client %d ACKed version %q for endpoints %q, client 0 version %q", i, s.version, s.key, v)
		}
	}
	return v, nil
}

// history is every client's ACKed EDS versions, in order.
func (t *tracker) history() [][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]string, len(t.states))
	for i, s := range t.states {
		out[i] = append([]string(nil), s.versions...)
	}
	return out
}

// wait returns once round r is over, a client failed, or ctx ends.
func (t *tracker) wait(ctx context.Context, r *round) error {
	select {
	case <-r.done:
		return nil
	case <-t.failed:
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// remaining is how many clients round r still waits for.
func (t *tracker) remaining(r *round) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return r.remaining
}
