package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(stdin string, args ...string) (string, error) {
	c := root()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetIn(strings.NewReader(stdin))
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  rules:\n  - to:\n    - operation:\n        ports: [\"http\"]\n"), 0o600)
	if out, err := run("", "policy", "lint", "testdata/policies"); err != nil || !strings.Contains(out, "1 paths valid") {
		t.Fatalf("lint good: %v\n%s", err, out)
	}
	out, err := run("", "policy", "lint", "testdata/policies", bad)
	if err == nil {
		t.Fatal("lint of a bad file succeeded")
	}
	if !strings.Contains(out, bad+":8: spec.rules[0].to[0].operation.ports[0]: \"http\" is not a port") || !strings.Contains(out, "1 of 2 paths invalid") {
		t.Fatalf("lint output:\n%s", out)
	}
}

func TestPolicyTest(t *testing.T) {
	out, err := run("", "policy", "test", "testdata/shop_test.yaml")
	if err != nil || !strings.Contains(out, "policy test: 3 passed, 0 failed") {
		t.Fatalf("%v\n%s", err, out)
	}
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong_test.yaml")
	abs, _ := filepath.Abs("testdata/policies")
	os.WriteFile(wrong, []byte("policies: ["+abs+"]\ncases:\n- name: expects too much\n  request: {source_principal: x, destination: y, method: GET, path: /}\n  allow: true\n"), 0o600)
	out, err = run("", "policy", "test", wrong)
	if err == nil || !strings.Contains(out, "FAIL "+wrong+":3 expects too much: allow=false (reason no-allow-policy") || !strings.Contains(out, "0 passed, 1 failed") {
		t.Fatalf("%v\n%s", err, out)
	}
	os.WriteFile(wrong, []byte("policies: ["+abs+"]\ncases:\n- name: bad request\n  request: {destination: y, method: GET, path: nope}\n  allow: true\n"), 0o600)
	if _, err = run("", "policy", "test", wrong); err == nil || !strings.Contains(err.Error(), wrong+":3: case \"bad request\": check request: field \"path\"") {
		t.Fatalf("bad case: %v", err)
	}
}

func TestExplain(t *testing.T) {
	req := `{"source_principal":"spiffe://cluster.local/ns/shop/sa/catalog","destination":"spiffe://cluster.local/ns/shop/sa/orders",
		"destination_labels":{"app":"orders"},"method":"GET","path":"/orders/1"}`
	out, err := run(req, "policy", "explain", "--policy", "testdata/policies")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"decision: DENY, reason no-matching-rule",
		"DENY  shop/orders-no-admin, testdata/policies/shop.yaml:10",
		`rule[0] does not match: to[0]: paths: "/orders/1" matches none of ["/orders/admin*"]`,
		`rule[0] does not match: from[0]: principals: "cluster.local/ns/shop/sa/catalog" matches none of ["cluster.local/ns/shop/sa/frontend"]`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("explain output lacks %q:\n%s", want, out)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := readToken(short); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short token: %v", err)
	}
	ok := filepath.Join(dir, "ok")
	os.WriteFile(ok, []byte("0123456789abcdef0123\n"), 0o600)
	if b, err := readToken(ok); err != nil || string(b) != "0123456789abcdef0123" {
		t.Fatalf("token %q, %v", b, err)
	}
}

// The example policies shipped in manifests/ are ones the authorizer accepts.
func TestManifestPolicies(t *testing.T) {
	if out, err := run("", "policy", "lint", "../../../manifests/examples"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
