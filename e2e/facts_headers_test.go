package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/extauthz/policy"
)

const noLegacy = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - when: [{key: "request.headers[x-api-version]", values: ["v1-legacy"]}]
`

const noBlockedTenant = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-blocked-tenant, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - when: [{key: "request.headers[x-tenant]", values: ["blocked"]}]
`

// Issue 8, finding 7: headers past the filter's budget were dropped
// silently, so 400 padding headers around x-api-version: v1-legacy dodged a
// DENY on it (3 of 5 tries). The policies' header names reach the filter in
// the epoch answer and go first; the authorizer denies a check that left
// out a header a policy for the destination reads.
func TestHeaderPaddingCannotDodgeADeny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	authz := startFactsAuthz(t, system.Policy+noLegacy)
	rr := newRoundRobin(t, authz.HTTPAddr.String())
	m := startSidecar(t, fmt.Sprintf(ordersConfig, `,"epoch_poll_ms":20`), rr.srv.URL)
	c := m.client(t, system.Frontend)
	call := func(extra map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "https://"+m.sidecar.Addr.String()+"/orders/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 400; i++ { // 80 KB: more than a check carries
			req.Header.Set(fmt.Sprintf("x-pad-%d", i), strings.Repeat("p", 200))
		}
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("x-meshward-reason")
	}
	rr.waitPolls(t, ctx, 2) // the names are known
	for i := 0; i < 5; i++ {
		if code, reason := call(map[string]string{"x-api-version": "v1-legacy"}); code != 403 || reason != "denied-by-policy" {
			t.Fatalf("try %d: %d %q, want 403 denied-by-policy", i, code, reason)
		}
	}
	if code, reason := call(map[string]string{"x-api-version": "v2"}); code != 200 {
		t.Fatalf("padding no policy reads, x-api-version v2: %d %q, want 200", code, reason)
	}
	if code, reason := call(map[string]string{"x-api-version": "v1-legacy" + strings.Repeat("x", 70<<10)}); code != 403 || reason != "request-not-describable" {
		t.Fatalf("a 70 KiB x-api-version: %d %q, want 403 request-not-describable", code, reason)
	}
	// A policy change names x-tenant: until the filter's next poll it does
	// not know the name, and the authorizer judges what the check left out.
	set, err := policy.Parse("e2e.yaml", []byte(system.Policy+noLegacy+noBlockedTenant))
	if err != nil {
		t.Fatal(err)
	}
	authz.Authorizer.Engine.SetPolicy(set)
	reasons := map[string]int{}
	for i := 0; i < 5; i++ {
		code, reason := call(map[string]string{"x-tenant": "blocked"})
		if code != 403 || (reason != "denied-by-policy" && reason != "header-omitted") {
			t.Fatalf("x-tenant: blocked after the change: %d %q, want 403", code, reason)
		}
		reasons[reason]++
	}
	t.Logf("x-tenant: blocked, right after the policy change: %v", reasons)
}
