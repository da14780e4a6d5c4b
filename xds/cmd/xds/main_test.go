package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshward/meshward/internal/identity"
)

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, data, want string }{
		{"short", "0123456789\n", "admin token is 10 bytes, want at least 16"},
		{"huge", strings.Repeat("a", 5000), "larger than 4096 bytes"},
		{"good", "0123456789abcdef0123\n", ""},
	} {
		b, err := readToken(write(t, dir, tc.name, tc.data))
		switch {
		case tc.want == "" && (err != nil || string(b) != "0123456789abcdef0123"):
			t.Errorf("%s: %q %v", tc.name, b, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := readToken(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing token file was accepted")
	}
}

// The flags become the server's configuration: TLS from files, the token
// from its file; half a key pair is an error.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	caf, certf, keyf := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := ca.WritePEM(cert, caf, certf, keyf); err != nil {
		t.Fatal(err)
	}
	base := flags{catalog: write(t, dir, "c.yaml", "services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1}]\n"),
		adminToken: write(t, dir, "token", "0123456789abcdef0123\n")}

	f := base
	f.tlsCert, f.tlsKey, f.clientCA = certf, keyf, caf
	f.adminCert, f.adminKey, f.adminClient, f.adminAllow = certf, keyf, caf, []string{"spiffe://cluster.local/ns/ops/sa/op"}
	f.eventIDs = []string{"spiffe://cluster.local/ns/meshward-system/sa/meshward-authz"}
	cfg, err := config(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.ClientCAs == nil || cfg.Admin.TLS == nil || cfg.Admin.TLS.ClientCAs == nil ||
		string(cfg.Admin.Token) != "0123456789abcdef0123" || len(cfg.Admin.AllowIDs) != 1 || len(cfg.Admin.EventIDs) != 1 {
		t.Fatalf("config %+v", cfg)
	}

	f = base
	f.tlsCert = certf
	if _, err := config(f); err == nil || !strings.Contains(err.Error(), "--tls-cert and its key are needed together") {
		t.Fatalf("half a key pair: %v", err)
	}
	f = base
	f.adminClient = caf
	if _, err := config(f); err == nil || !strings.Contains(err.Error(), "--admin-tls-cert and its key") {
		t.Fatalf("admin client CA without a certificate: %v", err)
	}
}
