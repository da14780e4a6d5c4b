package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/internal/identity"
)

// The built filter has the ABI Envoy expects: the proxy_on_* exports and the
// env.proxy_* imports (standard Go without the overlay produces neither).
func TestBuiltFilterABI(t *testing.T) {
	wasm, err := os.ReadFile(wasmPath(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	m, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"proxy_on_request_headers", "proxy_on_http_call_response", "proxy_on_memory_allocate",
		"proxy_abi_version_0_2_0", "proxy_on_configure", "proxy_on_context_create", "_initialize"} {
		if _, ok := m.ExportedFunctions()[name]; !ok {
			t.Errorf("the filter does not export %s", name)
		}
	}
	var imports []string
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		imports = append(imports, mod+"."+name)
	}
	for _, want := range []string{"env.proxy_http_call", "env.proxy_get_header_map_pairs", "env.proxy_send_local_response"} {
		if !slices.Contains(imports, want) {
			t.Errorf("the filter does not import %s", want)
		}
	}
}

// recorder is the authorizer cluster for tests of the filter itself: it
// records the facts each check carried and answers with decide.
type recorder struct {
	mu     sync.Mutex
	seen   []check.Request
	decide func(check.Request) check.Response
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, err := check.DecodeRequest(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	rc.mu.Lock()
	rc.seen = append(rc.seen, req)
	rc.mu.Unlock()
	_ = json.NewEncoder(w).Encode(rc.decide(req))
}

type mesh struct {
	ca      *identity.CA
	sidecar *sidecar.Server
	host    *proxywasm.Host
}

// startSidecar runs the built filter in the wazero host, behind an mTLS
// sidecar, in front of an upstream that echoes the path.
func startSidecar(t *testing.T, pluginConfig string, authz string) *mesh {
	t.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.URL.RequestURI())
	}))
	t.Cleanup(upstream.Close)
	ctx := context.Background()
	host, err := proxywasm.New(ctx, proxywasm.Config{
		WasmPath: wasmPath(t), PluginConfig: []byte(pluginConfig),
		Clusters: map[string]string{"meshward-authz": authz}, CacheDir: cacheDir(t), Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close(ctx) })
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(identity.SPIFFE("shop", "orders"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sidecar.Listen("127.0.0.1:0", ca.ServerTLS(cert), &sidecar.Sidecar{Host: host, Upstream: upstream.URL, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &mesh{ca: ca, sidecar: srv, host: host}
}

func cacheDir(t testing.TB) string {
	if d := os.Getenv("MESHWARD_WAZERO_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	return d + "/meshward/wazero"
}

func (m *mesh) client(t *testing.T, spiffeID string) *http.Client {
	t.Helper()
	cert, err := m.ca.Issue(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: m.ca.ClientTLS(cert)}}
}

func get(t *testing.T, c *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("x-meshward-reason"), string(b)
}

// Header values of every length from 1 to 300 bytes reach the filter intact:
// a guest allocator that let Go keep small buffers on the stack garbled them.
func TestFilterReadsHeaderValuesIntact(t *testing.T) {
	rec := &recorder{decide: func(check.Request) check.Response { return check.Response{Allow: true, Reason: "allowed"} }}
	authz := httptest.NewServer(rec)
	defer authz.Close()
	m := startSidecar(t, `{"authorizer_cluster":"meshward-authz","destination":"orders"}`, authz.URL)
	c := m.client(t, identity.SPIFFE("shop", "frontend"))
	base := "https://" + m.sidecar.Addr.String()
	for n := 1; n <= 300; n++ {
		path := "/" + strings.Repeat(string(rune('a'+n%26)), n-1)
		if n%50 == 0 {
			path += "?q=%2F" + strings.Repeat("x", n/50) // a query, escaped, passes untouched
		}
		code, _, body := get(t, c, base+path)
		if code != 200 || body != "upstream saw GET "+path {
			t.Fatalf("len %d: %d %q", n, code, body)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 300 {
		t.Fatalf("%d checks, want 300", len(rec.seen))
	}
	for i, r := range rec.seen {
		n := i + 1
		want := "/" + strings.Repeat(string(rune('a'+n%26)), n-1)
		if n%50 == 0 {
			want += "?q=%2F" + strings.Repeat("x", n/50)
		}
		if r.Path != want || r.Method != "GET" || r.SourcePrincipal != identity.SPIFFE("shop", "frontend") || r.Destination != "orders" {
			t.Fatalf("check %d carried %+v", n, r)
		}
	}
	if u := m.host.Unimplemented(); len(u) != 0 {
		t.Fatalf("the filter made unimplemented ABI calls: %v", u)
	}
}

func TestFilterDeniesAndFailsClosed(t *testing.T) {
	rec := &recorder{decide: func(r check.Request) check.Response {
		if r.Method == "GET" {
			return check.Response{Allow: true, Reason: "allowed"}
		}
		return check.Response{Reason: "no-matching-rule"}
	}}
	authz := httptest.NewServer(rec)
	defer authz.Close()
	m := startSidecar(t, `{"authorizer_cluster":"meshward-authz"}`, authz.URL)
	c := m.client(t, identity.SPIFFE("shop", "frontend"))
	url := "https://" + m.sidecar.Addr.String() + "/orders"

	resp, err := c.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("x-meshward-reason") != "no-matching-rule" {
		t.Fatalf("POST: %d %q, want 403 no-matching-rule", resp.StatusCode, resp.Header.Get("x-meshward-reason"))
	}

	down := startSidecar(t, `{"authorizer_cluster":"meshward-authz","timeout_ms":200}`, "http://127.0.0.1:1")
	code, reason, _ := get(t, down.client(t, identity.SPIFFE("shop", "frontend")), "https://"+down.sidecar.Addr.String()+"/orders")
	if code != 403 || reason != "authorizer-unavailable" {
		t.Fatalf("authorizer down: %d %q, want 403 authorizer-unavailable", code, reason)
	}
	open := startSidecar(t, `{"authorizer_cluster":"meshward-authz","timeout_ms":200,"fail_mode":"open"}`, "http://127.0.0.1:1")
	if code, _, _ := get(t, open.client(t, identity.SPIFFE("shop", "frontend")), "https://"+open.sidecar.Addr.String()+"/orders"); code != 200 {
		t.Fatalf("authorizer down, fail open: %d, want 200", code)
	}
}

func TestHostRejectsBadPluginConfig(t *testing.T) {
	_, err := proxywasm.New(context.Background(), proxywasm.Config{
		WasmPath: wasmPath(t), PluginConfig: []byte(`{"fail_mode":"sometimes"}`), CacheDir: cacheDir(t), Log: zerolog.Nop(),
	})
	if err == nil || !strings.Contains(err.Error(), "rejected its configuration") {
		t.Fatalf("err = %v", err)
	}
}
