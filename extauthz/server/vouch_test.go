package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/lateral"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/internal/identity"
)

// meshAuthz is an authorizer that takes checks only over mutual TLS with a
// mesh CA, enforcing lateral movement and in learn mode, as in production.
type meshAuthz struct {
	*Running
	ca *identity.CA
}

const catalog = "spiffe://cluster.local/ns/shop/sa/catalog"

func startMesh(t *testing.T, tune ...func(*Config)) meshAuthz {
	t.Helper()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("spiffe://cluster.local/ns/meshward-system/sa/extauthz")
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.Parse("t.yaml", []byte(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: admin-for-ops, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
    to: [{operation: {paths: ["/orders/*"]}}]
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: m, namespace: shop}
spec:
  lateralMovement: {mode: enforce, quarantineSeconds: 60}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GRPCTLS: ca.ServerTLS(cert), HTTPTLS: ca.ServerTLS(cert), VerdictToken: []byte(token), Learn: true,
		Lateral:         lateral.Config{Window: time.Minute, MaxDestinations: 5, MaxPorts: 50, MaxNewEdges: 50, MaxSources: 100},
		LateralLearnFor: time.Millisecond, Log: zerolog.Nop()}
	for _, f := range tune {
		f(&cfg)
	}
	r, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return meshAuthz{Running: r, ca: ca}
}

