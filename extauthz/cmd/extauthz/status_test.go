package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/identity"
)

const statusToken = "status-token-0123456789abcdef"

// statusRig is two authorizer replicas over mutual TLS with one mesh CA,
// the first with EaaS, and the files an operator holds.
type statusRig struct {
	ca                   *identity.CA
	a, b                 *server.Running
	eaas                 *roles.Running
	caFile, token, wrong string
	certFile, keyFile    string
	authzID              string
}

func startStatusRig(t *testing.T) *statusRig {
	t.Helper()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &statusRig{ca: ca, authzID: identity.SPIFFE("meshward-system", "meshward-authz"),
		caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "op.pem"), keyFile: filepath.Join(dir, "op-key.pem"),
		token: writeFile(t, dir, "token", statusToken), wrong: writeFile(t, dir, "wrong", "status-token-wrong-0123456789")}
	cert, err := ca.Issue(r.authzID)
	if err != nil {
		t.Fatal(err)
	}
	op, err := ca.Issue(identity.SPIFFE("meshward-system", "operator"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WritePEM(op, r.caFile, r.certFile, r.keyFile); err != nil {
		t.Fatal(err)
	}
	kek := filepath.Join(dir, "kek.json")
	if err := keymanager.GenerateKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	r.eaas, err = roles.Start(roles.Config{Addr: "127.0.0.1:0", ServerTLS: ca.ServerTLS(cert), ClientTLS: ca.ClientTLS(cert),
		StorePath: filepath.Join(dir, "keys.db"), KEKFile: kek, Log: zerolog.Nop(),
		Access: rpc.Access{Coordinators: []string{r.authzID}, Registrars: []string{r.authzID}, OperatorToken: []byte(statusToken)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.eaas.Stop)
	set, err := policy.Parse("p.yaml", []byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  selector: {matchLabels: {app: orders}}\n  rules:\n  - {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := func(mount func(*http.ServeMux)) *server.Running {
		s, err := server.Start(server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", GRPCTLS: ca.ServerTLS(cert),
			HTTPTLS: ca.ServerTLS(cert), VerdictToken: []byte(statusToken), Mount: mount, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		return s
	}
	r.a, r.b = start(r.eaas.Mount), start(nil)
	return r
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// report sends a verdict to replica s as the eBPF agent would.
func (r *statusRig) report(t *testing.T, s *server.Running, v *verdictv1.Verdict) {
	t.Helper()
	cert, err := r.ca.Issue(identity.SPIFFE("meshward-system", "ebpf-agent"))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(s.GRPCAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(r.ca.ClientTLS(cert))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+statusToken)
	if _, err := verdictv1.NewVerdictsClient(cc).Report(ctx, v); err != nil {
		t.Fatal(err)
	}
}

// Two replicas and a third address where nothing listens: the operator sees
// two of three answering, that their epochs differ (a quarantine reached
// one only: replicas that keep their own state), the quarantine with a
// hostile reason made inert, and the EaaS coordinator.
func TestStatusCommand(t *testing.T) {
	r := startStatusRig(t)
	frontend := identity.SPIFFE("shop", "frontend")
	r.report(t, r.a, &verdictv1.Verdict{Workload: frontend, Reason: "exec-shell\x1b[2J\x1b]0;owned\x07", Score: 1, TtlSeconds: 600})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	out, err := run("", "status", "--ca", r.caFile, "--token-file", r.token, "--addr", r.a.HTTPAddr.String(),
		"--addr", r.b.HTTPAddr.String(), "--addr", deadAddr, "--eaas-addr", r.eaas.Addr.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"replicas: 2 of 3 answering; epochs differ", deadAddr + "  no answer:", "quarantined: 1\n",
		frontend + "  exec-shell?[2J?]0;owned?", "last policy error: none since start", "eaas coordinator eaas-0: 0 subscribers",
		"keymanager keymanager-local: healthy"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("status output carries terminal escapes:\n%q", out)
	}
}

// The attacks: a wrong token gets nothing (and the command fails); without
// the mesh CA the token is not sent to an address off this host; a server
// whose certificate the mesh CA did not sign (a workload that took the
// authorizer's address) never sees the token.
func TestStatusCommandRefuses(t *testing.T) {
	r := startStatusRig(t)
	out, err := run("", "status", "--ca", r.caFile, "--token-file", r.wrong, "--addr", r.a.HTTPAddr.String())
	if err == nil || !strings.Contains(out, "HTTP 401 (the token was refused)") {
		t.Fatalf("a wrong token: %v\n%s", err, out)
	}
	if _, err := run("", "status", "--token-file", r.token, "--addr", "10.20.30.40:8181"); err == nil ||
		!strings.Contains(err.Error(), "without --ca the token would cross the network in plain") {
		t.Fatalf("plain HTTP off this host: %v", err)
	}
	var sawToken atomic.Bool
	impostor := httptest.NewTLSServer(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		sawToken.Store(req.Header.Get("Authorization") != "")
	}))
	defer impostor.Close()
	out, err = run("", "status", "--ca", r.caFile, "--token-file", r.token, "--addr", impostor.Listener.Addr().String())
	if err == nil || !strings.Contains(out, "certificate") || sawToken.Load() {
		t.Fatalf("an impostor: %v (token seen: %v)\n%s", err, sawToken.Load(), out)
	}
}

// A name stands for every address it resolves to (a headless Service's
// pods), within a bound.
func TestStatusReplicas(t *testing.T) {
	many := make([]string, maxReplicas+1)
	for i := range many {
		many[i] = "10.0.0.1"
	}
	for _, c := range []struct {
		host    string
		ips     []string
		err     error
		want    string
		wantErr string
	}{
		{host: "127.0.0.1", want: "127.0.0.1"},
		{host: "authz.meshward-system", ips: []string{"10.0.0.1", "10.0.0.2"}, want: "10.0.0.1 10.0.0.2"},
		{host: "authz", err: errors.New("no such host"), wantErr: "no such host"},
		{host: "authz", ips: many, wantErr: "at most 64"},
	} {
		f := statusFlags{resolve: func(context.Context, string) ([]string, error) { return c.ips, c.err }}
		got, err := f.replicas(context.Background(), c.host)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: %v, want %q", c.host, err, c.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("%s: %v %v, want %s", c.host, got, err, c.want)
		}
	}
}
