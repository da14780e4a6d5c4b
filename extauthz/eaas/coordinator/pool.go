package coordinator

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrNoReplica means no replica of a role could serve the request.
var ErrNoReplica = errors.New("no replica could serve")

// Unavailable marks an error as the replica's fault (down, overloaded, cut):
// the pool tries another one. Other errors are the request's own answer.
type Unavailable struct{ Err error }

func (u *Unavailable) Error() string { return "replica unavailable: " + u.Err.Error() }
func (u *Unavailable) Unwrap() error { return u.Err }

// IsUnavailable says whether err is a replica's failure.
func IsUnavailable(err error) bool {
	var u *Unavailable
	return errors.As(err, &u)
}

// Replica is one instance of a role.
type Replica[T any] struct {
	Name     string
	Client   T
	inFlight atomic.Int64
	failures atomic.Uint64
	downTill atomic.Int64 // unix nanos
}

// ReplicaState is a replica's state for status and metrics.
type ReplicaState struct {
	Role, Name string
	Healthy    bool
	InFlight   int64
	Failures   uint64
}

// Pool picks the least-loaded healthy replica and retries another one when a
// replica fails; a failed replica rests for Backoff before it is tried again
// (unless nothing else is left).
type Pool[T any] struct {
	Role     string
	Backoff  time.Duration
	replicas []*Replica[T]
	next     atomic.Uint64 // rotates ties
	now      func() time.Time
}

// NewPool makes a pool of replicas of one role.
func NewPool[T any](role string, replicas ...*Replica[T]) *Pool[T] {
	return &Pool[T]{Role: role, Backoff: time.Second, replicas: replicas, now: time.Now}
}

// Do runs fn on replicas until one does not fail as unavailable.
func (p *Pool[T]) Do(ctx context.Context, fn func(context.Context, T) error) error {
	tried := make([]bool, len(p.replicas))
	var last error
	for range p.replicas {
		r := p.pick(tried)
		if r == nil {
			break
		}
		r.inFlight.Add(1)
		err := fn(ctx, r.Client)
		r.inFlight.Add(-1)
		if !IsUnavailable(err) {
			return err
		}
		last = err
		if ctx.Err() != nil {
			// The caller gave up (or cut its connection): the replica did
			// not fail, and a caller must not be able to rest healthy ones.
			break
		}
		r.failures.Add(1)
		r.downTill.Store(p.now().Add(p.Backoff).UnixNano())
	}
	if last == nil {
		last = errors.New("no replicas configured")
	}
	return errors.Join(ErrNoReplica, last)
}

// pick prefers healthy replicas, least loaded first, rotating among equals;
// a resting one is taken only when every untried replica rests.
func (p *Pool[T]) pick(tried []bool) *Replica[T] {
	now := p.now().UnixNano()
	n := len(p.replicas)
	start := int(p.next.Add(1) % uint64(max(n, 1)))
	var best *Replica[T]
	bestIdx, bestUp := -1, false
	for k := range n {
		i := (start + k) % n
		if tried[i] {
			continue
		}
		r := p.replicas[i]
		up := r.downTill.Load() <= now
		if best == nil || (up && !bestUp) || (up == bestUp && r.inFlight.Load() < best.inFlight.Load()) {
			best, bestIdx, bestUp = r, i, up
		}
	}
	if best != nil {
		tried[bestIdx] = true
	}
	return best
}

// States reports every replica.
func (p *Pool[T]) States() []ReplicaState {
	now := p.now().UnixNano()
	out := make([]ReplicaState, 0, len(p.replicas))
	for _, r := range p.replicas {
		out = append(out, ReplicaState{Role: p.Role, Name: r.Name, Healthy: r.downTill.Load() <= now,
			InFlight: r.inFlight.Load(), Failures: r.failures.Load()})
	}
	return out
}
