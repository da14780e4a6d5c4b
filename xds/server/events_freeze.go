package server

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A quarantined workload's nodes are frozen: every publication skips them
// (publishNodeMemo asks frozen), so they keep what they were told before and
// learn nothing after. The moves its quarantine causes then leave what it
// knew stale: a compromised workload with a valid mesh identity cannot
// follow the services it went for to their new sockets. A node of the
// identity that connects while it is frozen (a new instance name, or the
// same node reconnecting) is told nothing at all. Freezing needs mutual
// TLS on ADS: without it a node has no proven identity to freeze.

// maxFrozen bounds the frozen identities (memory, and the gauge's work).
const maxFrozen = 1 << 14

// freeze is one identity's: gen tells a timer that ends it from a later
// freeze of the same identity.
type freeze struct {
	gen   uint64
	timer *time.Timer
}

var errTooManyFrozen = errors.New("events: too many frozen identities")

// frozen says whether nodes of identity are told nothing new; the caller
// may hold r.mu.
func (r *Running) frozen(identity string) bool {
	if r.ev == nil || identity == "" {
		return false
	}
	r.ev.mu.Lock()
	defer r.ev.mu.Unlock()
	_, ok := r.ev.frozen[identity]
	return ok
}

// freeze stops telling identity's nodes anything, for ttl (0: until thawed).
// The newest quarantine decides, as in the authorizer's quarantine set.
func (r *Running) freeze(identity string, ttl time.Duration) error {
	ev := r.ev
	ev.mu.Lock()
	defer ev.mu.Unlock()
	old, ok := ev.frozen[identity]
	if !ok && len(ev.frozen) >= maxFrozen {
		return fmt.Errorf("%w (%d): release some", errTooManyFrozen, maxFrozen)
	}
	if ok && old.timer != nil {
		old.timer.Stop()
	}
	ev.gen++
	f := &freeze{gen: ev.gen}
	if ttl > 0 {
		gen := f.gen
		f.timer = time.AfterFunc(ttl, func() {
			if _, err := r.thaw(identity, gen); err != nil {
				r.log.Error().Err(err).Str("workload", identity).Msg("thawing after the quarantine's time")
			}
		})
	}
	ev.frozen[identity] = f
	return nil
}

// thaw tells identity's nodes again what they may know, from the placement
// served now; gen 0 thaws whatever freeze there is, another only that one.
// It returns how many nodes were told.
func (r *Running) thaw(identity string, gen uint64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev.mu.Lock()
	f, ok := r.ev.frozen[identity]
	if ok && (gen == 0 || f.gen == gen) {
		if f.timer != nil {
			f.timer.Stop()
		}
		delete(r.ev.frozen, identity)
	}
	r.ev.mu.Unlock()
	if !ok || gen != 0 && f.gen != gen {
		return 0, nil
	}
	n, m := 0, memo{}
	for _, node := range r.nodes {
		if node.identity != identity {
			continue
		}
		if err := r.publishNodeMemo(context.Background(), node, r.served, m); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// nodesOf counts the known nodes of identity.
func (r *Running) nodesOf(identity string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, node := range r.nodes {
		if node.identity == identity {
			n++
		}
	}
	return n
}

// frozenNodes counts the known nodes told nothing new.
func (r *Running) frozenNodes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, node := range r.nodes {
		if r.frozen(node.identity) {
			n++
		}
	}
	return n
}
