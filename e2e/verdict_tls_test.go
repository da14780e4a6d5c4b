package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/credentials"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/verdict"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/identity"
)

// Verdicts over mutual TLS: the agent's client, with its certificate from the
// mesh CA, quarantines a workload; without a certificate, with one from
// another CA, or in plaintext, it is refused before the token is looked at.
func TestVerdictsOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	file := func(n string) string { return filepath.Join(dir, n) }
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *identity.CA, id, prefix string) {
		t.Helper()
		cert, err := ca.Issue(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.WritePEM(cert, file(prefix+"ca.pem"), file(prefix+"cert.pem"), file(prefix+"key.pem")); err != nil {
			t.Fatal(err)
		}
	}
	issue(ca, "spiffe://cluster.local/ns/meshward/sa/extauthz", "authz-")
	issue(ca, "spiffe://cluster.local/ns/meshward/sa/ebpf-agent", "agent-")
	other, _ := identity.NewCA()
	issue(other, "spiffe://cluster.local/ns/meshward/sa/ebpf-agent", "other-")

	srvTLS, err := identity.LoadServerTLS(file("authz-cert.pem"), file("authz-key.pem"), file("authz-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef"
	r, err := server.Start(server.Config{Policy: policy.NewSet(nil, nil), GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GRPCTLS: srvTLS, HTTPTLS: srvTLS, VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	report := func(cert, key string) error {
		t.Helper()
		var creds credentials.TransportCredentials
		if cert != "plaintext" {
			cfg, err := identity.LoadClientTLS(cert, key, file("agent-ca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			creds = credentials.NewTLS(cfg)
		}
		vc, err := verdict.Dial(r.GRPCAddr.String(), token, "node-1", creds)
		if err != nil {
			t.Fatal(err)
		}
		defer vc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err = vc.Report(ctx, &verdictv1.Verdict{Workload: "spiffe://cluster.local/ns/shop/sa/orders", Reason: "syscall-anomaly", Score: 0.9})
		return err
	}
	for name, files := range map[string][2]string{
		"no client certificate": {"", ""},
		"another CA's":          {file("other-cert.pem"), file("other-key.pem")},
		"plaintext":             {"plaintext", ""},
	} {
		if err := report(files[0], files[1]); err == nil {
			t.Errorf("%s: the verdict was accepted", name)
		}
	}
	if n := r.Authorizer.Engine.Quarantine().Len(); n != 0 {
		t.Fatalf("%d workloads quarantined by refused clients", n)
	}
	if err := report(file("agent-cert.pem"), file("agent-key.pem")); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if _, ok := r.Authorizer.Engine.Quarantine().Lookup("spiffe://cluster.local/ns/shop/sa/orders"); !ok {
		t.Fatal("the verdict over mutual TLS quarantined nothing")
	}
	if _, err := identity.LoadServerTLS(file("authz-cert.pem"), file("agent-key.pem"), ""); err == nil {
		t.Fatal("a certificate with another's key loaded")
	}
	if _, err := identity.LoadClientTLS("", "", file("missing.pem")); err == nil {
		t.Fatal("a missing CA loaded")
	}
}
