package server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"

	"github.com/meshward/meshward/internal/identity"
)

// raw sends one request line as written (no client cleans the path) with
// id's certificate and returns the status code.
func raw(t *testing.T, ca *identity.CA, addr, id, method, target, body string) int {
	t.Helper()
	cert, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", addr, ca.ClientTLS(cert))
	if err != nil {
		return 0 // a refused handshake admits nothing
	}
	defer c.Close()
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: xds\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The attack: with the authorizer's certificate (events only) or a plain
// workload's, reach /rotate, /placement or /status through path tricks the
// router might clean after the check: dot segments, escapes, doubled or
// trailing slashes, another case, absolute-form targets, other methods.
// Held: the check and the router see one path, and only POST /events is
// the authorizer's. Before the fix "OPTIONS *" was answered (200) without
// authentication: net/http answers it before any handler.
func TestRedteamXDSAdminPathTricks(t *testing.T) {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	authz, op := identity.SPIFFE("meshward-system", "meshward-authz"), identity.SPIFFE("meshward-system", "operator")
	r := start(t, twoServices, Config{Admin: AdminAuth{TLS: ca.ServerTLS(srv), EventIDs: []string{authz}, AllowIDs: []string{op}}})
	addr := r.AdminAddr.String()
	targets := []string{"/events/../rotate?service=orders", "/events%2F..%2Frotate?service=orders", "//rotate?service=orders",
		"/rotate/?service=orders", "/ROTATE?service=orders", "/%72otate?service=orders", "https://xds/rotate?service=orders",
		"/./placement", "/events/../status", "/events/", "//events", "/EVENTS", "*"}
	for _, id := range []string{authz, identity.SPIFFE("shop", "frontend")} {
		for _, method := range []string{"POST", "GET", "HEAD", "PUT", "OPTIONS"} {
			for _, target := range targets {
				if code := raw(t, ca, addr, id, method, target, ""); code != 0 && code != http.StatusForbidden && code != http.StatusBadRequest {
					t.Errorf("%s: %s %s answered %d", id, method, target, code)
				}
			}
		}
	}
	if code := raw(t, ca, addr, identity.SPIFFE("shop", "frontend"), "POST", "/events", `{"kind":"scan","workload":"`+op+`"}`); code != http.StatusForbidden {
		t.Errorf("a workload's event: %d", code)
	}
	if r.Current().Version != 1 {
		t.Error("a service moved")
	}
}
