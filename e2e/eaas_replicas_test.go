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
func TestEaaSBetaReplicasDieUnderLoad(t *testing.T) {
	p := newAuthzProc(t)
	etcd, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrMissing) {
		t.Skip("etcd is not installed (make etcd installs Debian's etcd-server)")
	}
	must(t, err)
	t.Cleanup(etcd.Kill)
	onEtcd := []string{"--etcd", etcd.Endpoint()}
	km := []*replica{p.startReplica(t, "km-1", "keymanager", onEtcd...), p.startReplica(t, "km-2", "keymanager", onEtcd...)}
	cr := []*replica{p.startReplica(t, "cr-1", "cryptor"), p.startReplica(t, "cr-2", "cryptor")}
	co := p.startReplica(t, "co-1", "registrar,coordinator", append(onEtcd, "--http-addr", "127.0.0.1:0",
		"--keymanagers", km[0].addr+","+km[1].addr, "--cryptors", cr[0].addr+","+cr[1].addr)...)
	p.eaasAddr, p.httpAddr = co.addr, co.http
	reg, coord, ctx := p.operator()
	_, err = reg.Register(ctx, &eaasv1.RegisterRequest{Subscriber: 7, DeceptionFactor: 3,
		Members: []*eaasv1.Member{{Principal: "cluster.local/ns/shop/sa/a"}, {Principal: "cluster.local/ns/shop/sa/b"}}})
	must(t, err)
	ca, sa := p.requester(identity.SPIFFE("shop", "a"))
	cb, sb := p.requester(identity.SPIFFE("shop", "b"))

	var ok, failed, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				plain := []byte(fmt.Sprintf("worker %d message %d", w, n))
				got, err := exchange(ca, sa, cb, sb, plain)
				switch {
				case err != nil:
					failed.Add(1)
				case !bytes.Equal(got, plain):
					wrong.Add(1)
				default:
					ok.Add(1)
				}
			}
		}()
	}
	waitFor(t, func() bool { return ok.Load() >= 100 })
	km[0].kill()
	cr[1].kill()
	before := ok.Load()
	waitFor(t, func() bool { return ok.Load() >= before+200 })
	close(stop)
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d answers were wrong", wrong.Load())
	}
	st, err := coord.Status(ctx, &eaasv1.StatusRequest{})
	must(t, err)
	var failures uint64
	for _, r := range st.GetReplicas() {
		failures += r.GetFailures()
	}
	if failures == 0 {
		t.Fatal("the coordinator counted no replica failure")
	}
	t.Logf("β with one key manager and one cryptor killed: %d exchanges ok, %d failed cleanly, 0 wrong; %d replica failures counted",
		ok.Load(), failed.Load(), failures)
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
