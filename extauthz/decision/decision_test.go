package decision

import (
	"testing"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

func TestDecide(t *testing.T) {
	set, err := policy.Parse("t.yaml", []byte(`
rules:
  - name: a-calls-b
    source: a
    destination: b
    methods: [GET]
`))
	if err != nil {
		t.Fatal(err)
	}
	q := quarantine.New()
	e := New(set, q)
	get := policy.Request{SourcePrincipal: "a", Destination: "b", Method: "GET", Path: "/"}

	steps := []struct {
		name   string
		before func()
		req    policy.Request
		want   Decision
	}{
		{"allowed", nil, get, Decision{Allow: true, Reason: ReasonAllowed, Rule: "a-calls-b"}},
		{"default deny", nil, policy.Request{SourcePrincipal: "b", Destination: "a", Method: "GET", Path: "/"}, Decision{Reason: ReasonNoMatchingRule}},
		{"unauthenticated", nil, policy.Request{Destination: "b", Method: "GET", Path: "/"}, Decision{Reason: ReasonUnauthenticated}},
		{"source quarantined", func() { q.Add(quarantine.Entry{Workload: "a"}, 0) }, get, Decision{Reason: ReasonQuarantinedSource}},
		{"released", func() { q.Release("a") }, get, Decision{Allow: true, Reason: ReasonAllowed, Rule: "a-calls-b"}},
		{"destination quarantined", func() { q.Add(quarantine.Entry{Workload: "b"}, 0) }, get, Decision{Reason: ReasonQuarantinedDestination}},
		{"policy swapped", func() { q.Release("b"); e.SetPolicy(policy.NewSet(nil)) }, get, Decision{Reason: ReasonNoMatchingRule}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		if got := e.Decide(s.req); got != s.want {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.want)
		}
	}
}
