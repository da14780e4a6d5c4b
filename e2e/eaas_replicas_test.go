package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdtest"
	"github.com/meshward/meshward/extauthz/eaas/requester"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// replica is one `extauthz eaas serve` process.
type replica struct {
	cmd        *exec.Cmd
	addr, http string
}

// startReplica runs roles as their own process and waits for its listeners.
func (p *authzProc) startReplica(t *testing.T, name, roles string, extra ...string) *replica {
	t.Helper()
	args := append([]string{"eaas", "serve", "--roles", roles, "--name", name, "--addr", "127.0.0.1:0",
		"--tls-cert", p.file("cert.pem"), "--tls-key", p.file("key.pem"), "--client-ca", p.file("ca.pem"),
		"--token-file", p.file("token"), "--kek-file", p.file("kek.json")}, extra...)
	r := &replica{cmd: exec.Command(p.bin, args...)}
	stderr, err := r.cmd.StderrPipe()
	must(t, err)
	must(t, r.cmd.Start())
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	wantHTTP := strings.Contains(strings.Join(extra, " "), "--http-addr")
	sc := bufio.NewScanner(stderr)
	var tail []string
	for (r.addr == "" || (wantHTTP && r.http == "")) && sc.Scan() {
		tail = append(tail, sc.Text())
		var line struct{ Message, Addr, HTTP string }
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Message {
		case "eaas roles serving":
			r.addr = line.Addr
		case "eaas http serving":
			r.http = line.HTTP
		}
	}
	if r.addr == "" {
		t.Fatalf("replica %s exited before serving:\n%s", name, strings.Join(tail, "\n"))
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	return r
}

func (r *replica) kill() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() }

// Scenario β as real processes: one coordinator, two key managers and two
// cryptors, keys shared through etcd. One key manager and one cryptor are
// killed with SIGKILL under load: requests move to the survivors, none is
// answered wrongly, and the failures are counted by the coordinator.
func TestEaaSBetaReplicasDieUnderLoad(t *testing.T) { replicasDieUnderLoad(t, 1, 2, 1) }

// Scenario λ: five of each role (a registrar spreads five subscribers over
// the five coordinators); two key managers and two cryptors die.
func TestEaaSLambdaReplicasDieUnderLoad(t *testing.T) { replicasDieUnderLoad(t, 5, 5, 2) }

func replicasDieUnderLoad(t *testing.T, coordinators, workers, kill int) {
	p := newAuthzProc(t)
	etcd, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrMissing) {
		t.Skip("etcd is not installed (make etcd installs Debian's etcd-server)")
	}
	must(t, err)
	t.Cleanup(etcd.Kill)
	onEtcd := []string{"--etcd", etcd.Endpoint()}
	var km, cr []*replica
	var kmAddrs, crAddrs []string
	for i := range workers {
		km = append(km, p.startReplica(t, fmt.Sprintf("km-%d", i), "keymanager", onEtcd...))
		cr = append(cr, p.startReplica(t, fmt.Sprintf("cr-%d", i), "cryptor"))
		kmAddrs, crAddrs = append(kmAddrs, km[i].addr), append(crAddrs, cr[i].addr)
	}
	coords := map[string]*replica{}
	var coAddrs []string
	for i := range coordinators {
		name := fmt.Sprintf("co-%d", i)
		coords[name] = p.startReplica(t, name, "coordinator", append(onEtcd, "--http-addr", "127.0.0.1:0",
			"--keymanagers", strings.Join(kmAddrs, ","), "--cryptors", strings.Join(crAddrs, ","))...)
		coAddrs = append(coAddrs, coords[name].addr)
	}
	registrar := p.startReplica(t, "registrar", "registrar", "--coordinators", strings.Join(coAddrs, ","))
	p.eaasAddr = registrar.addr
	reg, _, ctx := p.operator()
	var pairs []*loadPair
	for sub := range uint32(coordinators) {
		ns := fmt.Sprintf("tenant%d", sub)
		resp, err := reg.Register(ctx, &eaasv1.RegisterRequest{Subscriber: 10 + sub, DeceptionFactor: 3,
			Members: []*eaasv1.Member{{Principal: "cluster.local/ns/" + ns + "/sa/a"}, {Principal: "cluster.local/ns/" + ns + "/sa/b"}}})
		must(t, err)
		co := coords[resp.GetCoordinator()]
		p.httpAddr = co.http
		lp := &loadPair{coordinator: co}
		lp.ca, lp.sa = p.requester(identity.SPIFFE(ns, "a"))
		lp.cb, lp.sb = p.requester(identity.SPIFFE(ns, "b"))
		pairs = append(pairs, lp)
	}
	if len(pairs) > 1 && pairs[0].coordinator == pairs[1].coordinator {
		t.Fatal("the registrar put two subscribers on one coordinator while others had none")
	}
	var ok, failed, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, lp := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lp.run(w, stop, &ok, &failed, &wrong)
		}()
	}
	waitFor(t, func() bool { return ok.Load() >= 100 })
	for i := range kill {
		km[i].kill()
		cr[workers-1-i].kill()
	}
	before := ok.Load()
	waitFor(t, func() bool { return ok.Load() >= before+200 })
	close(stop)
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d answers were wrong", wrong.Load())
	}
	failures := replicaFailures(t, p, coords)
	if failures == 0 {
		t.Fatal("the coordinators counted no replica failure")
	}
	t.Logf("%d coordinators, %d key managers, %d cryptors; %d of each worker role killed: %d exchanges ok, %d failed cleanly, 0 wrong; %d replica failures counted",
		coordinators, workers, workers, kill, ok.Load(), failed.Load(), failures)
}

// loadPair is one subscriber's two requesters at their coordinator.
type loadPair struct {
	coordinator *replica
	ca, cb      rpc.RequesterClient
	sa, sb      *requester.Session
}

func (lp *loadPair) run(w int, stop chan struct{}, ok, failed, wrong *atomic.Int64) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		plain := []byte(fmt.Sprintf("worker %d message %d", w, n))
		got, err := exchange(lp.ca, lp.sa, lp.cb, lp.sb, plain)
		switch {
		case err != nil:
			failed.Add(1)
		case !bytes.Equal(got, plain):
			wrong.Add(1)
		default:
			ok.Add(1)
		}
	}
}

func replicaFailures(t *testing.T, p *authzProc, coords map[string]*replica) uint64 {
	var failures uint64
	for _, co := range coords {
		p.eaasAddr = co.addr
		_, coord, ctx := p.operator()
		st, err := coord.Status(ctx, &eaasv1.StatusRequest{})
		must(t, err)
		for _, r := range st.GetReplicas() {
			failures += r.GetFailures()
		}
	}
	return failures
}

// exchange encrypts plain as a for b and has b decrypt it.
func exchange(ca rpc.RequesterClient, sa *requester.Session, cb rpc.RequesterClient, sb *requester.Session, plain []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	batch, err := sa.EncryptBatch(sb.E.Requester, plain)
	if err != nil {
		return nil, err
	}
	ans, err := ca.Send(ctx, batch)
	if err != nil {
		return nil, err
	}
	env, err := sa.Envelope(ans)
	if err != nil {
		return nil, err
	}
	batch, err = sb.DecryptBatch(sa.E.Requester, env)
	if err != nil {
		return nil, err
	}
	ans, err = cb.Send(ctx, batch)
	if err != nil {
		return nil, err
	}
	return sb.Plaintext(ans)
}

// waitFor polls cond: the load runs as fast as the machine lets it, so the
// test waits for progress, not for time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("no progress in 3 minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
