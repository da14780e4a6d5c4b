package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: x}\nspec: {rules: [{}]}\n"), 0o600)
	os.WriteFile(bad, []byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  rules:\n  - to:\n    - operation:\n        ports: [\"http\"]\n"), 0o600)

	run := func(args ...string) (string, error) {
		c := root()
		var out bytes.Buffer
		c.SetOut(&out)
		c.SetErr(&out)
		c.SetArgs(args)
		err := c.Execute()
		return out.String(), err
	}
	if out, err := run("lint", good); err != nil {
		t.Fatalf("lint good: %v\n%s", err, out)
	}
	out, err := run("lint", good, bad)
	if err == nil {
		t.Fatal("lint of a bad file succeeded")
	}
	if !strings.Contains(out, bad+":8: spec.rules[0].to[0].operation.ports[0]: \"http\" is not a port") || !strings.Contains(out, "1 of 2 files invalid") {
		t.Fatalf("lint output:\n%s", out)
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
