package e2e

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/e2e/etcdtest"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/extauthz/sharedstate"
)

// haReplica is one authorizer replica on the shared etcd.
type haReplica struct {
	*server.Running
	store *sharedstate.Store
}

// startHA runs n authorizer replicas with the policies of yaml, sharing
// their state through etcd (each with a client of its own, authenticated by
// a certificate of the cluster's CA).
func startHA(t *testing.T, c *etcdtest.Cluster, yaml string, n int) []*haReplica {
	t.Helper()
	var rs []*haReplica
	for range n {
		set, err := policy.Parse("e2e.yaml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := clientv3.New(c.Config())
		if err != nil {
			t.Fatal(err)
		}
		st := sharedstate.New(sharedstate.Config{Client: cl, Replica: "r" + string(rune('1'+len(rs))), Log: zerolog.Nop()})
		r, err := server.Start(server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			InsecurePlaintextChecks: true, VerdictToken: []byte(verdictToken), Log: zerolog.Nop(), Shared: st})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Stop(); st.Close(); cl.Close() })
		rs = append(rs, &haReplica{Running: r, store: st})
	}
	return rs
}

// converge waits until every replica applied everything in etcd now.
func converge(t *testing.T, c *etcdtest.Cluster, rs []*haReplica) {
	t.Helper()
	ctx := context.Background()
	resp, err := c.Client(t).Get(ctx, rs[0].store.EpochKey())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the epoch key: %v %v", resp, err)
	}
	for _, r := range rs {
		if err := r.store.WaitRevision(ctx, resp.Kvs[0].ModRevision); err != nil {
			t.Fatal(err)
		}
	}
}
