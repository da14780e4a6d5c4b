// Package placementlog records in etcd the placements the leading xDS
// replica serves: each version once, in order, and only by the leader of
// the moment (every write is fenced by its election key), so a rotation
// is neither lost nor done twice across a change of leader. The other
// replicas watch the log and serve the same placements; a new leader
// starts from its last record and finishes a move left half done.
package placementlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/internal/election"
	"github.com/meshward/meshward/xds/rotation"
)

// ErrFenced: the write did not land, because the term ended or the log
// moved on (another leader recorded a version meanwhile).
var ErrFenced = errors.New("placementlog: not recorded: the term ended or the log moved on")

// Log is the placement log under a prefix.
type Log struct {
	cli    *clientv3.Client
	prefix string
}

// New is the log under prefix (e.g. "/meshward/xds/placements/").
func New(cli *clientv3.Client, prefix string) *Log { return &Log{cli: cli, prefix: prefix} }

func (l *Log) headKey() string            { return l.prefix + "head" }
func (l *Log) versionKey(v uint64) string { return fmt.Sprintf("%sv/%020d", l.prefix, v) }

// Append records st as the version after prev (0: the log is empty), in
// the term f. It fails with ErrFenced if the term is over, the head is
// not prev, or st's version is taken; st must follow prev without a gap.
func (l *Log) Append(ctx context.Context, f election.Fence, prev uint64, st rotation.State) error {
	if prev != 0 && st.Version != prev+1 || st.Version == 0 {
		return fmt.Errorf("placementlog: version %d does not follow %d", st.Version, prev)
	}
	b, err := encode(st)
	if err != nil {
		return err
	}
	head := clientv3.Compare(clientv3.CreateRevision(l.headKey()), "=", 0)
	if prev != 0 {
		head = clientv3.Compare(clientv3.Value(l.headKey()), "=", strconv.FormatUint(prev, 10))
	}
	resp, err := l.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Rev),
		head,
		clientv3.Compare(clientv3.CreateRevision(l.versionKey(st.Version)), "=", 0),
	).Then(
		clientv3.OpPut(l.versionKey(st.Version), string(b)),
		clientv3.OpPut(l.headKey(), strconv.FormatUint(st.Version, 10)),
	).Commit()
	if err != nil {
		return fmt.Errorf("placementlog: recording v%d: %w", st.Version, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w (v%d after v%d)", ErrFenced, st.Version, prev)
	}
	return nil
}

// Head is the last placement recorded (ok false: none), and the etcd
// revision to watch from.
func (l *Log) Head(ctx context.Context) (st rotation.State, rev int64, ok bool, err error) {
	h, err := l.cli.Get(ctx, l.headKey())
	if err != nil {
		return st, 0, false, fmt.Errorf("placementlog: reading the head: %w", err)
	}
	if len(h.Kvs) == 0 {
		return st, h.Header.Revision, false, nil
	}
	v, err := strconv.ParseUint(string(h.Kvs[0].Value), 10, 64)
	if err != nil {
		return st, 0, false, fmt.Errorf("placementlog: head %q: not a version", clipped(h.Kvs[0].Value))
	}
	r, err := l.cli.Get(ctx, l.versionKey(v), clientv3.WithRev(h.Header.Revision))
	if err != nil {
		return st, 0, false, fmt.Errorf("placementlog: reading v%d: %w", v, err)
	}
	if len(r.Kvs) == 0 {
		return st, 0, false, fmt.Errorf("placementlog: head names v%d, which is not recorded", v)
	}
	st, err = decode(v, r.Kvs[0].Value)
	return st, h.Header.Revision, err == nil, err
}

// Versions lists the versions recorded, in order (for audits and tests).
func (l *Log) Versions(ctx context.Context) ([]uint64, error) {
	r, err := l.cli.Get(ctx, l.prefix+"v/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	out := make([]uint64, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		v, err := strconv.ParseUint(string(kv.Key[len(l.prefix)+2:]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("placementlog: key %q: not a version", clipped(kv.Key))
		}
		out = append(out, v)
	}
	return out, nil
}
