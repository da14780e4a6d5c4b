package filter

import "time"

// decisionCache keeps the authorizer's answers for a short time so that a
// hot edge costs no callout. Entries belong to an epoch: when the authorizer
// reports a new one (a policy or quarantine change), every entry is dropped.
// If the epoch has not been confirmed recently (the poll failed), the cache is
// not used at all, so a missed change cannot keep an allow alive.
type decisionCache struct {
	entries    map[string]cached
	max        int
	epoch      uint64
	confirmed  time.Time // when the epoch was last confirmed
	staleAfter time.Duration
}

type cached struct {
	allow   bool
	reason  string
	rule    string
	expires time.Time
}

func newDecisionCache(max int, staleAfter time.Duration) *decisionCache {
	return &decisionCache{entries: map[string]cached{}, max: max, staleAfter: staleAfter}
}

// get returns a fresh entry, if the epoch is confirmed.
func (c *decisionCache) get(key string, now time.Time) (cached, bool) {
	if c.max == 0 || now.Sub(c.confirmed) > c.staleAfter {
		return cached{}, false
	}
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return cached{}, false
	}
	return e, true
}

// put stores an answer of epoch; an answer from an older epoch is not kept.
func (c *decisionCache) put(key string, e cached, epoch uint64, now time.Time) {
	c.observe(epoch, now)
	if c.max == 0 || epoch < c.epoch {
		return
	}
	if len(c.entries) >= c.max {
		clear(c.entries) // simple and bounded; a full cache refills from hot edges first
	}
	c.entries[key] = e
}

// observe records an epoch the authorizer reported at now. Epochs only move
// forward: an answer that was decided before a change carries the older
// epoch and neither confirms nor refills the cache.
func (c *decisionCache) observe(epoch uint64, now time.Time) {
	switch {
	case epoch < c.epoch:
		return
	case epoch > c.epoch:
		clear(c.entries)
		c.epoch = epoch
	}
	c.confirmed = now
}
