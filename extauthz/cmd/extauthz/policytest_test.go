package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A case gives the JWT principal beside the check's fields, and rules on
// requestPrincipals decide on it as Istio's do.
func TestPolicyTestRequestPrincipal(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: jwt, namespace: shop}
spec:
  rules: [{from: [{source: {requestPrincipals: ["https://iss.example.com/*"]}}]}]
`), 0o600)
	file := filepath.Join(dir, "jwt_test.yaml")
	req := `{source_principal: "spiffe://cluster.local/ns/shop/sa/frontend", destination: "spiffe://cluster.local/ns/shop/sa/orders", method: GET, path: /`
	os.WriteFile(file, []byte("policies: [p.yaml]\ncases:\n"+
		"- {name: the issuer, request: "+req+", request_principal: \"https://iss.example.com/u1\"}, allow: true}\n"+
		"- {name: a longer issuer, request: "+req+", request_principal: \"https://iss.example.com/t/u1\"}, allow: false}\n"+
		"- {name: no JWT, request: "+req+"}, allow: false}\n"), 0o600)
	if out, err := run("", "policy", "test", file); err != nil || !strings.Contains(out, "3 passed, 0 failed") {
		t.Fatalf("%v\n%s", err, out)
	}
	os.WriteFile(file, []byte("policies: [p.yaml]\ncases:\n- {name: bad, request: "+req+", request_principal: 7}, allow: true}\n"), 0o600)
	if _, err := run("", "policy", "test", file); err == nil || !strings.Contains(err.Error(), "request_principal is not a string") {
		t.Fatalf("a number as request_principal: %v", err)
	}
}
