package sharedstate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/e2e/etcdtest"
	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

// replica is one authorizer's engine on the shared state, with its set's
// changes in a channel to wait on (no timers in the tests).
type replica struct {
	engine  *decision.Engine
	store   *Store
	changes chan quarantine.Change
}

func startReplica(t *testing.T, cl *clientv3.Client, name string) *replica {
	t.Helper()
	r := &replica{engine: decision.New(policy.NewSet(nil, nil), quarantine.New()), changes: make(chan quarantine.Change, 1024)}
	r.engine.Quarantine().OnChange(func(c quarantine.Change) { r.changes <- c })
	r.store = New(Config{Client: cl, Replica: name, Log: zerolog.Nop()})
	if err := r.store.Start(context.Background(), r.engine); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.store.Close)
	return r
}

// waitFor returns once the replica's set reports workload entering (or
// leaving) it.
func (r *replica) waitFor(t *testing.T, workload string, quarantined bool) {
	t.Helper()
	for c := range r.changes {
		if c.Entry.Workload == workload && c.Quarantined == quarantined {
			return
		}
	}
}

func client(t *testing.T, c *etcdtest.Cluster, members ...int) *clientv3.Client {
	cfg := c.Config()
	if len(members) > 0 {
		cfg.Endpoints = nil
		for _, m := range members {
			cfg.Endpoints = append(cfg.Endpoints, c.Members[m].Endpoint())
		}
	}
	cl, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

const attacker = "spiffe://cluster.local/ns/shop/sa/frontend"

// TestQuarantineReachesEveryReplica: a quarantine made through one replica
// holds on the others, which then report the same instance and epoch (so a
// filter's cache stays warm across them), and a release lifts it everywhere.
func TestQuarantineReachesEveryReplica(t *testing.T) {
	c := etcdtest.Start(t, 3)
	r1, r3 := startReplica(t, client(t, c), "r1"), startReplica(t, client(t, c), "r3")
	before := r3.engine.Epoch()
	if _, err := r1.engine.Quarantine().Quarantine(context.Background(), quarantine.Entry{Workload: attacker, Reason: "shell"}, 0); err != nil {
		t.Fatal(err)
	}
	r3.waitFor(t, attacker, true)
	if _, ok := r3.engine.Quarantine().Lookup(attacker); !ok {
		t.Fatal("replica 3 does not hold the quarantine it reported")
	}
	if d := r3.engine.Decide(&policy.Request{SourcePrincipal: attacker, Destination: "spiffe://cluster.local/ns/shop/sa/orders"}); d.Allow || d.Reason != decision.ReasonQuarantinedSource {
		t.Fatalf("replica 3 decided %+v", d)
	}
	if r3.engine.Epoch() <= before {
		t.Fatalf("replica 3's epoch %d did not move from %d", r3.engine.Epoch(), before)
	}
	waitSameEpoch(t, r1, r3)
	if r1.engine.Instance() != r3.engine.Instance() {
		t.Fatalf("instances %q and %q", r1.engine.Instance(), r3.engine.Instance())
	}
	if ok, err := r3.engine.Quarantine().Lift(context.Background(), attacker); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	r1.waitFor(t, attacker, false)
}

// waitSameEpoch waits until both replicas applied the same changes.
func waitSameEpoch(t *testing.T, a, b *replica) {
	t.Helper()
	for a.store.Epoch() != b.store.Epoch() {
		want := max(a.store.Status().Revision, b.store.Status().Revision)
		ctx := context.Background()
		_ = a.store.waitApplied(ctx, want)
		_ = b.store.waitApplied(ctx, want)
	}
}

// TestTTLEndsByLease: a quarantine's TTL is its lease: etcd deletes it and
// every replica hears of it.
func TestTTLEndsByLease(t *testing.T) {
	c := etcdtest.Start(t, 3)
	r1, r2 := startReplica(t, client(t, c), "r1"), startReplica(t, client(t, c), "r2")
	if _, err := r1.engine.Quarantine().Quarantine(context.Background(), quarantine.Entry{Workload: attacker, Reason: "scan"}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	r2.waitFor(t, attacker, true)
	r2.waitFor(t, attacker, false)
	resp, err := client(t, c).Get(context.Background(), quarantineKey(DefaultPrefix, attacker))
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("the key outlived its lease: %v %v", resp, err)
	}
}

// TestOutage: with etcd gone every replica keeps what it knew and serves; a
// quarantine holds at once where it was made and is queued (the caller
// hears so); a release is refused; when etcd returns the queued quarantine
// reaches the others.
func TestOutage(t *testing.T) {
	c := etcdtest.Start(t, 3)
	r1, r2 := startReplica(t, client(t, c), "r1"), startReplica(t, client(t, c), "r2")
	ctx := context.Background()
	const old, late = attacker, "spiffe://cluster.local/ns/shop/sa/cart"
	if _, err := r1.engine.Quarantine().Quarantine(ctx, quarantine.Entry{Workload: old, Reason: "shell"}, 0); err != nil {
		t.Fatal(err)
	}
	r2.waitFor(t, old, true)
	c.KillAll()
	before := r1.engine.Epoch()
	_, err := r1.engine.Quarantine().Quarantine(ctx, quarantine.Entry{Workload: late, Reason: "shell"}, 0)
	if !errors.Is(err, ErrNotShared) {
		t.Fatalf("quarantine during the outage: %v, want ErrNotShared", err)
	}
	if _, ok := r1.engine.Quarantine().Lookup(late); !ok || r1.engine.Epoch() <= before {
		t.Fatalf("the replica that took it does not hold it (epoch %d from %d)", r1.engine.Epoch(), before)
	}
	if ok, err := r2.engine.Quarantine().Lift(ctx, old); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("release during the outage: %v %v, want ErrUnavailable", ok, err)
	}
	for _, r := range []*replica{r1, r2} {
		if _, ok := r.engine.Quarantine().Lookup(old); !ok {
			t.Fatal("a replica forgot a quarantine during the outage")
		}
	}
	if err := c.RestartAll(); err != nil {
		t.Fatal(err)
	}
	r2.waitFor(t, late, true)
	waitSameEpoch(t, r1, r2)
	if st := r1.store.Status(); st.Unshared != 0 {
		t.Fatalf("after the outage: %+v", st)
	}
}

