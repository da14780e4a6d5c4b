package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/e2e/etcdtest"
	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/ebpf-agent/verdict"
)

// haCaller is orders' sidecar (the real filter) behind a round robin over
// some replicas, calling as the frontend.
type haCaller struct {
	rr   *roundRobin
	call func(path string) (code int, reason string, checks int)
}

func newHACaller(t *testing.T, rs ...*haReplica) *haCaller {
	var addrs []string
	for _, r := range rs {
		addrs = append(addrs, r.HTTPAddr.String())
	}
	rr := newRoundRobin(t, addrs...)
	m := startSidecar(t, fmt.Sprintf(ordersConfig, ""), rr.srv.URL)
	c := m.client(t, system.Frontend)
	h := &haCaller{rr: rr}
	h.call = func(path string) (int, string, int) {
		before := sum(rr.counts())
		code, reason, _ := get(t, c, "https://"+m.sidecar.Addr.String()+path)
		return code, reason, sum(rr.counts()) - before
	}
	return h
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// The attack: the frontend's hot edge to orders is in the filter's warm
// cache; a verdict reaches replica 1 only, which no filter here asks. Every
// replica must apply it, and the filter, which asks replicas 2 and 3, must
// stop allowing from its cache: at the latest once both replicas applied it
// and one epoch poll was answered after that. The cache stays warm across
// replicas 2 and 3 (one instance, one epoch), which with replicas of their
// own it could not.
func TestHAQuarantineThroughReplica1DeniesOnReplica3(t *testing.T) {
	c := etcdtest.Start(t, 3)
	rs := startHA(t, c, system.Policy, 3)
	converge(t, c, rs)
	h := newHACaller(t, rs[1], rs[2])
	const hot = "/orders/42"
	if code, reason, _ := h.call(hot); code != 200 {
		t.Fatalf("before the verdict: %d %q", code, reason)
	}
	for i := range 10 {
		if code, _, checks := h.call(hot); code != 200 || checks != 0 {
			t.Fatalf("call %d after the first: %d, %d checks; the cache did not hold across replicas 2 and 3", i, code, checks)
		}
	}
	ctx := context.Background()
	t0 := time.Now()
	quarantine(t, ctx, rs[0].Running, system.Frontend)
	acked := time.Now()
	applied := false
	for calls := 0; ; calls++ {
		code, reason, _ := h.call(hot)
		if code == 403 && reason == "quarantined-source" {
			t.Logf("quarantine through replica 1 denied by the filter in front of replicas 2 and 3 %v after the verdict was sent, %v after its answer (%d calls allowed between)",
				time.Since(t0), time.Since(acked), calls)
			break
		}
		if code != 200 {
			t.Fatalf("%d %q", code, reason)
		}
		if !applied && holds(rs[1], system.Frontend) && holds(rs[2], system.Frontend) {
			applied = true
			h.rr.mu.Lock()
			polls := h.rr.polls
			h.rr.mu.Unlock()
			// The poll after the next one starts once the next one's answer
			// (from a replica that applied the change) was handled.
			h.rr.waitPolls(t, ctx, polls+2)
			continue
		}
		if applied {
			t.Fatal("replicas 2 and 3 hold the quarantine and answered an epoch poll since, yet the filter allowed from its cache")
		}
	}
}

// release asks a replica's verdict API to lift a quarantine, as an operator.
func release(ctx context.Context, r *haReplica, workload string) error {
	cc, err := grpc.NewClient(r.GRPCAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+verdictToken)
	_, err = verdictv1.NewVerdictsClient(cc).Release(ctx, &verdictv1.ReleaseRequest{Workload: workload})
	return err
}

func holds(r *haReplica, workload string) bool {
	_, ok := r.Authorizer.Engine.Quarantine().Lookup(workload)
	return ok
}

// The attack: etcd goes away entirely. Every replica keeps its quarantines
// and keeps deciding (no fail-open, no fail-closed of the innocent); a
// verdict during the outage holds at once on the replica that took it, and
// the agent hears it is not shared yet (Unavailable); a release is refused
// (else the workload would walk through that replica); when etcd returns,
// the queued quarantine reaches the other replicas and their filters.
func TestHAEtcdOutageKeepsStateAndCatchesUp(t *testing.T) {
	c := etcdtest.Start(t, 3)
	rs := startHA(t, c, system.Policy, 3)
	converge(t, c, rs)
	ctx := context.Background()
	const second = "spiffe://cluster.local/ns/shop/sa/cart"
	quarantine(t, ctx, rs[0].Running, second)
	converge(t, c, rs)
	h := newHACaller(t, rs[2])
	c.KillAll()
	if code, reason, _ := h.call("/orders/1"); code != 200 {
		t.Fatalf("an innocent call during the outage: %d %q", code, reason)
	}
	for _, r := range rs {
		if !holds(r, second) {
			t.Fatal("a replica forgot a quarantine during the outage")
		}
	}
	vc, err := verdict.Dial(rs[0].GRPCAddr.String(), verdictToken, "e2e", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	_, err = vc.Report(ctx, &verdictv1.Verdict{Workload: system.Frontend, Reason: "test", Score: 1})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a verdict during the outage: %v, want Unavailable (applied here, queued)", err)
	}
	if !holds(rs[0], system.Frontend) {
		t.Fatal("the replica that took the verdict does not hold it")
	}
	if err := release(ctx, rs[0], second); status.Code(err) != codes.Unavailable {
		t.Fatalf("a release during the outage: %v, want Unavailable", err)
	}
	if !holds(rs[0], second) {
		t.Fatal("a refused release lifted the quarantine")
	}
	if err := c.RestartAll(); err != nil {
		t.Fatal(err)
	}
	for !holds(rs[2], system.Frontend) {
		h.rr.mu.Lock()
		polls := h.rr.polls
		h.rr.mu.Unlock()
		h.rr.waitPolls(t, ctx, polls+1) // paced by the filter's polls, no timer
	}
	h.rr.mu.Lock()
	polls := h.rr.polls
	h.rr.mu.Unlock()
	h.rr.waitPolls(t, ctx, polls+2)
	if code, reason, _ := h.call("/orders/1"); code != 403 || reason != "quarantined-source" {
		t.Fatalf("after etcd returned, replica 3 answered %d %q", code, reason)
	}
}
