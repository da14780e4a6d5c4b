package store

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadLatest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, b, err := s.Latest("shop/orders/app"); v != "" || b != nil || err != nil {
		t.Fatalf("unknown container: %q %v %v", v, b, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Save("shop/orders/app", "sha256:aaa", []byte("one")))
	must(s.Save("shop/orders/app", "sha256:bbb", []byte("two")))
	must(s.Save("shop/frontend/app", "sha256:ccc", []byte("three")))
	must(s.Close())

	// Across a restart.
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, err := s.Load("shop/orders/app", "sha256:aaa"); err != nil || !bytes.Equal(b, []byte("one")) {
		t.Fatalf("load aaa: %q %v", b, err)
	}
	if v, b, err := s.Latest("shop/orders/app"); v != "sha256:bbb" || !bytes.Equal(b, []byte("two")) || err != nil {
		t.Fatalf("latest: %q %q %v", v, b, err)
	}
	if b, err := s.Load("shop/orders/app", "sha256:zzz"); b != nil || err != nil {
		t.Fatalf("unknown version: %q %v", b, err)
	}
	if err := s.Save("", "v", nil); err == nil || !strings.Contains(err.Error(), "needs a container and a version") {
		t.Fatalf("empty container: %v", err)
	}
	if _, err := Open(path); err == nil { // held by s
		t.Fatal("a second process opened the held file")
	}
}