// TestCatchUpAfterCompaction: a replica cut off while the others changed the
// set and etcd compacted its history lists again and gets every change.
func TestCatchUpAfterCompaction(t *testing.T) {
	c := etcdtest.Start(t, 3)
	r1 := startReplica(t, client(t, c, 0, 1), "r1")
	r3 := startReplica(t, client(t, c, 2), "r3")
	ctx := context.Background()
	const gone = "spiffe://cluster.local/ns/shop/sa/gone"
	if _, err := r1.engine.Quarantine().Quarantine(ctx, quarantine.Entry{Workload: gone, Reason: "shell"}, 0); err != nil {
		t.Fatal(err)
	}
	r3.waitFor(t, gone, true)
	c.Members[2].Kill()
	cl := client(t, c, 0, 1)
	waitQuorum(cl)
	if _, err := r1.engine.Quarantine().Quarantine(ctx, quarantine.Entry{Workload: attacker, Reason: "shell"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.engine.Quarantine().Lift(ctx, gone); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Get(ctx, "compact")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if err := c.Members[2].Restart(); err != nil {
		t.Fatal(err)
	}
	r3.waitFor(t, attacker, true)
	if _, ok := r3.engine.Quarantine().Lookup(gone); ok {
		r3.waitFor(t, gone, false)
	}
	waitSameEpoch(t, r1, r3)
	if n := r3.store.Status().Relists; n < 2 {
		t.Fatalf("replica 3 listed %d times: it did not list again after the compaction", n)
	}
}

// waitQuorum returns once the members cl talks to have elected a leader
// (after one was killed, say).
func waitQuorum(cl *clientv3.Client) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cl.Get(ctx, "quorum")
		cancel()
		if err == nil {
			return
		}
	}
}

// TestHostileRecord: a record another writer of etcd put is refused and
// counted, and quarantines nobody; one that replaces a quarantine's record
// is refused too.
func TestHostileRecord(t *testing.T) {
	c := etcdtest.Start(t, 3)
	r := startReplica(t, client(t, c), "r")
	cl := client(t, c)
	ctx := context.Background()
	if _, err := cl.Put(ctx, quarantineKey(DefaultPrefix, "victim"), `{"v":1,"workload":"someone-else","reason":"x","since_ms":1}`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.engine.Quarantine().Quarantine(ctx, quarantine.Entry{Workload: attacker, Reason: "shell"}, 0); err != nil {
		t.Fatal(err)
	}
	waitRevision(t, r, cl)
	for _, w := range []string{"victim", "someone-else"} {
		if _, ok := r.engine.Quarantine().Lookup(w); ok {
			t.Fatalf("a refused record quarantined %q", w)
		}
	}
	if r.store.Status().Refused == 0 {
		t.Fatal("the refused record was not counted")
	}
}

// waitRevision waits until r applied everything etcd holds now (it moves
// the epoch key to know).
func waitRevision(t *testing.T, r *replica, cl *clientv3.Client) {
	t.Helper()
	resp, err := cl.Put(context.Background(), DefaultPrefix+epochPart, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.store.waitApplied(context.Background(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyChangeMovesEveryEpoch: a replica whose policies changed moves
// its own epoch at once, and every replica's once etcd took it, so no
// filter keeps answers decided under the old policies, whichever replica
// it asks. With etcd gone the replica's own epoch still moves.
func TestPolicyChangeMovesEveryEpoch(t *testing.T) {
	c := etcdtest.Start(t, 3)
	r1, r2 := startReplica(t, client(t, c), "r1"), startReplica(t, client(t, c), "r2")
	waitSameEpoch(t, r1, r2)
	before := r2.engine.Epoch()
	r1.store.PolicyApplied()
	if r1.engine.Epoch() <= before {
		t.Fatalf("the changed replica's epoch %d did not move from %d", r1.engine.Epoch(), before)
	}
	waitSameEpoch(t, r1, r2)
	if r2.engine.Epoch() <= before {
		t.Fatalf("the other replica's epoch %d did not move from %d", r2.engine.Epoch(), before)
	}
	c.KillAll()
	before = r1.engine.Epoch()
	r1.store.PolicyApplied()
	if r1.engine.Epoch() <= before || !r1.store.Status().PolicyPending {
		t.Fatalf("during the outage: epoch %d from %d, %+v", r1.engine.Epoch(), before, r1.store.Status())
	}
	if err := c.RestartAll(); err != nil {
		t.Fatal(err)
	}
	waitSameEpoch(t, r1, r2)
	if st := r1.store.Status(); st.PolicyPending || r2.engine.Epoch() <= before {
		t.Fatalf("after the outage: %+v, the other's epoch %d", st, r2.engine.Epoch())
	}
}
