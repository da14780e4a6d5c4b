package coordinator

import (
	"context"
	"testing"

	"github.com/meshward/meshward/api/eaas"
)

// FuzzProcess hands the coordinator hostile batches from a member: it
// must refuse or answer, never panic, and an answer must be well formed
// (one frame for an encryption, 2^t for a decryption, each decodable).
func FuzzProcess(f *testing.F) {
	r := newRig(f, fig3())
	a, b := r.enrol(f, idA), r.enrol(f, idB)
	env, err := a.encrypt(2, []byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	batch := func(frames []eaas.Frame) []byte {
		var out []byte
		for _, fr := range frames {
			out = eaas.AppendFrame(out, fr.Bits, fr.NBits)
		}
		return out
	}
	f.Add(batch(a.encBatch(2, a.e.Seq.Start+5, []byte("hello"))), false)
	f.Add(batch(b.decBatch(1, b.e.Seq.Start+5, env)), true)
	f.Add([]byte{0x00}, false)
	f.Fuzz(func(t *testing.T, body []byte, asB bool) {
		caller := idA
		if asB {
			caller = idB
		}
		frames, err := eaas.SplitFrames(body, 256, len(body))
		if err != nil {
			return
		}
		ans, err := r.c.Process(context.Background(), caller, frames)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("a refusal without a reason: %v", err)
			}
			return
		}
		if len(ans.Frames) != 1 && len(ans.Frames) != 4 {
			t.Fatalf("%d frames answered", len(ans.Frames))
		}
		for _, fr := range ans.Frames {
			if _, err := eaas.Decode(r.sub.Widths, true, fr.Bits, fr.NBits); err != nil {
				t.Fatalf("an answer frame does not decode: %v", err)
			}
		}
	})
}
