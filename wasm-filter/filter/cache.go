package filter

import "time"

// decisionCache keeps the authorizer's answers for a short time so that a
// hot edge costs no callout. Entries belong to one epoch of one authorizer
// instance: when that instance reports a new epoch (a policy or quarantine
// change), or another instance answers, every entry is dropped. Replicas
// keep quarantine sets of their own, so their epochs say nothing of each
// other: an answer from an instance other than the confirmed one is not
// kept, and epochs of different instances are never compared. If the epoch
// has not been confirmed recently (the poll failed), the cache is not used
// at all, so a missed change cannot keep an allow alive.
type decisionCache struct {
	entries    map[string]cached
	max        int
	instance   string // "" until an instance is confirmed
	epoch      uint64
	confirmed  time.Time // when the epoch was last confirmed
	staleAfter time.Duration
}

type cached struct {
	allow   bool
	reason  string
	rule    string
	encrypt bool // the EaaS obligation
	expires time.Time
}

// maxKeyBytes bounds what one entry holds: a path may be tens of KiB, and
// 10,000 of those would exhaust the VM. Such rare requests are not cached.
const maxKeyBytes = 2 << 10

func newDecisionCache(max int, staleAfter time.Duration) *decisionCache {
	return &decisionCache{entries: map[string]cached{}, max: max, staleAfter: staleAfter}
}

// get returns a fresh entry, if the epoch is confirmed.
func (c *decisionCache) get(key string, now time.Time) (cached, bool) {
	if c.max == 0 || c.instance == "" || now.Sub(c.confirmed) > c.staleAfter {
		return cached{}, false
	}
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return cached{}, false
	}
	return e, true
}

// put stores an answer of an instance's epoch. An answer from another
// instance than the confirmed one, or from an older epoch, is not kept; the
// first instance to answer is confirmed by its answer.
func (c *decisionCache) put(key string, e cached, instance string, epoch uint64, now time.Time) {
	same := instance != "" && (instance == c.instance || c.instance == "")
	c.observe(instance, epoch, now)
	if !same || c.max == 0 || epoch != c.epoch || len(key) > maxKeyBytes {
		return
	}
	if len(c.entries) >= c.max {
		clear(c.entries) // simple and bounded; a full cache refills from hot edges first
	}
	c.entries[key] = e
}

// observe records an epoch an instance reported at now. Within an instance
// epochs only move forward: an answer decided before a change carries the
// older epoch and neither confirms nor refills the cache. Another instance
// takes over with whatever epoch it has, and the entries are dropped.
func (c *decisionCache) observe(instance string, epoch uint64, now time.Time) {
	switch {
	case instance == "":
		return // an answer that names no instance confirms nothing
	case instance != c.instance:
		clear(c.entries)
		c.instance, c.epoch = instance, epoch
	case epoch < c.epoch:
		return
	case epoch > c.epoch:
		clear(c.entries)
		c.epoch = epoch
	}
	c.confirmed = now
}
