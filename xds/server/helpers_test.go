package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
)

var testToken = []byte("0123456789abcdef-admin")

// Two services on one address: orders may move to 2000 or 3000, payments to
// 2001; each is reachable at its endpoint port too.
const twoServices = `services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}]
    ports: [2000, 3000]
  - name: payments
    endpoints: [{address: 127.0.0.1, port: 1001}]
    ports: [2001]
`

func start(t testing.TB, cat string, cfg Config) *Running {
	t.Helper()
	c, err := catalog.Parse("c", []byte(cat))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Catalog, cfg.Addr, cfg.AdminAddr, cfg.Log = c, "127.0.0.1:0", "127.0.0.1:0", zerolog.Nop()
	r, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// call makes one admin call; header "-" sends no Authorization.
func call(t *testing.T, client *http.Client, method, url, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "-" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

func mustCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("c", []byte(twoServices))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor waits for something the server does after it has answered.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(time.Millisecond)
	}
}

// frontendOverMTLS starts a server on the twoServices catalog whose ADS port
// requires a mesh certificate, and gives frontend's credentials; cfg adds
// the rest.
func frontendOverMTLS(t *testing.T, cfg Config) (*Running, credentials.TransportCredentials, string) {
	t.Helper()
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := mesh.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	front := identity.SPIFFE("shop", "frontend")
	cert, _ := mesh.Issue(front)
	cfg.TLS, cfg.Admin = mesh.ServerTLS(srv), AdminAuth{Token: testToken}
	return start(t, twoServices, cfg), credentials.NewTLS(mesh.ClientTLS(cert)), front
}
