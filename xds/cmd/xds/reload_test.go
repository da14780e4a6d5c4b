package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/xds/server"
)

// The catalog file changes under a running server: a valid change is
// served, a broken one is refused and the last good catalog stays.
func TestWatchCatalog(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "c.yaml", "services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1}]\n")
	f := flags{catalog: path, reloadEvery: 5 * time.Millisecond}
	fp, err := fingerprint(f)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := loadCatalog(f)
	if err != nil {
		t.Fatal(err)
	}
	r, err := server.Start(context.Background(), server.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Admin: server.AdminAuth{Token: []byte("0123456789abcdef-reload")}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchCatalog(ctx, f, r, fp, zerolog.Nop())
	services := func() []string { return r.Current().Services() }
	wait := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !slices.Equal(services(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("services %v, want %v", services(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	replace := func(data string) {
		t.Helper()
		tmp := filepath.Join(dir, "c.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // as editors and ConfigMaps do
			t.Fatal(err)
		}
	}
	replace("services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1}]\n  - name: users\n    endpoints: [{address: 127.0.0.2, port: 1}]\n")
	wait([]string{"orders", "users"})
	replace("services:\n  - name: orders\n    endpoints: [{address: not-an-ip, port: 1}]\n")
	time.Sleep(50 * time.Millisecond) // ten looks: the broken version must not be served
	if got := services(); !slices.Equal(got, []string{"orders", "users"}) {
		t.Fatalf("a broken catalog was served: %v", got)
	}
	replace("services:\n  - name: users\n    endpoints: [{address: 127.0.0.2, port: 1}]\n")
	wait([]string{"users"})
}
