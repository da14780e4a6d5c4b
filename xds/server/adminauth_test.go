package server

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshward/meshward/internal/identity"
)

// An attacker without the token can neither read the placement (every
// rotated port) nor move a service.
func TestAdminTokenRefusals(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}})
	base := "http://" + r.AdminAddr.String()
	good := "Bearer " + string(testToken)
	for _, tc := range []struct {
		name, method, path, auth string
		code                     int
		want                     string
	}{
		{"no credentials", "GET", "/placement", "-", 401, "want Authorization: Bearer"},
		{"no credentials, rotate", "POST", "/rotate?service=orders", "-", 401, "want Authorization"},
		{"wrong token", "GET", "/placement", "Bearer 0123456789abcdef-admiN", 401, "wrong bearer token"},
		{"a prefix of the token", "GET", "/placement", "Bearer 0123456789abcdef", 401, "wrong bearer token"},
		{"token without Bearer", "GET", "/placement", string(testToken), 401, "want one Authorization: Bearer"},
		{"other scheme", "GET", "/placement", "Basic " + string(testToken), 401, "want one Authorization: Bearer"},
		{"empty bearer", "POST", "/rotate?service=orders", "Bearer ", 401, "want one Authorization: Bearer"},
		{"metrics too", "GET", "/metrics", "-", 401, "want Authorization"},
		{"good token", "GET", "/placement", good, 200, `"orders":["127.0.0.1:1000"]`},
	} {
		code, body := call(t, http.DefaultClient, tc.method, base+tc.path, tc.auth)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if v := r.Current().Version; v != 1 {
		t.Fatalf("refused calls moved a service: version %d", v)
	}
	for reason, want := range map[string]float64{"no-credentials": 3, "bad-token": 5} {
		if got := testutil.ToFloat64(r.metrics.refused.WithLabelValues(reason)); got != want {
			t.Errorf("meshward_xds_admin_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// Two Authorization headers are refused even when one holds the token.
func TestAdminTwoAuthorizationHeaders(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}})
	req, _ := http.NewRequest("GET", "http://"+r.AdminAddr.String()+"/placement", nil)
	req.Header.Add("Authorization", "Bearer wrong")
	req.Header.Add("Authorization", "Bearer "+string(testToken))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
}

// Over mutual TLS with the mesh CA, only the allowed identities get in: a
// compromised workload holds a mesh certificate too.
func TestAdminMutualTLS(t *testing.T) {
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	operator := identity.SPIFFE("meshward-system", "operator")
	issue := func(ca *identity.CA, id string) tls.Certificate {
		c, err := ca.Issue(id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	srv := issue(mesh, identity.SPIFFE("meshward-system", "meshward-xds"))
	r := start(t, twoServices, Config{Admin: AdminAuth{TLS: mesh.ServerTLS(srv), AllowIDs: []string{operator}}})
	url := "https://" + r.AdminAddr.String() + "/placement"
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		code int
		want string
	}{
		{"no certificate", &tls.Config{RootCAs: mesh.Pool, MinVersion: tls.VersionTLS13}, 0, "certificate required"},
		{"another CA's certificate", &tls.Config{RootCAs: mesh.Pool, Certificates: []tls.Certificate{issue(other, operator)}}, 0, "unknown certificate authority"},
		{"a mesh workload not allowed", mesh.ClientTLS(issue(mesh, identity.SPIFFE("shop", "frontend"))), 403, `identity "spiffe://cluster.local/ns/shop/sa/frontend" may not use`},
		{"the operator", mesh.ClientTLS(issue(mesh, operator)), 200, `"payments":["127.0.0.1:1001"]`},
	} {
		code, body := call(t, tlsClient(tc.cfg), "GET", url, "-")
		// A refused handshake may reach the client as its alert or, when the
		// client wrote first (TLS 1.3), as a broken pipe: the reason is
		// asserted on the server's side below.
		if code != tc.code || (code != 0 && !strings.Contains(body, tc.want)) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if got := testutil.ToFloat64(r.metrics.refused.WithLabelValues("identity-not-allowed")); got != 1 {
		t.Errorf("identity-not-allowed refusals: %v, want 1", got)
	}
	// The server logs a refused handshake after the client has seen the
	// alert; wait for it rather than race it.
	waitFor(t, func() bool { return testutil.ToFloat64(r.metrics.refused.WithLabelValues("tls-handshake")) >= 2 })
}

// With both a token and mutual TLS, a call needs both.
func TestAdminTokenAndMutualTLS(t *testing.T) {
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := mesh.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	cli, _ := mesh.Issue(identity.SPIFFE("shop", "frontend"))
	r := start(t, twoServices, Config{Admin: AdminAuth{TLS: mesh.ServerTLS(srv), Token: testToken}})
	url := "https://" + r.AdminAddr.String() + "/placement"
	if code, _ := call(t, tlsClient(mesh.ClientTLS(cli)), "GET", url, "-"); code != 401 {
		t.Fatalf("a mesh certificate without the token: %d, want 401", code)
	}
	if code, _ := call(t, tlsClient(mesh.ClientTLS(cli)), "GET", url, "Bearer "+string(testToken)); code != 200 {
		t.Fatalf("certificate and token: %d, want 200", code)
	}
}

// Start refuses an admin endpoint anyone could use.
func TestStartRefusesOpenAdmin(t *testing.T) {
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := mesh.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	serverOnly := &tls.Config{Certificates: []tls.Certificate{srv}}
	for _, tc := range []struct {
		name string
		addr string
		auth AdminAuth
		want string
	}{
		{"nothing", "127.0.0.1:0", AdminAuth{}, "neither a bearer token nor client-certificate TLS"},
		{"TLS without client CA or token", "127.0.0.1:0", AdminAuth{TLS: serverOnly}, "neither a bearer token"},
		{"short token", "127.0.0.1:0", AdminAuth{Token: []byte("short")}, "token is 5 bytes, want at least 16"},
		{"mesh CA alone", "127.0.0.1:0", AdminAuth{TLS: mesh.ServerTLS(srv)}, "needs the identities allowed"},
		{"identities without mTLS", "127.0.0.1:0", AdminAuth{Token: testToken, AllowIDs: []string{"spiffe://cluster.local/ns/a/sa/b"}}, "need client-certificate TLS"},
		{"bad identity", "127.0.0.1:0", AdminAuth{TLS: mesh.ServerTLS(srv), AllowIDs: []string{"operator"}}, `identity "operator": not a spiffe:// URI`},
		{"token in the clear off loopback", "0.0.0.0:0", AdminAuth{Token: testToken}, "could be read off the network"},
		{"client CA, no certificate", "127.0.0.1:0", AdminAuth{TLS: &tls.Config{ClientCAs: mesh.Pool}, Token: testToken}, "without a server certificate"},
	} {
		cfg := Config{Catalog: nil, Addr: "127.0.0.1:0", AdminAddr: tc.addr, Admin: tc.auth}
		cfg.Catalog = mustCatalog(t)
		r, err := Start(t.Context(), cfg)
		if err == nil {
			r.Stop()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Whatever the Authorization header holds, a call is admitted exactly when
// it is "Bearer " and the token; nothing panics.
func FuzzAdminVerify(f *testing.F) {
	for _, s := range []string{"Bearer " + string(testToken), string(testToken), "Bearer", "bearer " + string(testToken), "Bearer  " + string(testToken), ""} {
		f.Add(s)
	}
	auth := AdminAuth{Token: testToken}
	f.Fuzz(func(t *testing.T, header string) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1/placement", nil)
		req.Header["Authorization"] = []string{header}
		admitted := auth.verify(req) == nil
		if admitted != (header == "Bearer "+string(testToken)) {
			t.Fatalf("header %q: admitted %v", header, admitted)
		}
	})
}

// The authorizer's identity (EventIDs) may report events and do nothing
// else: with its certificate an attacker can neither read the placement
// nor move a service.
func TestAdminEventsOnlyIdentity(t *testing.T) {
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := mesh.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	authz := identity.SPIFFE("meshward-system", "meshward-authz")
	cert, _ := mesh.Issue(authz)
	r := start(t, twoServices, Config{Admin: AdminAuth{TLS: mesh.ServerTLS(srv), EventIDs: []string{authz}}})
	client, base := tlsClient(mesh.ClientTLS(cert)), "https://"+r.AdminAddr.String()
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/placement", 403}, {"GET", "/status", 403}, {"POST", "/rotate?service=orders", 403}, {"GET", "/metrics", 403},
		{"POST", "/events", 400}, // admitted: the empty body is what is refused
	} {
		if code, body := call(t, client, tc.method, base+tc.path, "-"); code != tc.code {
			t.Errorf("%s %s: %d %q, want %d", tc.method, tc.path, code, body, tc.code)
		}
	}
	if got := testutil.ToFloat64(r.metrics.refused.WithLabelValues("events-only")); got != 4 {
		t.Errorf("events-only refusals: %v, want 4", got)
	}
	if r.Current().Version != 1 {
		t.Error("the events identity moved a service")
	}
}
