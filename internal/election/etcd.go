package election

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Etcd elects through etcd's concurrency election: each replica holds a
// key under the prefix, bound to a session lease; the oldest key leads.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
	id     string
	ttl    int
	mu     sync.Mutex
	leader string
}

// NewEtcd campaigns under prefix (e.g. "/meshward/election/xds") as id; the
// session lease is t.LeaseDuration.
func NewEtcd(cli *clientv3.Client, prefix, id string, t Timing) (*Etcd, error) {
	if err := checkNames(prefix, id, true); err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return &Etcd{cli: cli, prefix: prefix, id: id, ttl: int(t.LeaseDuration / time.Second)}, nil
}

// Run campaigns until ctx ends.
func (e *Etcd) Run(ctx context.Context, lead func(context.Context)) error {
	go e.observe(ctx)
	for ctx.Err() == nil {
		if err := e.term(ctx, lead); err != nil {
			pause(ctx) // etcd unreachable: try again
		}
	}
	return nil
}

// term is one session: campaign, lead while the session lives, resign.
func (e *Etcd) term(ctx context.Context, lead func(context.Context)) error {
	s, err := concurrency.NewSession(e.cli, concurrency.WithTTL(e.ttl), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer s.Close() // revokes the lease: followers take over at once
	el := concurrency.NewElection(s, e.prefix)
	if err := el.Campaign(ctx, e.id); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.WithValue(ctx, fenceKey{}, Fence{Key: el.Key(), Rev: el.Rev()}))
	defer cancel()
	go func() {
		select {
		case <-s.Done(): // the lease expired (partitioned from etcd): another may lead now
			cancel()
		case <-lctx.Done():
		}
	}()
	lead(lctx)
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	return el.Resign(rctx)
}

// observe follows who leads, for Leader.
func (e *Etcd) observe(ctx context.Context) {
	for ctx.Err() == nil {
		s, err := concurrency.NewSession(e.cli, concurrency.WithTTL(e.ttl), concurrency.WithContext(ctx))
		if err != nil {
			pause(ctx)
			continue
		}
		for r := range concurrency.NewElection(s, e.prefix).Observe(ctx) {
			if len(r.Kvs) > 0 {
				e.setLeader(string(r.Kvs[0].Value))
			}
		}
		s.Close()
	}
}

func (e *Etcd) setLeader(id string) {
	e.mu.Lock()
	e.leader = id
	e.mu.Unlock()
}

// Leader is the leader as last observed.
func (e *Etcd) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

// pause waits a second before trying etcd or the API server again.
func pause(ctx context.Context) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Fence is a term's election key in etcd: a write made only while the key
// still exists with its revision (clientv3.Compare(clientv3.CreateRevision(
// Key), "=", Rev)) cannot land after the term ended, however late it
// arrives.
type Fence struct {
	Key string
	Rev int64
}

type fenceKey struct{}

// FenceOf is the fence of the term whose lead context ctx is (etcd terms
// only).
func FenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}
