package sharedstate

import (
	"context"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/quarantine"
)

// maxTxnOps is etcd's default --max-txn-ops.
const maxTxnOps = 128

// Seed writes n quarantines (workloads base0 .. base<n-1>, no TTL) under
// prefix in transactions of etcd's largest size, and moves the epoch: for
// benchmarks and load tests of many quarantined workloads.
func Seed(ctx context.Context, cl *clientv3.Client, prefix string, n int, base string) error {
	now := time.Now()
	for i := 0; i < n; {
		ops := make([]clientv3.Op, 0, maxTxnOps)
		for ; i < n && len(ops) < maxTxnOps-1; i++ {
			e := quarantine.Entry{Workload: base + strconv.Itoa(i), Reason: "seed", Since: now}
			v, err := encodeEntry(e)
			if err != nil {
				return err
			}
			ops = append(ops, clientv3.OpPut(quarantineKey(prefix, e.Workload), string(v)))
		}
		ops = append(ops, clientv3.OpPut(prefix+epochPart, "seed"))
		if _, err := cl.Txn(ctx).Then(ops...).Commit(); err != nil {
			return err
		}
	}
	return nil
}
