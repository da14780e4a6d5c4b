package sharedstate

import (
	"bytes"
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/quarantine"
)

// relist reads the whole prefix at one revision, page by page, and makes it
// the state; it returns the revision to watch after.
func (s *Store) relist(ctx context.Context) (int64, error) {
	shared := map[string]quarantine.Entry{}
	var rev, epochRev int64
	var cluster uint64
	key, end := s.cfg.Prefix, clientv3.GetPrefixRangeEnd(s.cfg.Prefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev)) // every page from the same revision
		}
		resp, err := s.c.Get(ctx, key, opts...)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev, cluster = resp.Header.Revision, resp.Header.ClusterId
		}
		for _, kv := range resp.Kvs {
			if string(kv.Key) == s.epochKey {
				epochRev = kv.ModRevision
				continue
			}
			if e, err := decodeEntry(s.cfg.Prefix, kv.Key, kv.Value); err == nil {
				shared[e.Workload] = e
			} else {
				s.refuse(kv.Key, err)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(append(bytes.Clone(resp.Kvs[len(resp.Kvs)-1].Key), 0))
	}
	s.relists.Add(1)
	s.replace(shared, epochRev, cluster)
	return rev, nil
}

func (s *Store) refuse(key []byte, err error) {
	s.refused.Add(1)
	// The key may be hostile too: its length and the reason, not its bytes.
	s.cfg.Log.Error().Int("key_bytes", len(key)).Err(err).Msg("shared state: record refused")
}

// replace makes a listing the state, telling the set only what differs.
func (s *Store) replace(shared map[string]quarantine.Entry, epochRev int64, cluster uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instance == "" {
		s.instance = instanceName(cluster, s.cfg.Prefix)
	}
	old := s.effectiveLocked()
	s.shared = shared
	s.advanceLocked(epochRev)
	now := s.effectiveLocked()
	for w, e := range now {
		if o, ok := old[w]; !ok || !sameEntry(o, e) {
			s.set.Put(e)
		}
	}
	for w := range old {
		if _, ok := now[w]; !ok {
			s.set.Release(w)
		}
	}
}

func (s *Store) effectiveLocked() map[string]quarantine.Entry {
	m := make(map[string]quarantine.Entry, len(s.shared)+len(s.overlay))
	for w, e := range s.shared {
		m[w] = e
	}
	for w, p := range s.overlay {
		m[w] = p.e
	}
	return m
}

func (s *Store) effective(w string) (quarantine.Entry, bool) {
	if p, ok := s.overlay[w]; ok {
		return p.e, true
	}
	e, ok := s.shared[w]
	return e, ok
}

func sameEntry(a, b quarantine.Entry) bool {
	return a.Workload == b.Workload && a.Reason == b.Reason && a.Score == b.Score &&
		a.Since.Equal(b.Since) && a.Expires.Equal(b.Expires)
}

// change applies f to the state and tells the set what it did to w.
func (s *Store) changeLocked(w string, f func()) {
	before, had := s.effective(w)
	f()
	after, has := s.effective(w)
	switch {
	case has && (!had || !sameEntry(before, after)):
		s.set.Put(after)
	case had && !has:
		s.set.Release(w)
	}
}

// advanceLocked records that the state includes the epoch key at rev, and
// drops the changes made here that it includes.
func (s *Store) advanceLocked(rev int64) {
	if rev > s.applied {
		s.applied = rev
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
	for w, p := range s.overlay {
		if p.wrote != 0 && p.wrote <= s.applied {
			s.changeLocked(w, func() { delete(s.overlay, w) })
		}
	}
	if s.policy != nil && s.policy.wrote != 0 && s.policy.wrote <= s.applied {
		s.policy = nil
	}
	s.setEpochLocked()
}

// watch applies changes from rev on; whenever the watch ends (etcd lost its
// leader, compacted past it, the client gave up), it lists again and goes on
// from there. etcd's client resumes a broken stream by itself.
func (s *Store) watch(ctx context.Context, rev int64) {
	defer s.wg.Done()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if rev == 0 {
			var err error
			if rev, err = s.relist(ctx); err != nil {
				s.cfg.Log.Warn().Err(err).Msg("shared state: listing again failed; serving the last state")
				sleep(ctx, backoff)
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
		}
		rev = s.follow(ctx, rev)
	}
}

// follow applies one watch until it ends; it returns the revision to resume
// from, or 0 to list again.
func (s *Store) follow(ctx context.Context, rev int64) int64 {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.c.Watch(wctx, s.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if resp.CompactRevision != 0 || resp.Canceled || resp.Err() != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn().Err(resp.Err()).Int64("compacted", resp.CompactRevision).Msg("shared state: watch ended; listing again")
			}
			return 0
		}
		s.apply(resp.Events)
	}
	return 0
}

// apply applies one revision's events (etcd never splits them) at once.
func (s *Store) apply(events []*clientv3.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	epochRev := int64(0)
	for _, ev := range events {
		if string(ev.Kv.Key) == s.epochKey {
			epochRev = max(epochRev, ev.Kv.ModRevision)
			s.confirmLocked(string(ev.Kv.Value), ev.Kv.ModRevision)
			continue
		}
		w, err := workloadOfKey(s.cfg.Prefix, ev.Kv.Key)
		if err != nil {
			s.refuse(ev.Kv.Key, err)
			continue
		}
		if ev.Type == mvccpb.DELETE {
			s.changeLocked(w, func() { delete(s.shared, w) })
			continue
		}
		e, err := decodeEntry(s.cfg.Prefix, ev.Kv.Key, ev.Kv.Value)
		if err != nil {
			// What etcd holds for w is not a quarantine: w is not quarantined.
			s.refuse(ev.Kv.Key, err)
			s.changeLocked(w, func() { delete(s.shared, w) })
			continue
		}
		s.changeLocked(w, func() { s.shared[w] = e })
	}
	s.advanceLocked(epochRev)
}

// confirmLocked marks the change whose write put token as taken at rev, so
// that this revision's epoch already counts it as shared. (Waiting for the
// write's answer instead would leave this replica one local change above
// the others for the revision.)
func (s *Store) confirmLocked(token string, rev int64) {
	if s.policy != nil && s.policy.token == token {
		s.policy.wrote = rev
	}
	for _, p := range s.overlay {
		if p.token == token {
			p.wrote = rev
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
