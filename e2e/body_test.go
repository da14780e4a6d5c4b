package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/internal/identity"
)

// twoSidecars is frontend's outbound side and orders' inbound side, each
// running the built filter with its own configuration, in front of an app
// that answers with the digest of the body it got.
type twoSidecars struct {
	ca       *identity.CA
	out, in  *sidecar.Server
	appCalls atomic.Int32
	authz    *recorder
	// sent is closed once a test's client has sent its whole body; checks
	// about catalog wait for it.
	sent chan struct{}
}

const outboundDestination = "outbound|frontend"

func startTwoSidecars(t *testing.T) *twoSidecars {
	t.Helper()
	ts := &twoSidecars{sent: make(chan struct{})}
	ts.authz = &recorder{decide: func(r check.Request) check.Response {
		if r.SourcePrincipal == system.Catalog {
			<-ts.sent
		}
		if r.Destination == outboundDestination || (r.SourcePrincipal == system.Frontend && r.Path == "/orders") {
			return check.Response{Allow: true, Reason: "allowed", Rule: "test/allow"}
		}
		return check.Response{Reason: "no-matching-rule"}
	}}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.appCalls.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", len(b), sha256.Sum256(b))
	}))
	t.Cleanup(app.Close)
	authz := httptest.NewServer(ts.authz)
	t.Cleanup(authz.Close)
	t.Cleanup(func() {
		select {
		case <-ts.sent:
		default:
			close(ts.sent)
		}
	})
	var err error
	if ts.ca, err = identity.NewCA(); err != nil {
		t.Fatal(err)
	}
	inHost := filterHost(t, fmt.Sprintf(`{"authorizer_cluster":"authz","destination":%q,"timeout_ms":30000}`, system.Orders), authz.URL)
	ordersCert, _ := ts.ca.Issue(system.Orders)
	ts.in, err = sidecar.Listen("127.0.0.1:0", ts.ca.ServerTLS(ordersCert), &sidecar.Sidecar{Host: inHost, Upstream: app.URL, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.in.Close() })
	outHost := filterHost(t, fmt.Sprintf(`{"authorizer_cluster":"authz","destination":%q}`, outboundDestination), authz.URL)
	frontendCert, _ := ts.ca.Issue(system.Frontend)
	ts.out, err = sidecar.ListenOutbound("127.0.0.1:0", &sidecar.Outbound{Host: outHost, Destination: ts.in.Addr.String(),
		DestinationID: system.Orders, TLS: ts.ca.ClientTLS(frontendCert), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.out.Close() })
	return ts
}

func filterHost(t *testing.T, cfg, authz string) *proxywasm.Host {
	t.Helper()
	h, err := proxywasm.New(context.Background(), proxywasm.Config{WasmPath: wasmPath(t), PluginConfig: []byte(cfg),
		Clusters: map[string]string{"authz": authz}, CacheDir: cacheDir(t), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func post(t *testing.T, c *http.Client, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// A 1 MiB POST goes app -> outbound sidecar -> (mTLS, frontend's mesh
// certificate) -> inbound sidecar -> app intact, both filters allowing it;
// the inbound filter's check names frontend as the source.
func TestBodyThroughOutboundAndInboundSidecars(t *testing.T) {
	ts := startTwoSidecars(t)
	body := make([]byte, 1<<20)
	_, _ = rand.Read(body)
	code, got := post(t, http.DefaultClient, "http://"+ts.out.Addr.String()+"/orders", body)
	if want := fmt.Sprintf("%d %x", len(body), sha256.Sum256(body)); code != 200 || got != want {
		t.Fatalf("got %d %q, want 200 %q", code, got, want)
	}
	ts.authz.mu.Lock()
	defer ts.authz.mu.Unlock()
	var sources []string
	for _, r := range ts.authz.seen {
		sources = append(sources, r.Destination+" from "+r.SourcePrincipal)
	}
	if len(sources) != 2 || sources[1] != system.Orders+" from "+system.Frontend {
		t.Errorf("checks: %q, want the outbound's, then orders' from frontend", sources)
	}
}

// Attack: a caller with no rule sends a large body, hoping the body flows
// on while the check is pending (the authorizer answers only once the whole
// body was sent). The filter pauses in headers, so (with Envoy's default,
// which the host keeps) no body callback runs before the answer: 403, and
// the app never sees the request. With allow_on_headers_stop_iteration the
// current filter (no body callback of its own, so the SDK's Continue) lets
// the request through: that option must stay off until the filter pauses
// its body callbacks while a check is pending.
func TestBodyDoesNotOvertakeTheCheck(t *testing.T) {
	ts := startTwoSidecars(t)
	cert, _ := ts.ca.Issue(system.Catalog)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.ca.ClientTLS(cert)}}
	body := &signalEOF{r: bytes.NewReader(make([]byte, 1<<20)), eof: func() { close(ts.sent) }}
	req, err := http.NewRequest("POST", "https://"+ts.in.Addr.String()+"/orders", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1 << 20
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code, got := resp.StatusCode, string(b)
	if code != 403 || ts.appCalls.Load() != 0 {
		t.Fatalf("got %d %q with %d app calls, want 403 and none", code, got, ts.appCalls.Load())
	}
}

// signalEOF runs eof once its reader is exhausted.
type signalEOF struct {
	r   *bytes.Reader
	eof func()
}

func (s *signalEOF) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if s.r.Len() == 0 && s.eof != nil {
		s.eof()
		s.eof = nil
	}
	return n, err
}
