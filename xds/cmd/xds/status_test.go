package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/server"
)

// `xds status` against a running server: the admin token is required, and
// the table shows where each service is, its last move and the next one.
func TestStatusCommand(t *testing.T) {
	cat, err := catalog.Parse("c.yaml", []byte(`services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}]
    ports: [2000, 3000]
    rotation: {every: 1h, jitter: 1m}
  - name: payments
    endpoints: [{address: 127.0.0.1, port: 1001}]
`))
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef-status"
	r, err := server.Start(context.Background(), server.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Admin: server.AdminAuth{Token: []byte(token)}, Log: zerolog.Nop(), Defaults: catalog.Schedule{Grace: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if _, err := r.Move(context.Background(), "orders", 3000, "admin"); err != nil {
		t.Fatal(err)
	}
	url := "http://" + r.AdminAddr.String()
	if _, err := fetchStatus(url, "", "", "", ""); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without the token: %v", err)
	}
	cmd := status()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--admin", url, "--token-file", write(t, t.TempDir(), "token", token)})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version 2", "orders", "127.0.0.1:3000", "by admin, converged in", "payments", "127.0.0.1:1001"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "orders") && strings.Count(line, time.Now().UTC().Format("2006-")) != 2 {
			t.Errorf("orders' row wants its last move and its next due time:\n%s", line)
		}
	}
}
