package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshward/meshward/api/check"
	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/extauthz/eaas/requester"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// checkAs posts the filter's check to the authorizer as orders' sidecar.
func (m *monitored) checkAs(t *testing.T, source string) check.Response {
	t.Helper()
	cert, err := m.ca.Issue(identity.SPIFFE("shop", "orders"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: m.ca.ClientTLS(cert)}}
	defer c.CloseIdleConnections()
	body, _ := json.Marshal(check.Request{SourcePrincipal: source, Destination: identity.SPIFFE("shop", "orders"),
		DestinationNamespace: "shop", DestinationLabels: map[string]string{"app": "orders"}, Method: "GET", Path: "/orders/1"})
	resp, err := c.Post("https://"+m.authz.HTTPAddr.String()+check.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out check.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("check answer (HTTP %d): %v", resp.StatusCode, err)
	}
	return out
}

// driveChecks makes an allow and a denial, and sheds a check: a caller
// holding its one slot with a gRPC check whose message never comes is
// refused a second one.
func (m *monitored) driveChecks(t *testing.T) {
	if r := m.checkAs(t, identity.SPIFFE("shop", "frontend")); !r.Allow {
		t.Fatalf("frontend -> orders: %+v", r)
	}
	if r := m.checkAs(t, identity.SPIFFE("shop", "payments")); r.Allow {
		t.Fatalf("payments -> orders allowed: %+v", r)
	}
	cc := m.authzAs(t, identity.SPIFFE("shop", "orders"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Headers go out when the stream opens; the server takes the slot then.
	if _, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true},
		"/envoy.service.auth.v3.Authorization/Check"); err != nil {
		t.Fatal(err)
	}
	_, err := authv3.NewAuthorizationClient(cc).Check(context.Background(), &authv3.CheckRequest{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second check while the first holds the caller's slot: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// drivePolicyReloads breaks the policy directory, then mends it.
func (m *monitored) drivePolicyReloads(t *testing.T) {
	put := func(name, text string) {
		tmp := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// Renamed into place, as editors save: applied at once.
		if err := os.Rename(tmp, filepath.Join(m.policyDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	put("broken.yaml", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: shop}\nspec: {action: CUSTOM}\n")
	m.waitMetric(t, "authz", `meshward_authz_policy_reloads_total{result="rejected"}`)
	if err := os.Remove(filepath.Join(m.policyDir, "broken.yaml")); err != nil {
		t.Fatal(err)
	}
	m.waitMetric(t, "authz", `meshward_authz_policy_reloads_total{result="applied"}`)
}

// driveEaaS registers a fail-closed subscriber (frontend, orders) and a
// forward-plaintext one (catalog, payments), passes a body through the
// first, then stops the cryptor replica: the first refuses, the second
// forwards in plain.
func (m *monitored) driveEaaS(t *testing.T) {
	ctx := context.Background()
	m.register(t, 54, "fail-closed", "frontend", "orders")
	m.register(t, 55, "forward-plaintext", "catalog", "payments")
	f, o := m.enrol(t, "frontend"), m.enrol(t, "orders")
	batch, err := f.s.EncryptBatch(o.s.E.Requester, []byte("card=4111"))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := f.c.Send(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	env, err := f.s.Envelope(ans)
	if err != nil {
		t.Fatal(err)
	}
	if batch, err = o.s.DecryptBatch(f.s.E.Requester, env); err != nil {
		t.Fatal(err)
	}
	if ans, err = o.c.Send(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if got, err := o.s.Plaintext(ans); err != nil || string(got) != "card=4111" {
		t.Fatalf("decrypted %q, %v", got, err)
	}
	c, p := m.enrol(t, "catalog"), m.enrol(t, "payments")
	m.cryptor.Stop()
	if batch, err = f.s.EncryptBatch(o.s.E.Requester, []byte("card=4111")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Send(ctx, batch); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("fail-closed subscriber without a cryptor: %v, want 503", err)
	}
	if batch, err = c.s.EncryptBatch(p.s.E.Requester, []byte("plain")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.Send(ctx, batch); !errors.Is(err, rpc.ErrForwardPlaintext) {
		t.Fatalf("forward-plaintext subscriber without a cryptor: %v, want the word to forward in plain", err)
	}
}

type eaasPeer struct {
	c rpc.RequesterClient
	s *requester.Session
}

func (m *monitored) enrol(t *testing.T, sa string) eaasPeer {
	cert, err := m.ca.Issue(identity.SPIFFE("shop", sa))
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.RequesterClient{Base: "https://" + m.authz.HTTPAddr.String(),
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: m.ca.ClientTLS(cert)}}}
	e, err := c.Enrol(context.Background())
	if err != nil {
		t.Fatalf("enrolling %s: %v", sa, err)
	}
	return eaasPeer{c: c, s: requester.New(e)}
}

func (m *monitored) register(t *testing.T, id uint32, onUnavailable string, a, b string) {
	cc, err := grpc.NewClient(m.roles.Addr.String(), grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: m.ca.Pool, MinVersion: tls.VersionTLS13})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+m.token)
	if _, err := eaasv1.NewRegistrarClient(cc).Register(ctx, &eaasv1.RegisterRequest{Subscriber: id, DeceptionFactor: 2,
		OnUnavailable: onUnavailable, Members: []*eaasv1.Member{
			{Principal: "cluster.local/ns/shop/sa/" + a, Hosts: []string{a}}, {Principal: "cluster.local/ns/shop/sa/" + b, Hosts: []string{b}}}}); err != nil {
		t.Fatal(err)
	}
}

// driveVerdict quarantines payments as an operator's tool would: the
// authorizer tells the xDS server, which moves what payments could reach.
func (m *monitored) driveVerdict(t *testing.T) {
	cc := m.authzAs(t, identity.SPIFFE("meshward-system", "operator"))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+m.token)
	if _, err := verdictv1.NewVerdictsClient(cc).Report(ctx, &verdictv1.Verdict{Workload: identity.SPIFFE("shop", "payments"),
		Reason: "operator", Score: 1, TtlSeconds: 600}); err != nil {
		t.Fatal(err)
	}
	m.waitMetric(t, "xds", `meshward_xds_event_moves_total{result="started"}`)
	m.waitMetric(t, "authz", `meshward_authz_xds_events_total{kind="quarantine",result="sent"}`)
}

// driveAgent runs a shell in the frontend's container: a verdict at once
// (which the authorizer refuses: the agent's token is stale), the
// container isolated, and the shell's calls in windows.
func (m *monitored) driveAgent(t *testing.T) {
	dir, err := cgroups.Open(m.agent.cgroup)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cmd := exec.Command("/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=1 count=3000 2>/dev/null")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	m.waitMetric(t, "agent", `meshward_agent_verdicts_total{outcome="failed",reason="exec-shell"}`)
	m.waitMetric(t, "agent", `meshward_agent_isolations_total{outcome="isolated"}`)
	m.waitMetric(t, "agent", `meshward_agent_windows_total{judgement="learning"`)
}

// scrape reads one component's /metrics.
func (m *monitored) scrape(component string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: m.ca.Pool, MinVersion: tls.VersionTLS13}}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, m.scrapes[component], nil)
	if err != nil {
		return "", err
	}
	if component == "xds" {
		req.Header.Set("Authorization", "Bearer "+m.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", m.scrapes[component], resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// waitMetric waits until a series whose text starts with prefix is
// scraped from component: the work that makes it runs off the caller's
// path (a reload, a queued event, the agent's reader).
func (m *monitored) waitMetric(t *testing.T, component, prefix string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, err := m.scrape(component)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, prefix) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never exported %s", component, prefix)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authzAs is a gRPC connection to the authorizer with id's mesh
// certificate, closed at the test's end.
func (m *monitored) authzAs(t *testing.T, id string) *grpc.ClientConn {
	t.Helper()
	cert, err := m.ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(m.authz.GRPCAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(m.ca.ClientTLS(cert))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}
