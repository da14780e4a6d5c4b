package policy

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Two policies that both allow GET /b1 from the frontend, one by a rule
// indexed under the caller, the other by a rule no key narrows: which one
// decides is a matter of declaration order across the index's lists.
const sharedPolicies = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reads, namespace: shop}
spec:
  rules:
  - to: [{operation: {methods: [GET], paths: ["/a/*"]}}]
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other, namespace: shop}
spec:
  rules:
  - to: [{operation: {methods: [GET, POST], paths: ["/b*"]}}]
`

func sharedCompiled(t *testing.T) (reads, other *Policy) {
	t.Helper()
	docs, err := ParseFile("shared.yaml", []byte(sharedPolicies))
	if err != nil {
		t.Fatal(err)
	}
	return docs[0].Policy, docs[1].Policy
}

func decidingRule(t *testing.T, s *Set) string {
	t.Helper()
	res := s.Evaluate(req(frontend, "/b1"))
	if !res.Allow || res.Rule == nil {
		t.Fatalf("GET /b1: %+v", res)
	}
	return res.Rule.Name()
}

// Sets built from the same compiled policies (as the kube source builds
// each set from the last good ones) keep each their own declaration order.
func TestNewSetOrderIsPerSet(t *testing.T) {
	reads, other := sharedCompiled(t)
	a := NewSet([]*Policy{reads, other}, nil)
	if got := decidingRule(t, a); got != "shop/reads[1]" {
		t.Fatalf("a: decided by %s", got)
	}
	b := NewSet([]*Policy{other, reads}, nil)
	if got := decidingRule(t, b); got != "shop/other[0]" {
		t.Fatalf("b: decided by %s", got)
	}
	if got := decidingRule(t, a); got != "shop/reads[1]" {
		t.Fatalf("a, after b was built: decided by %s", got)
	}
}

// A set is built while the previous one still decides: building must not
// write what a published set reads. Under -race this fails if NewSet numbers
// the shared rules in place, whatever the timing.
func TestNewSetWhileOlderSetDecides(t *testing.T) {
	reads, other := sharedCompiled(t)
	old := NewSet([]*Policy{reads, other}, nil)
	r := req(frontend, "/b1")
	started := make(chan struct{})
	var stop atomic.Bool
	var wrong atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		old.Evaluate(r)
		close(started)
		for { // at least one decision unordered with the building below
			if got := old.Evaluate(r).Rule.Name(); got != "shop/reads[1]" {
				wrong.Store(got)
			}
			if stop.Load() {
				return
			}
		}
	}()
	<-started
	for i := 0; i < 100; i++ {
		NewSet([]*Policy{other, reads}, nil)
	}
	stop.Store(true)
	wg.Wait()
	if got := wrong.Load(); got != nil {
		t.Fatalf("the older set decided by %s while newer sets were built", got)
	}
}
