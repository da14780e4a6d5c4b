// Package ratelimit keeps one token bucket per (limit, source) key, in
// bounded memory. It knows nothing of transports or policies.
package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const shards = 64

// Limiter holds the buckets.
type Limiter struct {
	seed     maphash.Seed
	perShard int
	shards   [shards]shard
	now      func() time.Time
}

type shard struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// New bounds the number of buckets to about maxKeys. When a shard is full it
// starts afresh: callers beyond the bound get a full bucket again, which errs
// on letting traffic through rather than on growing without bound.
func New(maxKeys int) *Limiter {
	l := &Limiter{seed: maphash.MakeSeed(), perShard: max(1, maxKeys/shards), now: time.Now}
	for i := range l.shards {
		l.shards[i].m = map[string]*rate.Limiter{}
	}
	return l
}

// Allow takes a token from key's bucket (rps tokens a second, burst deep),
// creating the bucket full on first use.
func (l *Limiter) Allow(key string, rps float64, burst int) bool {
	s := &l.shards[maphash.String(l.seed, key)%shards]
	s.mu.Lock()
	b, ok := s.m[key]
	if !ok {
		if len(s.m) >= l.perShard {
			clear(s.m)
		}
		b = rate.NewLimiter(rate.Limit(rps), burst)
		s.m[key] = b
	} else if b.Limit() != rate.Limit(rps) || b.Burst() != burst {
		b.SetLimitAt(l.now(), rate.Limit(rps)) // the policy changed
		b.SetBurstAt(l.now(), burst)
	}
	ok = b.AllowN(l.now(), 1)
	s.mu.Unlock()
	return ok
}

// Len counts the buckets.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
