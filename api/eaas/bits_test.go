package eaas

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The word-wise shifts give what the plain byte loop gives, for every
// shift and for lengths around the eight-byte steps.
func TestShiftsMatchTheByteLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 40; n++ {
		for sh := uint(1); sh < 8; sh++ {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			head := byte(r.Uint32()) &^ (0xff >> sh)
			got, want := make([]byte, n+1), make([]byte, n+1)
			got[0], want[0] = head, head
			shiftRight(got, src, sh)
			for i, c := range src {
				want[i] |= c >> sh
				want[i+1] = c << (8 - sh)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("shiftRight n=%d sh=%d: %x, want %x", n, sh, got, want)
			}
			if n == 0 {
				continue
			}
			back, wantBack := make([]byte, n-1), make([]byte, n-1)
			shiftLeft(back, src, sh)
			for i := range wantBack {
				wantBack[i] = src[i]<<sh | src[i+1]>>(8-sh)
			}
			if !bytes.Equal(back, wantBack) {
				t.Fatalf("shiftLeft n=%d sh=%d: %x, want %x", n, sh, back, wantBack)
			}
		}
	}
}
