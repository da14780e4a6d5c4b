package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/policy"
)

func TestDecisionLog(t *testing.T) {
	var buf bytes.Buffer
	dl := newDecisionLog(DecisionLogConfig{AllowSample: 0, DeniesPerSecond: 5}, zerolog.New(&buf), prometheus.NewRegistry())
	r := &policy.Request{SourcePrincipal: frontend, Destination: orders, Method: "GET", Path: "/orders?token=s3cret",
		Headers: map[string]string{"x-api-key": "s3cret"}}
	for i := 0; i < 100; i++ {
		dl.write("http", r, decision.Decision{Allow: true, Reason: "allowed"}, 0) // sampled out
		dl.write("http", r, decision.Decision{Reason: "no-matching-rule"}, 0)
	}
	dl.write("http", r, decision.Decision{Allow: true, Reason: "allowed", Audit: []string{"shop/audit[0]"}}, 0)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 7 { // the burst of denials (5+1), then the audited allow
		t.Fatalf("%d lines, want 7:\n%s", len(lines), buf.String())
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last["path"] != "/orders" || last["allow"] != true || last["reason"] != "allowed" {
		t.Fatalf("line %v", last)
	}
	if strings.Contains(buf.String(), "s3cret") {
		t.Fatal("a secret reached the decision log")
	}
}
