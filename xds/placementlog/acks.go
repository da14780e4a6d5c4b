package placementlog

import (
	"context"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A replica's acknowledgement: the last placement version every client
// connected to it acknowledged (or was reported behind on), under a lease
// of the replica's, so a dead replica's record goes with it. The leader's
// moves wait for the replicas' records as for their own clients.

func (l *Log) ackKey(replica string) string { return l.prefix + "acks/" + replica }

func padded(v uint64) string { return fmt.Sprintf("%020d", v) }

// Ack records that replica's clients are at version v; an older version
// never overwrites a newer one (acknowledgements may finish out of order).
func (l *Log) Ack(ctx context.Context, replica string, v uint64, lease clientv3.LeaseID) error {
	k := l.ackKey(replica)
	_, err := l.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "<", padded(v))).
		Then(clientv3.OpPut(k, padded(v), clientv3.WithLease(lease))).
		Else(clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)},
			[]clientv3.Op{clientv3.OpPut(k, padded(v), clientv3.WithLease(lease))}, nil)).Commit()
	return err
}

// WaitAcked waits until every other replica with a record has acknowledged
// version v, or the deadline; it returns the replicas behind.
func (l *Log) WaitAcked(ctx context.Context, self string, v uint64, deadline time.Time) []string {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last []string
	for {
		behind, rev, err := l.behind(dctx, self, v)
		switch {
		case err != nil && dctx.Err() != nil:
			return last // the deadline passed while reading
		case err != nil:
			return []string{"etcd: " + err.Error()}
		case len(behind) == 0 || dctx.Err() != nil:
			return behind
		}
		last = behind
		wch := l.cli.Watch(dctx, l.prefix+"acks/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		select {
		case <-wch:
		case <-dctx.Done():
		}
	}
}

// behind lists the other replicas whose record is older than v, and the
// revision read.
func (l *Log) behind(ctx context.Context, self string, v uint64) ([]string, int64, error) {
	resp, err := l.cli.Get(ctx, l.prefix+"acks/", clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, kv := range resp.Kvs {
		replica := string(kv.Key[len(l.prefix)+len("acks/"):])
		got, err := strconv.ParseUint(string(kv.Value), 10, 64)
		if replica != self && (err != nil || got < v) {
			out = append(out, replica)
		}
	}
	return out, resp.Header.Revision, nil
}

// Lease grants the replica's lease for its acknowledgements and keeps it
// alive until ctx ends.
func (l *Log) Lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	g, err := l.cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return 0, fmt.Errorf("placementlog: lease: %w", err)
	}
	ka, err := l.cli.KeepAlive(ctx, g.ID)
	if err != nil {
		return 0, fmt.Errorf("placementlog: lease: %w", err)
	}
	go func() {
		for range ka { // drained until ctx ends or the lease is lost
		}
	}()
	return g.ID, nil
}