// client is an HTTP client presenting as's certificate ("" for none).
func (m meshAuthz) client(t *testing.T, as string) *http.Client {
	cfg := &tls.Config{RootCAs: m.ca.Pool, MinVersion: tls.VersionTLS13}
	if as != "" {
		cert, err := m.ca.Issue(as)
		if err != nil {
			t.Fatal(err)
		}
		cfg = m.ca.ClientTLS(cert)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func (m meshAuthz) check(t *testing.T, as string, req check.Request) check.Response {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := m.client(t, as).Post("https://"+m.HTTPAddr.String()+check.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out check.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	return out
}

func (m meshAuthz) grpc(t *testing.T, as string, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	cert, err := m.ca.Issue(as)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(m.GRPCAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(m.ca.ClientTLS(cert))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := authv3.NewAuthorizationClient(cc).Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// The attacks of issue 8, finding 2, by a workload with its own valid mesh
// certificate (frontend's sidecar, compromised).
func TestForgedChecksAreRefused(t *testing.T) {
	m := startMesh(t)
	time.Sleep(10 * time.Millisecond) // the detector's learning (1 ms) is over

	// Frame frontend: twelve checks naming it as source, to twelve made-up
	// destinations, which would quarantine it for fan-out (enforce).
	for i := 0; i < 12; i++ {
		d := m.check(t, catalog, check.Request{SourcePrincipal: frontend, Method: "GET", Path: "/",
			Destination: fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc-%d", i)})
		if d.Allow || d.Reason != ReasonCallerNotDestination {
			t.Fatalf("forged check %d answered %+v", i, d)
		}
	}
	// The same over gRPC, as Envoy's ext_authz would send it.
	for i := 0; i < 12; i++ {
		resp := m.grpc(t, catalog, envoyCheck(frontend, fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc-%d", i), "/admin"))
		if resp.GetDeniedResponse() == nil || resp.GetStatus().GetMessage() != ReasonCallerNotDestination {
			t.Fatalf("forged gRPC check %d answered %v", i, resp)
		}
	}
	// The policy oracle: asking whether frontend may GET /orders/1 on orders,
	// from catalog's sidecar, gets no answer about the policy.
	if d := m.check(t, catalog, check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1",
		DestinationLabels: map[string]string{"app": "orders"}}); d.Allow || d.Rule != "" {
		t.Fatalf("oracle answered %+v", d)
	}
	// No certificate at all: refused on both the check and the epoch.
	if d := m.check(t, "", check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1"}); d.Allow || d.Reason != ReasonUnauthenticatedCaller {
		t.Fatalf("check without a certificate answered %+v", d)
	}
	if code := get(t, m.client(t, ""), "https://"+m.HTTPAddr.String()+check.EpochPath, ""); code != http.StatusUnauthorized {
		t.Fatalf("epoch without a certificate: %d", code)
	}

	// Nothing of the above reached the detector or learn mode.
	waitFor := time.Now().Add(200 * time.Millisecond) // the detector runs off the hot path
	for time.Now().Before(waitFor) {
		if _, q := m.Authorizer.Engine.Quarantine().Lookup(frontend); q {
			t.Fatal("forged checks quarantined frontend")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, edges, _ := m.Authorizer.learner.Stats(); edges != 0 {
		t.Fatalf("forged checks put %d edges into learn mode", edges)
	}

	// The real sidecar of orders asking about its own traffic is answered.
	d := m.check(t, orders, check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1",
		DestinationLabels: map[string]string{"app": "orders"}})
	if !d.Allow {
		t.Fatalf("orders' own check: %+v", d)
	}
	if _, edges, _ := m.Authorizer.learner.Stats(); edges != 1 {
		t.Fatalf("the vouched check was not learned (%d edges)", edges)
	}
	if code := get(t, m.client(t, orders), "https://"+m.HTTPAddr.String()+check.EpochPath, ""); code != http.StatusOK {
		t.Fatalf("epoch with a mesh certificate: %d", code)
	}
}

// A destination namespace other than the caller's own is refused too: it
// would pick another namespace's policies.
func TestCheckNamespaceMustBeTheCallers(t *testing.T) {
	m := startMesh(t)
	d := m.check(t, orders, check.Request{SourcePrincipal: frontend, Destination: orders, DestinationNamespace: "payments",
		Method: "GET", Path: "/orders/1"})
	if d.Allow || d.Reason != ReasonCallerNotDestination {
		t.Fatalf("answered %+v", d)
	}
}

// The operator's endpoints take the operator's token, with its scheme.
func TestLearnedNeedsTheOperatorToken(t *testing.T) {
	m := startMesh(t)
	url := "https://" + m.HTTPAddr.String() + "/v1/learned"
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {token, 401}, {"Bearer wrong-token-0123456", 401}, {"Basic " + token, 401}, {"Bearer " + token, 200}} {
		if got := get(t, m.client(t, orders), url, c.auth); got != c.want {
			t.Errorf("authorization %q: %d, want %d", c.auth, got, c.want)
		}
	}
}

// Without client certificates the authorizer does not start, unless told
// it is a dev setup.
func TestPlaintextChecksNeedToBeAskedFor(t *testing.T) {
	set := policy.NewSet(nil, nil)
	_, err := Start(Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "mutual TLS") {
		t.Fatalf("started without authentication: %v", err)
	}
}

// The JWT principal Istio's authentication filter validated reaches the
// decision from Envoy's metadata.
func TestEnvoyRequestCarriesTheJWTPrincipal(t *testing.T) {
	req := envoyCheck(frontend, orders, "/")
	md, _ := structpb.NewStruct(map[string]any{RequestPrincipalKey: "https://issuer.example/alice"})
	req.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{AuthnMetadata: md}}
	if got := EnvoyRequest(req).RequestPrincipal; got != "https://issuer.example/alice" {
		t.Fatalf("request principal %q", got)
	}
	if got := PolicyRequest(&check.Request{RequestPrincipal: "https://issuer.example/bob"}).RequestPrincipal; got != "https://issuer.example/bob" {
		t.Fatalf("the filter's request principal became %q", got)
	}
}

func envoyCheck(src, dst, path string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Principal: src},
		Destination: &authv3.AttributeContext_Peer{Principal: dst, Labels: map[string]string{"app": "orders"}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: path, Host: "orders"}},
	}}
}

func get(t *testing.T, c *http.Client, url, auth string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// One workload that opens checks and never sends their bodies holds at most
// its own share of the slots: another sidecar is still answered.
func TestOneCallerCannotTakeEverySlot(t *testing.T) {
	// Stalled checks hold their slots for the whole test, however slow the
	// machine is at opening them.
	m := startMesh(t, func(c *Config) { c.CheckDeadline = 10 * time.Minute })
	cert, err := m.ca.Issue(catalog)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(m.GRPCAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(m.ca.ClientTLS(cert))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const stalled = DefaultMaxInFlight + 10
	for i := 0; i < stalled; i++ {
		// Headers only: the message never comes.
		if _, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, checkMethod, grpc.ForceCodec(rawCodec{})); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the server has seen every stalled check: catalog holds its
	// share and the rest were shed.
	shed := fmt.Sprintf(`meshward_authz_shed_total{bound="caller",transport="grpc"} %d`, stalled-DefaultMaxInFlightPerCaller)
	for deadline := time.Now().Add(time.Minute); !strings.Contains(scrape(t, m.Running), shed); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server never counted %q; in flight %s", shed, metricValue(scrape(t, m.Running), "meshward_authz_checks_in_flight"))
		}
	}
	if n := metricValue(scrape(t, m.Running), "meshward_authz_checks_in_flight"); n != fmt.Sprint(DefaultMaxInFlightPerCaller) {
		t.Fatalf("%s checks in flight, want catalog's share %d", n, DefaultMaxInFlightPerCaller)
	}
	resp := m.grpc(t, orders, envoyCheck(frontend, orders, "/orders/1"))
	if resp.GetOkResponse() == nil {
		t.Fatalf("with catalog's %d checks stalled, orders' check got %v", stalled, resp)
	}
}

func metricValue(metrics, name string) string {
	for _, line := range strings.Split(metrics, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	return ""
}

// The verdict API takes "Bearer <token>", never the bare token.
func TestVerdictTokenNeedsItsScheme(t *testing.T) {
	for _, c := range []struct {
		vals []string
		want bool
	}{{nil, false}, {[]string{token}, false}, {[]string{"bearer " + token}, false}, {[]string{"Bearer " + token, "Bearer " + token}, false},
		{[]string{"Bearer " + token + " "}, false}, {[]string{"Bearer " + token}, true}} {
		if got := bearerMatches(c.vals, []byte(token)); got != c.want {
			t.Errorf("%q: %v, want %v", c.vals, got, c.want)
		}
	}
}

// scrapeTLS reads /metrics over TLS, which needs no client certificate.
func scrapeTLS(t *testing.T, r *Running) string {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + r.HTTPAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
