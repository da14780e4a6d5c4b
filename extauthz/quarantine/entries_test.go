package quarantine

import (
	"testing"
	"time"
)

func TestEntriesLeaveOutExpired(t *testing.T) {
	s := New()
	clock := time.Unix(1000, 0)
	s.now = func() time.Time { return clock }
	s.Add(Entry{Workload: "b", Reason: "scan"}, time.Minute)
	s.Add(Entry{Workload: "a", Reason: "shell"}, 0)
	s.Add(Entry{Workload: "c", Reason: "scan"}, 2*time.Minute)
	for _, tc := range []struct {
		after time.Duration
		want  []string
	}{
		{0, []string{"a", "b", "c"}},
		{time.Minute, []string{"a", "c"}},
		{2 * time.Minute, []string{"a"}},
	} {
		clock = time.Unix(1000, 0).Add(tc.after)
		var got []string
		for _, e := range s.Snapshot() {
			got = append(got, e.Workload)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("after %v: %v, want %v", tc.after, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("after %v: %v, want %v", tc.after, got, tc.want)
			}
		}
	}
}
