package quarantine

import (
	"testing"
	"time"
)

func TestOldest(t *testing.T) {
	s := New()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	s.Add(Entry{Workload: "c"}, 0)
	s.Add(Entry{Workload: "b"}, 0)
	now = now.Add(time.Second)
	s.Add(Entry{Workload: "a"}, 0)
	s.Add(Entry{Workload: "expiring"}, time.Second)
	for _, c := range []struct {
		n, total int
		want     []string
		after    time.Duration
	}{
		{n: 2, total: 4, want: []string{"b", "c"}},
		{n: 10, total: 4, want: []string{"b", "c", "a", "expiring"}},
		{n: -1, total: 4, want: nil},
		{n: 10, total: 3, want: []string{"b", "c", "a"}, after: time.Second},
	} {
		now = now.Add(c.after)
		total, first := s.Oldest(c.n)
		var got []string
		for _, e := range first {
			got = append(got, e.Workload)
		}
		if total != c.total || len(got) != len(c.want) {
			t.Fatalf("Oldest(%d): %d %v, want %d %v", c.n, total, got, c.total, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("Oldest(%d): %v, want %v", c.n, got, c.want)
			}
		}
	}
}
