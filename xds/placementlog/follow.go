package placementlog

import (
	"context"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/xds/rotation"
)

// Follow hands apply every placement recorded after revision rev, in
// order, until ctx ends. After a compaction or an outage it starts again
// from the head (a follower needs the latest placement, not every one).
// A record that does not decode is reported to bad and skipped.
func (l *Log) Follow(ctx context.Context, rev int64, apply func(rotation.State), bad func(error)) {
	for ctx.Err() == nil {
		rev = l.follow(ctx, rev, apply, bad)
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		st, r, ok, err := l.Head(ctx)
		switch {
		case err != nil:
			bad(err)
		case ok:
			apply(st)
			rev = r
		default:
			rev = r
		}
	}
}

// follow watches the head from rev; it returns the revision reached when
// the watch ends.
func (l *Log) follow(ctx context.Context, rev int64, apply func(rotation.State), bad func(error)) int64 {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range l.cli.Watch(wctx, l.headKey(), clientv3.WithRev(rev+1)) {
		if wr.Err() != nil {
			return rev
		}
		for _, ev := range wr.Events {
			rev = ev.Kv.ModRevision
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			v, err := strconv.ParseUint(string(ev.Kv.Value), 10, 64)
			if err != nil {
				bad(err)
				continue
			}
			r, err := l.cli.Get(ctx, l.versionKey(v), clientv3.WithRev(rev))
			if err != nil || len(r.Kvs) == 0 {
				return rev - 1 // read it again from the head
			}
			st, err := decode(v, r.Kvs[0].Value)
			if err != nil {
				bad(err)
				continue
			}
			apply(st)
		}
	}
	return rev
}
