package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/internal/pathnorm"
)

// redVerbPolicies: the catalog may call orders, except custom methods
// ending in ":purge" (Google-style API verbs, POST /v1/buckets/b:purge).
const redVerbPolicies = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: catalog-calls-all, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/catalog"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-purge, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/catalog"]}}]
    to: [{operation: {paths: ["*:purge", "/users/root@admin"]}}]
`

// Attack: percent-encoded sub-delimiters. Normalization decodes escapes of
// unreserved characters only, so "/v1/buckets/b%3Apurge" is judged as
// spelled, which no DENY on "*:purge" matches, while Go's net/http (and
// nginx, and most frameworks) decode %3A before routing: the upstream
// serves /v1/buckets/b:purge. The same holds for '@', '=', ',', ';', '!',
// '$', '&', the quote, '(', ')', '*', '+' in a policy path. Severity: medium
// (any DENY, or ALLOW notPaths, whose path holds a sub-delimiter or ':' or
// '@'). The decision must be about the path the upstream interprets.
func TestRedteamEscapedSubDelimsPassDeny(t *testing.T) {
	var mu sync.Mutex
	var served []string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.Path) // what the upstream acts on
		mu.Unlock()
	})
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)
	pm := startPathMeshWith(t, redVerbPolicies, pathnorm.Default, up.URL, zerolog.Nop())
	for _, target := range []string{
		"/v1/buckets/b:purge",   // control: denied
		"/v1/buckets/b%3Apurge", // ':' escaped
		"/v1/buckets/b%3apurge",
		"/users/root%40admin", // '@' escaped
	} {
		a := pm.send(t, catalogID, target)
		mu.Lock()
		got := append([]string(nil), served...)
		served = nil
		mu.Unlock()
		for _, p := range got {
			if strings.HasSuffix(p, ":purge") || p == "/users/root@admin" {
				t.Errorf("GET %s: answered %d %q, and the upstream served %s, which shop/deny-purge denies", target, a.status, a.reason, p)
			}
		}
	}
}
