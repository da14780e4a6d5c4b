package coordinator

import (
	"bytes"
	"context"
	"testing"

	"github.com/meshward/meshward/api/eaas"
)

// Where the real frame sits in a decryption answer tells an eavesdropper
// nothing: over 4096 answers of 8 frames, the real one's position passes a
// chi-square test for uniformity at a false-alarm rate of 1e-9 (7 degrees
// of freedom: 55.9). Every answer has 2^t frames of one length, each token
// once, and fakes that are not the plaintext.
func TestRealFramePositionIsUniform(t *testing.T) {
	const runs = 4096
	r := newRig(t, sub64())
	a, b := r.enrol(t, idA), r.enrol(t, idB)
	plain := []byte("the same plaintext every time, so only the position could tell")
	counts := make([]int, 8)
	for range runs {
		env, err := a.encrypt(2, plain)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := r.c.Process(context.Background(), idB, b.decBatch(1, b.next(), env))
		if err != nil {
			t.Fatal(err)
		}
		counts[realPosition(t, b, ans.Frames, plain)]++
	}
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - runs/8.0
		chi += d * d / (runs / 8.0)
	}
	if chi > 55.9 {
		t.Fatalf("chi-square %.1f: positions %v", chi, counts)
	}
}

func realPosition(t *testing.T, q *requester, frames []eaas.Frame, plain []byte) int {
	t.Helper()
	if len(frames) != 8 {
		t.Fatalf("%d frames", len(frames))
	}
	pos, seen := -1, map[uint8]bool{}
	for i, f := range frames {
		if f.NBits != frames[0].NBits {
			t.Fatalf("frame %d: %d bits, frame 0 %d", i, f.NBits, frames[0].NBits)
		}
		m, err := eaas.Decode(q.e.Widths, true, f.Bits, f.NBits)
		if err != nil {
			t.Fatal(err)
		}
		if seen[m.Token] {
			t.Fatalf("token %d twice", m.Token)
		}
		seen[m.Token] = true
		if m.Token == q.e.Token {
			pos = i
		} else if bytes.Equal(m.Data, plain) || bytes.Equal(m.Data, make([]byte, len(plain))) {
			t.Fatal("a fake carries the plaintext or zeros")
		}
	}
	return pos
}
