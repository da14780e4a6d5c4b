package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/extauthz/workloads"
	"github.com/meshward/meshward/internal/identity"
)

// Red team, after issue 8. Each test performs an attack of a compromised
// workload (catalog) that holds its own valid mesh certificate and reaches
// the authorizer's ports, and fails while the attack gets through.
//
// What they share: the authorizer checks that a caller asks only about its
// own workload (destination == caller, namespace == caller's), but it still
// believes every other fact the caller states, and several of those facts
// steer state that belongs to other workloads: which policies are evaluated
// (destination labels), learned policies, rate-limit buckets and the
// lateral-movement detector (source principal, destination port).

// redOrdersPolicy: orders (app=orders) lets the frontend read it. Tests
// add the shop namespace's MeshwardPolicy they need (default ALLOW for
// learn mode, a rate limit, enforced lateral movement).
const redOrdersPolicy = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: frontend-reads-orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/orders", "/orders/*"]}}]
`

type redAuthz struct {
	*server.Running
	ca   *identity.CA
	logs *syncBuffer
}

// startRedAuthz runs the real authorizer over mutual TLS with the mesh CA,
// as in a cluster.
const redWorkloads = `
workloads:
- {identity: "spiffe://cluster.local/ns/shop/sa/orders", labels: {app: orders}, services: [orders]}
- {identity: "spiffe://cluster.local/ns/shop/sa/catalog", labels: {app: catalog}, services: [catalog]}
- {identity: "spiffe://cluster.local/ns/shop/sa/frontend", labels: {app: frontend}, services: [frontend]}
`

func startRedAuthz(t *testing.T, policies string, tune func(*server.Config)) *redAuthz {
	t.Helper()
	set, err := policy.Parse("redteam.yaml", []byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(identity.SPIFFE("meshward-system", "extauthz"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	// The secure configuration binds each identity to its own labels.
	reg, err := workloads.Parse("redteam-workloads.yaml", []byte(redWorkloads))
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GRPCTLS: ca.ServerTLS(cert), HTTPTLS: ca.ServerTLS(cert), Workloads: reg,
		VerdictToken: []byte("redteam-operator-token-0123456789"), Log: zerolog.New(logs)}
	if tune != nil {
		tune(&cfg)
	}
	a, err := server.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return &redAuthz{Running: a, ca: ca, logs: logs}
}

// httpClient is a mesh client with workload id's certificate.
func (ra *redAuthz) httpClient(t *testing.T, id string) *http.Client {
	t.Helper()
	cert, err := ra.ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: ra.ca.ClientTLS(cert)}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// forge posts a check as workload `as`, over mutual TLS with its own
// certificate: what a compromised workload can do.
func (ra *redAuthz) forge(t *testing.T, c *http.Client, req check.Request) check.Response {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := c.Post("https://"+ra.HTTPAddr.String()+check.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("check answered %d: %s", resp.StatusCode, b)
	}
	out, err := check.DecodeResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Attack: the policy oracle is back through the destination's labels. The
// catalog asks about itself (destination = its own SPIFFE ID, so vouching
// passes) but claims orders' labels: the authorizer evaluates orders'
// policies and answers with their decision and rule names. Severity: medium
// (policy disclosure, the oracle issue 8 closed for the destination field).
func TestRedteamOracleThroughClaimedLabels(t *testing.T) {
	ra := startRedAuthz(t, redOrdersPolicy, nil)
	asCatalog := ra.httpClient(t, catalogID)
	probe := check.Request{SourcePrincipal: frontendID, Destination: catalogID, DestinationNamespace: "shop",
		DestinationLabels: map[string]string{"app": "orders"}, Method: "GET", Path: "/orders/42"}
	t.Run("http", func(t *testing.T) {
		if d := ra.forge(t, asCatalog, probe); d.Allow || strings.Contains(d.Rule, "frontend-reads-orders") {
			t.Fatalf("catalog read orders' policy through claimed labels: %+v", d)
		}
	})
	t.Run("grpc", func(t *testing.T) {
		cert, err := ra.ca.Issue(catalogID)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(ra.GRPCAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(ra.ca.ClientTLS(cert))))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:      &authv3.AttributeContext_Peer{Principal: frontendID},
			Destination: &authv3.AttributeContext_Peer{Principal: catalogID, Labels: map[string]string{"app": "orders"}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/orders/42", Host: "orders.shop"}},
		}}
		resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
			var rule string
			for _, h := range resp.GetOkResponse().GetHeaders() {
				if h.GetHeader().GetKey() == "x-meshward-rule" {
					rule = h.GetHeader().GetValue()
				}
			}
			t.Fatalf("catalog read orders' policy over gRPC through claimed labels: allowed by %q", rule)
		}
	})
}

// redMigrating is a namespace being migrated to least privilege: meshward's
// default deny is off while learn mode watches.
const redMigrating = redOrdersPolicy + `
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: shop, namespace: shop}
spec:
  defaultAction: ALLOW
`

// Attack: learn-mode poisoning through claimed labels. In a namespace being
// migrated (defaultAction ALLOW, --learn), the catalog forges one check
// about "itself" with orders' labels: the learner files the edge under
// orders' selector, and the learned least-privilege policy for app=orders
// lets the catalog DELETE /orders/admin. Severity: high (issue 8 finding 2's
// learn-mode poisoning, through another field).
func TestRedteamLearnPoisonedThroughClaimedLabels(t *testing.T) {
	ra := startRedAuthz(t, redMigrating, func(c *server.Config) { c.Learn = true })
	asCatalog := ra.httpClient(t, catalogID)
	forged := check.Request{SourcePrincipal: catalogID, Destination: catalogID, DestinationNamespace: "shop",
		DestinationLabels: map[string]string{"app": "payments"}, Method: "DELETE", Path: "/payments/admin"}
	if d := ra.forge(t, asCatalog, forged); d.Allow || d.Reason != server.ReasonUnboundClaim {
		t.Errorf("the check claiming payments' labels was answered %+v", d)
	}
	learned := fetchLearned(t, ra, asCatalog)
	if bytes.Contains(learned, []byte("app: payments")) && bytes.Contains(learned, []byte("/payments/admin")) {
		t.Fatalf("one forged check wrote a learned policy for another workload (app=payments) that lets the catalog DELETE /payments/admin:\n%s", learned)
	}
}

// Attack: draining another workload's rate limit. The shop namespace limits
// the frontend to a burst of 5. The catalog forges checks "from the
// frontend to the catalog" (vouching passes: the destination is the
// catalog); the bucket is keyed by limit and source only, so the frontend's
// real calls to orders are now refused 429. Severity: medium (targeted
// denial of service of any rate-limited workload, from any workload of the
// namespace).
func TestRedteamRateLimitDrainedByForgedSource(t *testing.T) {
	const limited = redOrdersPolicy + `
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: shop, namespace: shop}
spec:
  rateLimits:
  - {sources: ["cluster.local/ns/shop/sa/frontend"], requestsPerSecond: 0.01, burst: 5}
`
	ra := startRedAuthz(t, limited, nil)
	asCatalog := ra.httpClient(t, catalogID)
	for i := 0; i < 10; i++ {
		ra.forge(t, asCatalog, check.Request{SourcePrincipal: frontendID, Destination: catalogID,
			DestinationNamespace: "shop", Method: "GET", Path: "/"})
	}
	asOrders := ra.httpClient(t, ordersID)
	d := ra.forge(t, asOrders, check.Request{SourcePrincipal: frontendID, Destination: ordersID, DestinationNamespace: "shop",
		DestinationLabels: map[string]string{"app": "orders"}, Method: "GET", Path: "/orders/42"})
	if !d.Allow {
		t.Fatalf("orders' own sidecar asked about the frontend's first real call and got %+v: the catalog's forged checks spent the frontend's bucket", d)
	}
}

// Attack: framing through destination ports. The shop namespace enforces
// lateral movement. The catalog forges checks "from the frontend" to itself
// on 30 ports (the destination is the catalog, so vouching passes; the port
// is whatever destination_address says): the detector sees the frontend
// fan out over 30 (destination, port) pairs and quarantines it; the
// frontend's real calls to orders are then denied. Severity: high
// (issue 8 finding 2's framing, through the port).
func TestRedteamFramingThroughClaimedPorts(t *testing.T) {
	const enforced = redOrdersPolicy + `
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: shop, namespace: shop}
spec:
  lateralMovement: {mode: enforce, quarantineSeconds: 600}
`
	ra := startRedAuthz(t, enforced, func(c *server.Config) { c.LateralLearnFor = time.Millisecond })
	// Learning must be over, or the forged fan-out only raises the peak; the
	// authorizer logs when it is.
	for !strings.Contains(ra.logs.String(), "learning over") {
		time.Sleep(time.Millisecond)
	}
	asCatalog := ra.httpClient(t, catalogID)
	for port := 20000; port < 20030; port++ {
		ra.forge(t, asCatalog, check.Request{SourcePrincipal: frontendID, Destination: catalogID, DestinationNamespace: "shop",
			DestinationAddress: fmt.Sprintf("127.0.0.1:%d", port), Method: "GET", Path: "/"})
	}
	// The detector runs off the hot path, in order: a quarantine, if any,
	// follows within milliseconds. The wait bounds only how long a fixed
	// authorizer takes to pass; a framed frontend fails at once.
	asOrders := ra.httpClient(t, ordersID)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d := ra.forge(t, asOrders, check.Request{SourcePrincipal: frontendID, Destination: ordersID, DestinationNamespace: "shop",
			DestinationLabels: map[string]string{"app": "orders"}, Method: "GET", Path: "/orders/42"})
		if !d.Allow {
			t.Fatalf("the frontend's real call to orders after the catalog's forged checks: %+v (framed)", d)
		}
	}
}

// Attack: the gRPC Check has no memory bound of its own. The HTTP check
// refuses bodies over check.MaxRequestBytes (16 KiB), but gRPC decodes
// messages up to grpc-go's default 4 MiB, and headers up to its 16 MiB
// header list. One workload, within its 64 in-flight slots, sending
// 4 MiB checks about itself took the extauthz binary from 52 MB to 671 MB
// resident in 10 s (the goal is a 90 MiB peak) and a legitimate sidecar's
// check to 652 ms (the filter's default timeout is 500 ms: fail closed).
// Severity: high (one compromised workload takes the authorizer down or
// out of its memory limit). Envoy's CheckRequest for a request within
// Envoy's default 60 KiB of headers is far below 1 MiB.
func TestRedteamGRPCCheckSizeBounded(t *testing.T) {
	ra := startRedAuthz(t, redOrdersPolicy, nil)
	cert, err := ra.ca.Issue(catalogID)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(ra.GRPCAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(ra.ca.ClientTLS(cert))),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pad := strings.Repeat("a", 1<<20)
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Principal: frontendID},
		Destination: &authv3.AttributeContext_Peer{Principal: catalogID},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Headers: map[string]string{"x-pad": pad}}},
	}}
	_, err = authv3.NewAuthorizationClient(conn).Check(context.Background(), req)
	if err == nil {
		t.Fatalf("a %d-byte Check was read and decided (the HTTP check refuses more than %d bytes)", len(pad), check.MaxRequestBytes)
	}
}
