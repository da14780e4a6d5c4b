package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshward/meshward/internal/identity"
)

func TestXDSEventFlags(t *testing.T) {
	dir := t.TempDir()
	file := func(n string) string { return filepath.Join(dir, n) }
	ca, _ := identity.NewCA()
	cert, _ := ca.Issue("spiffe://cluster.local/ns/meshward/sa/extauthz")
	if err := ca.WritePEM(cert, file("ca.pem"), file("cert.pem"), file("key.pem")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file("short"), []byte("short\n"), 0o600)
	os.WriteFile(file("token"), []byte("0123456789abcdef-xds\n"), 0o600)
	for _, tc := range []struct {
		name string
		f    xdsEventFlags
		want string
	}{
		{"a token without a URL", xdsEventFlags{tokenFile: file("token")}, "without --xds-events-url"},
		{"a short token", xdsEventFlags{url: "http://127.0.0.1:1", tokenFile: file("short")}, "want at least 16"},
		{"a missing token file", xdsEventFlags{url: "http://127.0.0.1:1", tokenFile: file("none")}, "no such file"},
	} {
		if _, err := tc.f.config(file("cert.pem"), file("key.pem"), file("ca.pem")); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	cfg, err := (&xdsEventFlags{url: "https://127.0.0.1:18001"}).config(file("cert.pem"), file("key.pem"), file("ca.pem"))
	if err != nil || cfg.TLS == nil || len(cfg.TLS.Certificates) != 1 || cfg.Token != nil {
		t.Fatalf("mutual TLS: %+v %v", cfg, err)
	}
	if cfg, err := (&xdsEventFlags{}).config("", "", ""); cfg != nil || err != nil {
		t.Fatalf("no flags: %+v %v", cfg, err)
	}
	if out, err := run("", "serve", "--help"); err != nil || !strings.Contains(out, "--xds-events-url") {
		t.Fatalf("%v %s", err, out)
	}
}
