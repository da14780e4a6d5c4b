package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/api/check"
)

// reasonInvalidPath is the denial of a check whose path cannot be
// normalized: answered 200 with allow false (not 400, which a fail-open
// filter would let through).
const reasonInvalidPath = "invalid-path"

type authzPathCase struct {
	from, method, path string
	allow              bool
	reason, rule       string
}

// Confusable paths sent straight to the authorizer, as a filter or an Envoy
// that does not normalize would send them: the authorizer normalizes every
// check itself (meshward's default mode, MERGE_SLASHES) before matching.
var authzPathCases = []authzPathCase{
	{frontendID, "GET", "/orders/42", true, "allowed", ruleFrontend},
	{frontendID, "GET", "/orders//42", true, "allowed", ruleFrontend},
	{frontendID, "GET", "/orders/%34%32?next=/../admin", true, "allowed", ruleFrontend},
	{catalogID, "GET", "/public", true, "allowed", ruleCatalog},
	{frontendID, "GET", "/orders/../admin", false, noRule, ""},
	{frontendID, "GET", "/orders/%2e%2e/admin", false, noRule, ""},
	{frontendID, "GET", "/orders/42/../../admin/users", false, noRule, ""},
	{frontendID, "GET", `/orders\..\admin`, false, noRule, ""},
	{frontendID, "GET", "/orders/..%2Fadmin", false, reasonInvalidPath, ""},
	{frontendID, "GET", "/orders/x#/../../admin", false, reasonInvalidPath, ""},
	{frontendID, "GET", "/orders/..;/admin", false, reasonInvalidPath, ""},
	{frontendID, "GET", "/orders/%00", false, reasonInvalidPath, ""},
	{frontendID, "GET", "/orders/%zz", false, reasonInvalidPath, ""},
	{frontendID, "GET", "/orders/%C0%AF", false, reasonInvalidPath, ""},
	{frontendID, "GET", "/orders/a\x01b", false, reasonInvalidPath, ""},
	{catalogID, "GET", "/admin", false, byPolicy, "shop/deny-admin[0]"},
	{catalogID, "GET", "//admin", false, byPolicy, "shop/deny-admin[0]"},
	{catalogID, "GET", "/./admin", false, byPolicy, "shop/deny-admin[0]"},
	{catalogID, "GET", "/%61dmin", false, byPolicy, "shop/deny-admin[0]"},
	{catalogID, "GET", "/public/%2E%2E/admin", false, byPolicy, "shop/deny-admin[0]"},
	{catalogID, "GET", "/%2Fadmin", false, reasonInvalidPath, ""},
}

// TestAuthorizerNormalizesPaths is the authorizer's half (defense in depth):
// it fails until extauthz/server calls pathnorm.Normalize on every check.
func TestAuthorizerNormalizesPaths(t *testing.T) {
	authz := startAuthz(t, zerolog.Nop())
	t.Run("http", func(t *testing.T) {
		for _, tc := range authzPathCases {
			got := httpCheck(t, "http://"+authz.HTTPAddr.String(), tc)
			if got.Allow != tc.allow || got.Reason != tc.reason || got.Rule != tc.rule {
				t.Errorf("%s %q: allow %v %q %q, want allow %v %q %q", tc.from, tc.path, got.Allow, got.Reason, got.Rule, tc.allow, tc.reason, tc.rule)
			}
		}
	})
	t.Run("grpc", func(t *testing.T) {
		conn, err := grpc.NewClient(authz.GRPCAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := authv3.NewAuthorizationClient(conn)
		asterisk := authzPathCase{frontendID, "OPTIONS", "*", false, reasonInvalidPath, ""}
		for _, tc := range append(authzPathCases, asterisk) {
			allow, reason := grpcCheck(t, client, tc)
			if allow != tc.allow || reason != tc.reason {
				t.Errorf("%s %s %q: allow %v %q, want allow %v %q", tc.from, tc.method, tc.path, allow, reason, tc.allow, tc.reason)
			}
		}
	})
}

func httpCheck(t *testing.T, base string, tc authzPathCase) check.Response {
	t.Helper()
	body, err := json.Marshal(check.Request{SourcePrincipal: tc.from, Destination: ordersID,
		DestinationLabels: map[string]string{"app": "orders"}, Method: tc.method, Path: tc.path, Host: "orders.shop"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+check.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %q: HTTP %d %s", tc.from, tc.path, resp.StatusCode, b)
	}
	var r check.Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// grpcCheck asks as Envoy does and returns the decision and its reason
// ("allowed" when allowed).
func grpcCheck(t *testing.T, c authv3.AuthorizationClient, tc authzPathCase) (bool, string) {
	t.Helper()
	resp, err := c.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Principal: tc.from},
		Destination: &authv3.AttributeContext_Peer{Principal: ordersID, Labels: map[string]string{"app": "orders"}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: tc.method, Path: tc.path, Host: "orders.shop"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		return true, "allowed"
	}
	if m := resp.GetStatus().GetMessage(); m != "" {
		return false, m
	}
	return false, fmt.Sprintf("code %d without a reason", resp.GetStatus().GetCode())
}
