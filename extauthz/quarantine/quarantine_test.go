package quarantine

import (
	"testing"
	"time"
)

func TestAddLookupRelease(t *testing.T) {
	s := New()
	clock := time.Unix(1000, 0)
	s.now = func() time.Time { return clock }

	e0 := s.Epoch()
	e1 := s.Add(Entry{Workload: "a", Reason: "shell"}, 0)
	s.Add(Entry{Workload: "b", Reason: "scan"}, time.Minute)
	if e1 <= e0 || s.Epoch() <= e1 {
		t.Fatalf("epochs %d %d %d do not grow", e0, e1, s.Epoch())
	}
	if e, ok := s.Lookup("a"); !ok || e.Reason != "shell" {
		t.Fatalf("Lookup(a) = %+v %v", e, ok)
	}
	if _, ok := s.Lookup("c"); ok {
		t.Fatal("c is not quarantined")
	}
	clock = clock.Add(time.Minute)
	if _, ok := s.Lookup("b"); ok {
		t.Fatal("b should have expired")
	}
	if _, ok := s.Lookup("a"); !ok {
		t.Fatal("a has no TTL and must stay")
	}
	before := s.Epoch()
	if !s.Release("a") || s.Release("a") {
		t.Fatal("Release should report true once")
	}
	if _, ok := s.Lookup("a"); ok || s.Epoch() != before+1 {
		t.Fatalf("after release: lookup ok=%v epoch %d", ok, s.Epoch())
	}
}
