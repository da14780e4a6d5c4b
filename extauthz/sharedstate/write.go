package sharedstate

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/quarantine"
)

// Quarantine implements quarantine.Sharer: e holds here at once (and moves
// this replica's epoch), then goes to etcd. If etcd does not take it, it
// stays here, is written again until etcd does, and the error wraps
// ErrNotShared.
func (s *Store) Quarantine(ctx context.Context, e quarantine.Entry, _ time.Duration) (uint64, error) {
	val, err := encodeEntry(e)
	if err != nil {
		return 0, fmt.Errorf("sharedstate: %w", err)
	}
	// Held here as the others will read it back, so that etcd's copy is
	// not a change.
	if e, err = decodeEntry(s.cfg.Prefix, []byte(quarantineKey(s.cfg.Prefix, e.Workload)), val); err != nil {
		return 0, fmt.Errorf("sharedstate: %w", err)
	}
	p := &pending{e: e}
	s.mu.Lock()
	s.changeLocked(e.Workload, func() { s.overlay[e.Workload] = p })
	s.gen++
	epoch := s.setEpochLocked()
	s.mu.Unlock()
	if err := s.write(ctx, p, val); err != nil {
		s.wake()
		return epoch, fmt.Errorf("%w: %v", ErrNotShared, err)
	}
	return epoch, nil
}

// write puts p's record with a lease for what is left of its TTL, and the
// epoch key, in one transaction.
func (s *Store) write(ctx context.Context, p *pending, val []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	var opts []clientv3.OpOption
	if !p.e.Expires.IsZero() {
		left := time.Until(p.e.Expires)
		if left <= 0 {
			s.settle(p, -1)
			return nil
		}
		lease, err := s.c.Grant(ctx, int64((left+time.Second-1)/time.Second))
		if err != nil {
			return err
		}
		opts = append(opts, clientv3.WithLease(lease.ID))
	}
	tok := s.token()
	s.mu.Lock()
	p.token = tok
	s.mu.Unlock()
	resp, err := s.c.Txn(ctx).Then(clientv3.OpPut(quarantineKey(s.cfg.Prefix, p.e.Workload), string(val), opts...),
		clientv3.OpPut(s.epochKey, tok)).Commit()
	if err != nil {
		return err
	}
	s.settle(p, resp.Header.Revision)
	return nil
}

// settle records that etcd took p at rev (-1: p expired before it was
// written), dropping p if the state applied already includes it.
func (s *Store) settle(p *pending, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overlay[p.e.Workload] != p {
		return // released or replaced meanwhile
	}
	if rev < 0 {
		s.changeLocked(p.e.Workload, func() { delete(s.overlay, p.e.Workload) })
		s.setEpochLocked()
		return
	}
	p.wrote = max(p.wrote, rev)
	s.advanceLocked(0)
}

// Release implements quarantine.Sharer: it deletes the record and moves the
// epoch in one transaction, and returns once this replica applied it (or
// ctx ends). While etcd is unreachable it changes nothing and returns
// ErrUnavailable: lifting a quarantine on one replica would let the
// workload through there only.
func (s *Store) Release(ctx context.Context, workload string) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	resp, err := s.c.Txn(wctx).Then(clientv3.OpDelete(quarantineKey(s.cfg.Prefix, workload)),
		clientv3.OpPut(s.epochKey, s.cfg.Replica)).Commit()
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	released := resp.Responses[0].GetResponseDeleteRange().GetDeleted() > 0
	s.mu.Lock()
	if _, ok := s.overlay[workload]; ok {
		released = true
		s.changeLocked(workload, func() { delete(s.overlay, workload) })
		s.setEpochLocked()
	}
	s.mu.Unlock()
	_ = s.waitApplied(ctx, resp.Header.Revision) // applied here later if ctx ends first; the release stands
	return released, nil
}

// PolicyApplied moves this replica's epoch at once (its answers changed) and
// the shared epoch as soon as etcd takes it, so that every filter drops
// answers of the old policies whichever replica it asks. It never blocks.
func (s *Store) PolicyApplied() {
	s.mu.Lock()
	s.policy = &pending{}
	s.gen++
	s.setEpochLocked()
	s.mu.Unlock()
	s.wake()
}

func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// flush writes what etcd has not taken yet, when woken and then with
// backoff while something is left.
func (s *Store) flush(ctx context.Context) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		left := s.flushOnce(ctx)
		wait := time.Hour
		if left {
			wait, backoff = backoff, min(2*backoff, 2*time.Second)
		} else {
			backoff = 100 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// flushOnce tries every unwritten change once; it reports whether any is
// left.
func (s *Store) flushOnce(ctx context.Context) bool {
	s.mu.Lock()
	var todo []*pending
	for _, p := range s.overlay {
		if p.wrote == 0 {
			todo = append(todo, p)
		}
	}
	pol := s.policy
	if pol != nil && pol.wrote != 0 {
		pol = nil
	}
	s.mu.Unlock()
	left := false
	for _, p := range todo {
		val, err := encodeEntry(p.e)
		if err == nil {
			err = s.write(ctx, p, val)
		}
		left = left || err != nil
	}
	if pol != nil {
		left = s.writePolicy(ctx, pol) != nil || left
	}
	return left
}

func (s *Store) writePolicy(ctx context.Context, pol *pending) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	tok := s.token()
	s.mu.Lock()
	pol.token = tok
	s.mu.Unlock()
	resp, err := s.c.Put(ctx, s.epochKey, tok)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.policy == pol {
		pol.wrote = max(pol.wrote, resp.Header.Revision)
		s.advanceLocked(0)
	}
	return nil
}
