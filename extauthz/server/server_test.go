package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshward/meshward/api/check"
	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/extauthz/policy"
)

const (
	frontend = "spiffe://cluster.local/ns/shop/sa/frontend"
	orders   = "spiffe://cluster.local/ns/shop/sa/orders"
	token    = "test-token-0123456789"
)

func start(t *testing.T) *Running {
	t.Helper()
	set, err := policy.Parse("t.yaml", []byte(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: frontend-reads-orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
    to: [{operation: {methods: [GET], paths: ["/orders/*"]}}]
    when: [{key: "request.headers[x-tenant]", notValues: ["blocked"]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		InsecurePlaintextChecks: true, VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func dial(t *testing.T, r *Running) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(r.GRPCAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func httpCheck(t *testing.T, r *Running, req check.Request) check.Response {
	t.Helper()
	req.DestinationLabels = map[string]string{"app": "orders"}
	body, _ := json.Marshal(req)
	resp, err := http.Post("http://"+r.HTTPAddr.String()+check.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("http check: %d %s", resp.StatusCode, b)
	}
	var out check.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func grpcCheck(t *testing.T, cc *grpc.ClientConn, req check.Request) check.Response {
	t.Helper()
	resp, err := authv3.NewAuthorizationClient(cc).Check(context.Background(), &authv3.CheckRequest{
		Attributes: &authv3.AttributeContext{
			Source:      &authv3.AttributeContext_Peer{Principal: req.SourcePrincipal},
			Destination: &authv3.AttributeContext_Peer{Principal: req.Destination, Labels: map[string]string{"app": "orders"}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: req.Method, Path: req.Path, Host: "orders", Headers: req.Headers,
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		if resp.GetOkResponse() == nil {
			t.Fatal("allow without ok_response")
		}
		return check.Response{Allow: true, Reason: "allowed", Rule: resp.GetOkResponse().GetHeaders()[0].GetHeader().GetValue()}
	}
	denied := resp.GetDeniedResponse()
	if denied.GetStatus().GetCode() != 403 {
		t.Fatalf("denied with HTTP %d, want 403", denied.GetStatus().GetCode())
	}
	var reason string
	for _, h := range denied.GetHeaders() {
		if h.GetHeader().GetKey() == "x-meshward-reason" {
			reason = h.GetHeader().GetValue()
		}
	}
	if reason != resp.GetStatus().GetMessage() {
		t.Fatalf("reason header %q vs status message %q", reason, resp.GetStatus().GetMessage())
	}
	return check.Response{Reason: reason}
}

func report(cc *grpc.ClientConn, tok string, v *verdictv1.Verdict) (*verdictv1.Ack, error) {
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	return verdictv1.NewVerdictsClient(cc).Report(ctx, v)
}

// One table drives both transports: they must give the same answer.
func TestTransportsAgree(t *testing.T) {
	r := start(t)
	cc := dial(t, r)
	get := check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1"}
	steps := []struct {
		name   string
		before func(t *testing.T)
		req    check.Request
		allow  bool
		reason string
	}{
		{name: "allowed", req: get, allow: true, reason: "allowed"},
		{name: "wrong method", req: check.Request{SourcePrincipal: frontend, Destination: orders, Method: "DELETE", Path: "/orders/1"}, reason: "no-matching-rule"},
		{name: "header condition", req: check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1",
			Headers: map[string]string{"x-tenant": "blocked"}}, reason: "no-matching-rule"},
		{name: "other source", req: check.Request{SourcePrincipal: orders, Destination: orders, Method: "GET", Path: "/orders/1"}, reason: "no-matching-rule"},
		{name: "no identity", req: check.Request{Destination: orders, Method: "GET", Path: "/orders/1"}, reason: "no-matching-rule"},
		{name: "after verdict", req: get, reason: "quarantined-source", before: func(t *testing.T) {
			if _, err := report(cc, token, &verdictv1.Verdict{Workload: frontend, Reason: "exec-shell", Score: 1}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "after release", req: get, allow: true, reason: "allowed", before: func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
			if _, err := verdictv1.NewVerdictsClient(cc).Release(ctx, &verdictv1.ReleaseRequest{Workload: frontend}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before(t)
		}
		h, g := httpCheck(t, r, s.req), grpcCheck(t, cc, s.req)
		if h.Allow != s.allow || h.Reason != s.reason {
			t.Fatalf("%s: http %+v, want allow=%v reason=%s", s.name, h, s.allow, s.reason)
		}
		if g.Allow != h.Allow || g.Reason != h.Reason || g.Rule != h.Rule {
			t.Fatalf("%s: grpc %+v disagrees with http %+v", s.name, g, h)
		}
	}
	assertMetric(t, r, `meshward_authz_decisions_total{reason="quarantined-source",result="deny",transport="grpc"} 1`)
	assertMetric(t, r, `meshward_authz_decisions_total{reason="allowed",result="allow",transport="http"} 2`)
}

func assertMetric(t *testing.T, r *Running, line string) {
	t.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), line) {
		t.Fatalf("/metrics lacks %q", line)
	}
}

func TestVerdictAPIRejects(t *testing.T) {
	r := start(t)
	cc := dial(t, r)
	tests := []struct {
		name string
		tok  string
		v    *verdictv1.Verdict
		code codes.Code
	}{
		{"no token", "", &verdictv1.Verdict{Workload: frontend, Reason: "x"}, codes.Unauthenticated},
		{"wrong token", "test-token-0123456788", &verdictv1.Verdict{Workload: frontend, Reason: "x"}, codes.Unauthenticated},
		{"no workload", token, &verdictv1.Verdict{Reason: "x"}, codes.InvalidArgument},
		{"no reason", token, &verdictv1.Verdict{Workload: frontend}, codes.InvalidArgument},
		{"score out of range", token, &verdictv1.Verdict{Workload: frontend, Reason: "x", Score: 2}, codes.InvalidArgument},
		{"ttl too long", token, &verdictv1.Verdict{Workload: frontend, Reason: "x", TtlSeconds: 1 << 40}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := report(cc, tc.tok, tc.v)
			if status.Code(err) != tc.code {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
		})
	}
	if r.Authorizer.Engine.Quarantine().Len() != 0 {
		t.Fatal("a rejected verdict quarantined a workload")
	}
	// ext_authz itself needs no token: Envoy calls it.
	g := grpcCheck(t, cc, check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1"})
	if !g.Allow {
		t.Fatalf("check after rejected verdicts: %+v", g)
	}
}

func TestHTTPCheckBadRequests(t *testing.T) {
	r := start(t)
	url := "http://" + r.HTTPAddr.String() + check.Path
	tests := []struct {
		name, body, want string
		code             int
	}{
		{"not json", "{", "malformed JSON", 400},
		{"unknown field", `{"destination":"d","method":"GET","path":"/","admin":true}`, `unknown field "admin"`, 400},
		{"no destination", `{"method":"GET","path":"/"}`, `"destination" is empty`, 400},
		{"too large", `{"destination":"` + strings.Repeat("a", check.MaxRequestBytes) + `"}`, "too large", 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(url, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, b, tc.code, tc.want)
			}
		})
	}
}

func TestEnvoyRequest(t *testing.T) {
	r := EnvoyRequest(&authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Principal: frontend, Address: &corev3.Address{
			Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 80}}}}},
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Host: "orders.shop"}},
		ContextExtensions: map[string]string{ServiceExtension: "orders", NamespaceExtension: "shop"},
		TlsSession:        &authv3.AttributeContext_TLSSession{Sni: "orders.shop.svc"},
	}})
	if r.SourcePrincipal != frontend || r.SourceAddress != "127.0.0.1:80" || r.Destination != "orders.shop" ||
		r.DestinationService != "orders" || r.DestinationNS() != "shop" || r.SNI != "orders.shop.svc" {
		t.Fatalf("got %+v", r)
	}
}

// A policy file change reaches both transports at once when it is saved as
// editors save (a temporary file renamed over the policy); an invalid change
// leaves the active policy in place and is counted.
func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/p.yaml"
	save := func(body []byte) {
		if err := os.WriteFile(dir+"/.p.yaml.tmp", body, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+"/.p.yaml.tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	policyFor := func(method string) []byte {
		return []byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\n" +
			"spec:\n  selector: {matchLabels: {app: orders}}\n  rules:\n  - to: [{operation: {methods: [" + method + "]}}]\n")
	}
	if err := os.WriteFile(file, policyFor("GET"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Start(Config{PolicyPaths: []string{dir}, ReloadInterval: 10 * time.Millisecond, GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0", InsecurePlaintextChecks: true, VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	cc := dial(t, r)
	post := check.Request{SourcePrincipal: frontend, Destination: orders, Method: "POST", Path: "/x"}
	before := httpCheck(t, r, post)
	if before.Allow {
		t.Fatal("POST allowed before the change")
	}
	save(policyFor("POST"))
	waitUntil(t, time.Second, func() bool { return httpCheck(t, r, post).Allow && grpcCheck(t, cc, post).Allow })
	if after := httpCheck(t, r, post); after.Epoch <= before.Epoch {
		t.Fatalf("epoch %d -> %d did not move", before.Epoch, after.Epoch)
	}
	save(append(policyFor("GET"), "    when: [{key: nope, values: [x]}]\n"...))
	waitUntil(t, time.Second, func() bool {
		return strings.Contains(scrape(t, r), `meshward_authz_policy_reloads_total{result="rejected"} 1`)
	})
	if !httpCheck(t, r, post).Allow {
		t.Fatal("an invalid change replaced the active policy")
	}
}

func waitUntil(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func scrape(t *testing.T, r *Running) string {
	if !r.Authorizer.insecureChecks {
		return scrapeTLS(t, r)
	}
	resp, err := http.Get("http://" + r.HTTPAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Learn mode over the real HTTP check: the policies it writes load, and
// allow what it saw and nothing else.
func TestLearnMode(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte("apiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: m, namespace: shop}\nspec: {defaultAction: ALLOW}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(Config{Policy: set, Learn: true, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", InsecurePlaintextChecks: true, VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	seen := check.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders/1"}
	httpCheck(t, r, seen)
	req, _ := http.NewRequest("GET", "http://"+r.HTTPAddr.String()+"/v1/learned", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	learned, err := policy.Parse("learned.yaml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	labels := map[string]string{"app": "orders"}
	if !learned.Evaluate(&policy.Request{SourcePrincipal: frontend, Destination: orders, DestinationLabels: labels, Method: "GET", Path: "/orders/2"}).Allow {
		t.Fatalf("the learned edge is denied:\n%s", b)
	}
	if learned.Evaluate(&policy.Request{SourcePrincipal: "spiffe://cluster.local/ns/shop/sa/catalog", Destination: orders, DestinationLabels: labels, Method: "GET", Path: "/orders/2"}).Allow {
		t.Fatalf("a new edge is allowed:\n%s", b)
	}
}
