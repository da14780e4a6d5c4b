package quarantine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeSharer records what reaches it; it stands for etcd's side only in
// this package's tests (sharedstate tests the real one on etcd).
type fakeSharer struct {
	set  *Set
	err  error
	seen []Entry
}

func (f *fakeSharer) Quarantine(_ context.Context, e Entry, _ time.Duration) (uint64, error) {
	f.seen = append(f.seen, e)
	return f.set.Put(e), f.err
}

func (f *fakeSharer) Release(_ context.Context, w string) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	return f.set.Release(w), nil
}

func TestQuarantineAndLiftGoThroughTheSharer(t *testing.T) {
	down := errors.New("etcd down")
	for _, tc := range []struct {
		name   string
		shared bool
		err    error
	}{
		{"alone", false, nil},
		{"shared", true, nil},
		{"shared, etcd down", true, down},
	} {
		s := New()
		clock := time.Unix(1000, 0)
		s.now = func() time.Time { return clock }
		var changes []Change
		s.OnChange(func(c Change) { changes = append(changes, c) })
		f := &fakeSharer{set: s, err: tc.err}
		if tc.shared {
			s.ShareWith(f)
		}
		_, err := s.Quarantine(context.Background(), Entry{Workload: "w", Reason: "shell"}, time.Minute)
		if !errors.Is(err, tc.err) {
			t.Fatalf("%s: Quarantine: %v", tc.name, err)
		}
		e, ok := s.Lookup("w")
		if !ok || !e.Since.Equal(clock) || !e.Expires.Equal(clock.Add(time.Minute)) {
			t.Fatalf("%s: a quarantine must hold here even if not shared: %+v %v", tc.name, e, ok)
		}
		if tc.shared != (len(f.seen) == 1) {
			t.Fatalf("%s: the sharer saw %d quarantines", tc.name, len(f.seen))
		}
		released, err := s.Lift(context.Background(), "w")
		if _, still := s.Lookup("w"); released == still || !errors.Is(err, tc.err) {
			t.Fatalf("%s: Lift = %v %v, still quarantined %v", tc.name, released, err, still)
		}
		want := 1
		if released {
			want = 2
		}
		if len(changes) != want || !changes[0].Quarantined || len(s.Snapshot()) != 2-want {
			t.Fatalf("%s: changes %+v, snapshot %v", tc.name, changes, s.Snapshot())
		}
	}
}

func TestSnapshotLeavesOutExpired(t *testing.T) {
	s := New()
	clock := time.Unix(1000, 0)
	s.now = func() time.Time { return clock }
	s.Add(Entry{Workload: "short"}, time.Second)
	s.Add(Entry{Workload: "long"}, 0)
	clock = clock.Add(time.Second)
	if got := s.Snapshot(); len(got) != 1 || got[0].Workload != "long" {
		t.Fatalf("Snapshot = %+v", got)
	}
}
