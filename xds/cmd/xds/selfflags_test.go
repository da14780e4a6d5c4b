package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/server"
)

func TestSelfFlags(t *testing.T) {
	for _, tc := range []struct {
		f    selfFlags
		pool int
		err  string
	}{
		{selfFlags{}, 0, ""},
		{selfFlags{pool: "127.0.0.5:18000-18003", every: time.Minute, jitter: 10 * time.Second, recent: 2}, 4, ""},
		{selfFlags{every: time.Minute}, 0, "need --addr-pool"},
		{selfFlags{pool: "127.0.0.5:18000"}, 0, "--addr-pool: addr pool \"127.0.0.5:18000\": want at least 2"},
		{selfFlags{pool: "127.0.0.5:18000-18001", every: time.Minute, jitter: time.Minute}, 0, "must be less than"},
		{selfFlags{pool: "127.0.0.5:18000-18001", every: -time.Minute}, 0, "cannot be negative"},
		{selfFlags{pool: "127.0.0.5:18000-18002", recent: 2}, 0, "--addr-recent 2: at most 1 for a pool of 3"},
	} {
		got, err := tc.f.rotation()
		switch {
		case tc.err == "" && (err != nil || len(got.Pool) != tc.pool || got.Every != tc.f.every):
			t.Errorf("%+v: %+v %v", tc.f, got, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.err)
		}
	}
}

// `xds status` says where the control plane is and how its last move went.
func TestStatusShowsTheControlPlane(t *testing.T) {
	cat, err := catalog.Parse("c.yaml", []byte("services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1000}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var pool []string
	for i := range 3 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.67.%d.%d:0", os.Getpid()%250, 10+i))
		if err != nil {
			t.Fatal(err)
		}
		pool = append(pool, ln.Addr().String())
		ln.Close()
	}
	sr, err := selfFlags{pool: strings.Join(pool, ",")}.rotation()
	if err != nil {
		t.Fatal(err)
	}
	r, err := server.Start(context.Background(), server.Config{Catalog: cat, Self: sr, AdminAddr: "127.0.0.1:0",
		Admin: server.AdminAuth{Token: []byte("0123456789abcdef-status")}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	rec, err := r.MoveSelf(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printStatus(&out, r.Status())
	for _, want := range []string{"control plane on " + rec.To + " (pool of 3, epoch 2, announced " + rec.To,
		"last move", "by admin: " + rec.From + " -> " + rec.To + ", 0 of 0 nodes reconnected"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
}
