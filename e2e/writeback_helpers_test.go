package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshward/meshward/api/check"
	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
)

// wbReplica is one `extauthz serve --quarantine-writeback` process.
type wbReplica struct {
	id, grpcAddr, httpAddr string
	cmd                    *exec.Cmd
	logs                   *syncBuffer
}

const wbToken = "writeback-verdict-token-0123456789"

// writeKubeconfig writes what the processes need to reach the test's API.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	p := filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, cfg.Host, cfg.BearerToken)
	must(t, os.WriteFile(p, []byte(kc), 0o600))
	return p
}

// startWBReplica starts a replica and returns once it serves.
func startWBReplica(t *testing.T, bin, kubeconfig, id string) *wbReplica {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "token"), []byte(wbToken), 0o600))
	r := &wbReplica{id: id, logs: &syncBuffer{}}
	r.cmd = exec.Command(bin, "serve", "--kubeconfig", kubeconfig, "--quarantine-writeback",
		"--leader-election-id", id, "--leader-election-namespace", "istio-system", "--insecure-plaintext-checks",
		"--verdict-token-file", filepath.Join(dir, "token"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	t.Cleanup(r.kill)
	var line struct{ GRPC, HTTP string }
	startUntilServing(t, r.cmd, r.logs, "authorizer serving", &line)
	r.grpcAddr, r.httpAddr = line.GRPC, line.HTTP
	return r
}

// kill is kill -9: the Lease is not handed over.
func (r *wbReplica) kill() { killProcess(r.cmd) }

// reason is the reason of the replica's decision on a call from source.
func (r *wbReplica) reason(t *testing.T, source string) string {
	t.Helper()
	body, _ := json.Marshal(check.Request{SourcePrincipal: source, Destination: "spiffe://cluster.local/ns/shop/sa/orders",
		DestinationLabels: map[string]string{"app": "orders"}, Method: "GET", Path: "/orders/1"})
	resp, err := http.Post("http://"+r.httpAddr+check.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out check.Response
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Reason
}

// verdict quarantines (ttl 0: until released) or releases workload through
// the replica's verdict API.
func (r *wbReplica) verdict(t *testing.T, workload string, ttl time.Duration, release bool) {
	t.Helper()
	cc, err := grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	defer cc.Close()
	c := verdictv1.NewVerdictsClient(cc)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+wbToken)
	if release {
		_, err = c.Release(ctx, &verdictv1.ReleaseRequest{Workload: workload})
	} else {
		_, err = c.Report(ctx, &verdictv1.Verdict{Workload: workload, Reason: "exec-shell", Score: 1, TtlSeconds: int64(ttl / time.Second)})
	}
	must(t, err)
}

// leaseHolder is the holder of the write-back's Lease ("" if none).
func leaseHolder(ctx context.Context, cs kubernetes.Interface) string {
	l, err := cs.CoordinationV1().Leases("istio-system").Get(ctx, "meshward-authorizer-writeback", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// wbWait polls cond until it holds; the bound only ends a test that
// would otherwise hang, it measures nothing.
func wbWait(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func byID(rs []*wbReplica, id string) *wbReplica {
	for _, r := range rs {
		if r.id == id {
			return r
		}
	}
	return nil
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
