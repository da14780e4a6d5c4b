package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

func holds(key string) func(*clientState) bool {
	return func(s *clientState) bool { return s.key == key }
}

// A client that ACKed the new endpoints before its round was armed (the
// Move call had not returned yet) counts, from the time of its ACK.
func TestTrackerArmedLateCountsEarlierACK(t *testing.T) {
	tr := newTracker(2)
	t0 := time.Unix(100, 0)
	tr.ack(0, ackedEDS, "a", "1", t0)
	tr.ack(1, ackedEDS, "a", "1", t0)
	r0 := tr.arm(holds("a"), map[string]bool{"a": true})
	if err := tr.wait(context.Background(), r0); err != nil {
		t.Fatal(err)
	}
	// The finished round judges nothing: "b" is the next round's.
	tr.ack(0, ackedEDS, "b", "2", t0.Add(time.Second))
	r := tr.arm(holds("b"), map[string]bool{"a": true, "b": true})
	if r.at[0] != t0.Add(time.Second) || tr.remaining(r) != 1 {
		t.Fatalf("after arming: at %v, %d remaining; want client 0 counted at its ACK", r.at, tr.remaining(r))
	}
	tr.ack(1, ackedEDS, "b", "2", t0.Add(2*time.Second))
	if err := tr.wait(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if v, err := tr.agreed(); v != "2" || err != nil {
		t.Fatalf("agreed %q %v, want 2", v, err)
	}
	if h := tr.history(); strings.Join(h[0], ",") != "1,2" || strings.Join(h[1], ",") != "1,2" {
		t.Fatalf("history %q", h)
	}
}

// Endpoints the round does not serve, whether ACKed during the round or
// already held when it is armed, end the wait with the client's number.
func TestTrackerRefusesOtherEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(*tracker) *round
	}{
		{"during the round", func(tr *tracker) *round {
			r := tr.arm(holds("b"), map[string]bool{"a": true, "b": true})
			tr.ack(1, ackedEDS, "evil", "9", time.Now())
			return r
		}},
		{"held at arming", func(tr *tracker) *round {
			tr.ack(1, ackedEDS, "evil", "9", time.Now())
			return tr.arm(holds("b"), map[string]bool{"a": true, "b": true})
		}},
	} {
		tr := newTracker(2)
		r := tc.run(tr)
		err := tr.wait(context.Background(), r)
		if err == nil || !strings.Contains(err.Error(), "client 1") || !strings.Contains(err.Error(), "evil") {
			t.Errorf("%s: %v, want client 1's endpoints refused", tc.name, err)
		}
	}
}

// The ramp waits for every type, not the first.
func TestTrackerRampWaitsForEveryType(t *testing.T) {
	tr := newTracker(1)
	r := tr.arm(func(s *clientState) bool { return s.acked == ackedAll && s.key == "a" }, map[string]bool{"a": true})
	for _, bit := range []int{ackedCDS, ackedEDS, ackedLDS} {
		tr.ack(0, bit, "a", "1", time.Now())
		if tr.remaining(r) != 1 {
			t.Fatalf("converged after type bit %d of 4", bit)
		}
	}
	tr.ack(0, ackedRDS, "", "names", time.Now())
	if tr.remaining(r) != 0 {
		t.Fatal("not converged after all four types")
	}
}

func TestTrackerClientsDisagree(t *testing.T) {
	tr := newTracker(2)
	tr.ack(0, ackedEDS, "a", "1", time.Now())
	tr.ack(1, ackedEDS, "a", "7", time.Now())
	if _, err := tr.agreed(); err == nil || !strings.Contains(err.Error(), "client 1") {
		t.Fatalf("agreed: %v, want client 1's version refused", err)
	}
}

func TestTrackerFailEndsWait(t *testing.T) {
	tr := newTracker(3)
	r := tr.arm(holds("a"), nil)
	tr.fail(context.Canceled)
	tr.fail(context.DeadlineExceeded)
	if err := tr.wait(context.Background(), r); err != context.Canceled {
		t.Fatalf("wait: %v, want the first failure", err)
	}
}
