package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/lateral"
	"github.com/meshward/meshward/extauthz/policy"
)

// A source that sweeps more destinations than the detector allows is
// quarantined where its namespace enforces, and only alerted where it does not.
func TestLateralMovementEnforced(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte(`
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: m, namespace: shop}
spec:
  defaultAction: ALLOW
  lateralMovement: {mode: enforce, quarantineSeconds: 60}
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: m, namespace: lab}
spec:
  defaultAction: ALLOW
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", InsecurePlaintextChecks: true, VerdictToken: []byte(token),
		Lateral:         lateral.Config{Window: time.Minute, MaxDestinations: 5, MaxPorts: 50, MaxNewEdges: 50, MaxSources: 100},
		LateralLearnFor: time.Millisecond, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	time.Sleep(20 * time.Millisecond) // learning is over
	sweep := func(src string) {
		for i := 0; i < 8; i++ {
			httpCheck(t, r, check.Request{SourcePrincipal: src, Destination: fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc-%d", i),
				Method: "GET", Path: "/"})
		}
	}
	scanner := "spiffe://cluster.local/ns/shop/sa/compromised"
	sweep(scanner)
	waitUntil(t, time.Second, func() bool {
		return httpCheck(t, r, check.Request{SourcePrincipal: scanner, Destination: orders, Method: "GET", Path: "/"}).Reason == "quarantined-source"
	})
	e, _ := r.Authorizer.Engine.Quarantine().Lookup(scanner)
	if e.Reason != "lateral-movement:fan-out-destinations" || e.Expires.Sub(e.Since) != time.Minute {
		t.Fatalf("quarantine entry %+v", e)
	}
	researcher := "spiffe://cluster.local/ns/lab/sa/researcher"
	sweep(researcher)
	waitUntil(t, time.Second, func() bool {
		return strings.Contains(scrape(t, r), `meshward_authz_lateral_alerts_total{action="alert",kind="fan-out-destinations"} 1`)
	})
	if d := httpCheck(t, r, check.Request{SourcePrincipal: researcher, Destination: orders, Method: "GET", Path: "/"}); !d.Allow {
		t.Fatalf("an alert-only namespace's source was blocked: %+v", d)
	}
}
