package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/pathnorm"
)

// pathPolicies: the frontend may read /orders and below; the catalog may
// call anything except /admin and below (the DENY wins). The frontend's
// attacks meet an ALLOW alone; the catalog's meet the DENY.
const pathPolicies = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: frontend-reads-orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/orders", "/orders/*"]}}]
---
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
metadata: {name: deny-admin, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/catalog"]}}]
    to: [{operation: {paths: ["/admin*"]}}]
`

const (
	ruleFrontend = "shop/frontend-reads-orders[0]"
	ruleCatalog  = "shop/catalog-calls-all[0]"
)

var (
	frontendID = identity.SPIFFE("shop", "frontend")
	catalogID  = identity.SPIFFE("shop", "catalog")
	ordersID   = identity.SPIFFE("shop", "orders")
)

// pathMesh is the real authorizer, the built filter in a sidecar, and an
// upstream; it records the path of every check (what was judged) and the
// request target of every request the upstream received.
type pathMesh struct {
	authz    *server.Running
	ca       *identity.CA
	sidecar  *sidecar.Server
	mu       sync.Mutex
	judged   []string
	received []received
}

type received struct{ target, rule string }

func startAuthz(t *testing.T, log zerolog.Logger) *server.Running {
	return startAuthzWith(t, pathPolicies, log)
}

// startAuthzWith runs a plaintext authorizer (these tests put a spy in front
// of it) with the policies of yaml.
func startAuthzWith(t *testing.T, policies string, log zerolog.Logger) *server.Running {
	t.Helper()
	set, err := policy.Parse("pathnorm-policies.yaml", []byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	a, err := server.Start(server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		InsecurePlaintextChecks: true, VerdictToken: []byte("e2e-pathnorm"), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

// startPathMesh starts it all with the sidecar in mode m; upstream "" is a
// recording upstream, anything else is where the sidecar forwards to.
func startPathMesh(t *testing.T, m pathnorm.Mode, upstream string, log zerolog.Logger) *pathMesh {
	return startPathMeshWith(t, pathPolicies, m, upstream, log)
}

// startPathMeshWith is startPathMesh with the authorizer on other policies.
func startPathMeshWith(t *testing.T, policies string, m pathnorm.Mode, upstream string, log zerolog.Logger) *pathMesh {
	t.Helper()
	pm := &pathMesh{authz: startAuthzWith(t, policies, log)}
	if upstream == "" {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pm.mu.Lock()
			pm.received = append(pm.received, received{r.RequestURI, r.Header.Get("x-meshward-rule")})
			pm.mu.Unlock()
		}))
		t.Cleanup(up.Close)
		upstream = up.URL
	}
	spy := httptest.NewServer(pm.spyOn("http://" + pm.authz.HTTPAddr.String()))
	t.Cleanup(spy.Close)
	cfg := fmt.Sprintf(`{"authorizer_cluster":"meshward-authz","destination":%q,"destination_labels":{"app":"orders"},"decision_cache_entries":0,"timeout_ms":5000}`, ordersID)
	ctx := context.Background()
	host, err := proxywasm.New(ctx, proxywasm.Config{WasmPath: wasmPath(t), PluginConfig: []byte(cfg), CacheDir: cacheDir(t),
		Clusters: map[string]string{"meshward-authz": spy.URL}, Log: log.With().Str("component", "filter").Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close(ctx) })
	if pm.ca, err = identity.NewCA(); err != nil {
		t.Fatal(err)
	}
	cert, err := pm.ca.Issue(ordersID)
	if err != nil {
		t.Fatal(err)
	}
	pm.sidecar, err = sidecar.Listen("127.0.0.1:0", pm.ca.ServerTLS(cert), &sidecar.Sidecar{Host: host, Upstream: upstream,
		PathNormalization: m, Log: log.With().Str("component", "sidecar").Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pm.sidecar.Close() })
	return pm
}

// spyOn forwards the filter's callouts to the authorizer and records the
// path each check carried.
func (pm *pathMesh) spyOn(authz string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == check.Path {
			if req, err := check.DecodeRequest(body); err == nil {
				pm.mu.Lock()
				pm.judged = append(pm.judged, req.Path)
				pm.mu.Unlock()
			}
		}
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, authz+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			http.Error(w, "spy: authorizer unreachable", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

// take returns and forgets what was judged and received since the last call.
func (pm *pathMesh) take() ([]string, []received) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	j, r := pm.judged, pm.received
	pm.judged, pm.received = nil, nil
	return j, r
}

type answer struct {
	status int
	reason string
}

// send writes "GET target" over mTLS as workload id, byte for byte (Go's
// client would clean or re-encode some targets and never sends a '#').
func (pm *pathMesh) send(t *testing.T, id, target string) answer {
	t.Helper()
	cert, err := pm.ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	d := &tls.Dialer{Config: pm.ca.ClientTLS(cert)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", pm.sidecar.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: orders.shop\r\nConnection: close\r\n\r\n", target); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("x-meshward-reason")}
}
