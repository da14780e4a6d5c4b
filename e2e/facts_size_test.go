package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/internal/identity"
)

// Issue 8, finding 5: with fail_mode open, GET /admin?pad=<17 KiB>, a
// 3000-byte header of '<' and OPTIONS * were allowed: the authorizer
// refused the check (413, 400) and the filter took that for "unavailable".
// Now the authorizer decides them, and what cannot be described is denied.
func TestOversizedFactsAreDecidedNotFailedOpen(t *testing.T) {
	authz := startFactsAuthz(t, system.Policy)
	m := startSidecar(t, fmt.Sprintf(ordersConfig, `,"fail_mode":"open"`), "http://"+authz.HTTPAddr.String())
	c := m.client(t, system.Frontend)
	base := "https://" + m.sidecar.Addr.String()
	tests := []struct {
		name       string
		path       string
		header     [2]string
		wantCode   int
		wantReason string
	}{
		{"17 KiB query", "/admin?pad=" + strings.Repeat("a", 17<<10), [2]string{}, 403, "no-matching-rule"},
		{"3000 '<' in a header", "/admin", [2]string{"x-angle", strings.Repeat("<", 3000)}, 403, "no-matching-rule"},
		// The sidecar refuses a target past 64 KiB before any filter runs, as
		// Envoy refuses headers past its limit.
		{"70 KiB query", "/orders/1?pad=" + strings.Repeat("a", 70<<10), [2]string{}, 400, ""},
		{"allowed edge, 3000 '<' in a header", "/orders/1", [2]string{"x-angle", strings.Repeat("<", 3000)}, 200, ""},
		{"allowed edge, 40 KiB query", "/orders/1?pad=" + strings.Repeat("a", 40<<10), [2]string{}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || resp.Header.Get("x-meshward-reason") != tc.wantReason {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("x-meshward-reason"), tc.wantCode, tc.wantReason)
			}
		})
	}
	// Straight into the filter, as an Envoy with larger header limits would
	// hand them over: Go's HTTP server answers OPTIONS * itself, and the
	// sidecar refuses the 70 KiB target. OPTIONS * has no path a policy can
	// name: the authorizer denies it (invalid-path).
	for _, c := range []struct{ method, path, want string }{
		{"OPTIONS", "*", "invalid-path"},
		{"GET", "/orders/1?pad=" + strings.Repeat("a", 70<<10), "request-not-describable"},
	} {
		if got := filterAlone(t, m, c.method, c.path); got != c.want {
			t.Errorf("%s %.20s...: %q, want 403 %q", c.method, c.path, got, c.want)
		}
	}
}

// filterAlone runs one request through the filter without the sidecar and
// returns the reason of its 403 ("" when it was not denied).
func filterAlone(t *testing.T, m *mesh, method, path string) string {
	ctx := context.Background()
	st, local, err := m.host.OnRequestHeaders(ctx, proxywasm.Request{
		Headers:     [][2]string{{":method", method}, {":path", path}, {":authority", "orders"}, {":scheme", "https"}},
		Properties:  map[string]string{"connection.uri_san_peer_certificate": system.Frontend, "source.address": "127.0.0.1:40000"},
		EndOfStream: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Finish(ctx)
	if local == nil || local.Status != 403 {
		return ""
	}
	return reasonOf(local)
}

func reasonOf(l *proxywasm.LocalResponse) string {
	for _, h := range l.Headers {
		if h[0] == "x-meshward-reason" {
			return h[1]
		}
	}
	return ""
}

// Fail-open is for an authorizer that cannot answer: a refusal (4xx) is a
// denial, whatever the fail mode; 5xx (the authorizer's 503 shed too) and no
// answer follow it.
func TestAuthorizerRefusalIsADenial(t *testing.T) {
	tests := []struct {
		status     int
		failMode   string
		wantCode   int
		wantReason string
	}{
		{400, "open", 403, "check-rejected"},
		{413, "open", 403, "check-rejected"},
		{403, "open", 403, "check-rejected"},
		{503, "open", 200, ""},
		{500, "open", 200, ""},
		{503, "closed", 403, "authorizer-unavailable"},
		{400, "closed", 403, "check-rejected"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d, fail %s", tc.status, tc.failMode), func(t *testing.T) {
			stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "refused", tc.status)
			}))
			defer stub.Close()
			m := startSidecar(t, fmt.Sprintf(`{"authorizer_cluster":"meshward-authz","fail_mode":%q}`, tc.failMode), stub.URL)
			code, reason, _ := get(t, m.client(t, identity.SPIFFE("shop", "frontend")), "https://"+m.sidecar.Addr.String()+"/orders/1")
			if code != tc.wantCode || reason != tc.wantReason {
				t.Fatalf("%d %q, want %d %q", code, reason, tc.wantCode, tc.wantReason)
			}
		})
	}
}
