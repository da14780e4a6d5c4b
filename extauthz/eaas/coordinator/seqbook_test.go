package coordinator

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// countingReserver counts durable writes.
type countingReserver struct {
	State
	writes int
}

func (c *countingReserver) Reserve(r string, upTo uint64) error {
	c.writes++
	return c.State.Reserve(r, upTo)
}

func TestLeaseSizes(t *testing.T) {
	cases := []struct {
		n    uint8
		want int // numbers per lease with blocks of 1024
	}{
		{64, 1024}, {32, 1024}, {18, 1023}, {12, 15}, {8, 1}, {4, 1}, {1, 1},
	}
	for _, tc := range cases {
		b := newSeqBooks(1024, 4, NewMemoryState())
		var prevEnd uint64
		for i := range 3 {
			start, count, err := b.lease("1/1", tc.n)
			if tc.n == 1 && i > 0 {
				if !errors.Is(err, ErrExhausted) {
					t.Fatalf("n=1: lease %d: %v, want exhausted", i, err)
				}
				continue
			}
			if err != nil || count != tc.want || start != prevEnd {
				t.Fatalf("n=%d lease %d: [%d, +%d) %v, want [%d, +%d)", tc.n, i, start, count, err, prevEnd, tc.want)
			}
			prevEnd = start + uint64(count)
		}
	}
}

// A small space runs out cleanly: every number below 2^n - 1 is leased
// once, the all-ones number never, and then every lease is refused.
func TestSequenceSpaceExhaustion(t *testing.T) {
	b := newSeqBooks(1024, 64, NewMemoryState())
	seen := map[uint64]bool{}
	for {
		start, count, err := b.lease("1/1", 4)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for s := start; s < start+uint64(count); s++ {
			if seen[s] || s >= 15 {
				t.Fatalf("number %d leased twice or beyond 4 bits less all-ones", s)
			}
			seen[s] = true
		}
	}
	if len(seen) != 15 {
		t.Fatalf("%d numbers leased, want 15", len(seen))
	}
	if err := b.use("1/1", 15); !errors.Is(err, ErrStale) {
		t.Fatalf("the never-leased all-ones number: %v", err)
	}
	// Still refused after a restart on the same state.
	if _, _, err := newSeqBooks(1024, 64, b.store.(State)).lease("1/1", 4); !errors.Is(err, ErrExhausted) {
		t.Fatalf("after a restart: %v", err)
	}
}

func TestBlocksUseOpenRelease(t *testing.T) {
	b := newSeqBooks(8, 2, NewMemoryState())
	s1, _, _ := b.lease("1/1", 32) // [0, 8)
	s2, _, _ := b.lease("1/1", 32) // [8, 16)
	steps := []struct {
		name string
		do   func() error
		ok   bool
	}{
		{"use a leased number", func() error { return b.use("1/1", s1) }, true},
		{"use it again", func() error { return b.use("1/1", s1) }, false},
		{"use one never leased", func() error { return b.use("1/1", 16) }, false},
		{"another requester uses a number of this one's lease", func() error { return b.use("1/2", s1+1) }, false},
		{"open an envelope never sealed", func() error { return opened(b, "1/1", s1) }, false},
		{"open a sealed one", func() error { b.sealed("1/1", s1); return opened(b, "1/1", s1) }, true},
		{"open it again", func() error { return opened(b, "1/1", s1) }, false},
		{"open it as another source's", func() error { b.sealed("1/1", s2); return opened(b, "1/2", s2) }, false},
		{"a failed opening gives the claim back", func() error {
			release, err := b.open("1/1", s2)
			if err != nil {
				return err
			}
			release()
			return opened(b, "1/1", s2)
		}, true},
		{"a third lease evicts the first block", func() error {
			b.sealed("1/1", s1+1)
			if _, _, err := b.lease("1/1", 32); err != nil {
				return err
			}
			return b.use("1/1", s1+2)
		}, false},
		{"an evicted block's envelopes no longer open", func() error { return opened(b, "1/1", s1+1) }, false},
		{"the second block is still live", func() error { return b.use("1/1", s2+1) }, true},
	}
	for _, st := range steps {
		err := st.do()
		if (err == nil) != st.ok {
			t.Fatalf("%s: %v, want ok=%v", st.name, err, st.ok)
		}
	}
}

func opened(b *seqBooks, key string, seq uint64) error {
	_, err := b.open(key, seq)
	return err
}

// Racing uses of one number: exactly one wins; racing openings of one
// envelope: exactly one wins.
func TestOnceOnlyUnderRace(t *testing.T) {
	b := newSeqBooks(64, 4, NewMemoryState())
	start, _, _ := b.lease("1/1", 32)
	b.sealed("1/1", start+1)
	var uses, opens atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.use("1/1", start) == nil {
				uses.Add(1)
			}
			if opened(b, "1/1", start+1) == nil {
				opens.Add(1)
			}
		}()
	}
	wg.Wait()
	if uses.Load() != 1 || opens.Load() != 1 {
		t.Fatalf("%d uses and %d openings won, want 1 each", uses.Load(), opens.Load())
	}
}

// Durable writes are one per 64 leases (4 for a space under 2^24), and a
// restart never leases a number twice.
func TestReservationsAreAmortizedAndSurviveRestarts(t *testing.T) {
	for _, tc := range []struct {
		n      uint8
		leases int
		writes int
	}{{32, 64, 1}, {32, 65, 2}, {20, 8, 2}} {
		st := &countingReserver{State: NewMemoryState()}
		b := newSeqBooks(1024, 4, st)
		var last uint64
		for range tc.leases {
			s, c, err := b.lease("1/1", tc.n)
			if err != nil {
				t.Fatal(err)
			}
			last = s + uint64(c)
		}
		if st.writes != tc.writes {
			t.Fatalf("n=%d, %d leases: %d durable writes, want %d", tc.n, tc.leases, st.writes, tc.writes)
		}
		s, _, err := newSeqBooks(1024, 4, st).lease("1/1", tc.n)
		if err != nil || s < last {
			t.Fatalf("after a restart: lease at %d (%v), numbers below %d were leased", s, err, last)
		}
	}
}
