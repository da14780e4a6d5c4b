package filter

import (
	"bytes"
	"testing"

	"github.com/meshward/meshward/api/eaas"
)

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{"orders": "orders", "Orders.Shop:8080": "orders.shop", "[::1]:80": "[::1]", "[::1]": "[::1]", "": ""} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShuffledIsAPermutation(t *testing.T) {
	for _, n := range []int{1, 2, 4, 256} {
		p, err := shuffled(n)
		if err != nil {
			t.Fatal(err)
		}
		seen := make([]bool, n)
		for _, v := range p {
			if v < 0 || v >= n || seen[v] {
				t.Fatalf("n=%d: %v", n, p)
			}
			seen[v] = true
		}
	}
}

// FuzzParseAnswers feeds the filter's parsers of coordinator answers
// arbitrary batches: they never panic, never hand back more than the limit,
// and what they accept names the request they answer.
func FuzzParseAnswers(f *testing.F) {
	e := &eaas.Enrolment{Subscriber: 54, Requester: 2, Widths: widths, Token: 1}
	w := who{e: e, seq: 9, pair: 1}
	env := eaas.Envelope{Subscriber: 54, Src: 2, Dst: 1, Seq: 9, Token: 1, Cipher: eaas.AES256GCM, Ciphertext: []byte("sealed")}.Marshal()
	enc := func(m eaas.Message) []byte {
		bits, n, _ := eaas.Encode(widths, m, true)
		return eaas.AppendFrame(nil, bits, n)
	}
	f.Add(enc(eaas.Message{Subscriber: 54, Requester: 2, Seq: 9, Pair: 1, Data: env, DataBits: 8 * len(env)}))
	var dec []byte
	for tok := uint8(0); tok < 4; tok++ {
		dec = append(dec, enc(eaas.Message{Subscriber: 54, Requester: 2, Seq: 9, Type: eaas.Decrypt, Pair: 1, Token: tok, Data: []byte("plain"), DataBits: 40})...)
	}
	f.Add(dec)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, err := parseEncryptAnswer(w, body, 64); err == nil {
			got, perr := eaas.ParseEnvelope(got)
			if perr != nil || got.Src != 2 || got.Dst != 1 || got.Seq != 9 || got.Subscriber != 54 || got.Token != 1 {
				t.Fatalf("accepted envelope %+v (%v)", got, perr)
			}
		}
		if plain, err := parseDecryptAnswer(w, body, 64); err == nil {
			if len(plain) > 64 {
				t.Fatalf("%d bytes past the limit", len(plain))
			}
			frames, _ := eaas.SplitFrames(body, 4, 1<<20)
			real := 0
			for _, fr := range frames {
				m, _ := eaas.Decode(widths, true, fr.Bits, fr.NBits)
				if m.Token == 1 && bytes.Equal(m.Data, plain) {
					real++
				}
			}
			if len(frames) != 4 || real != 1 {
				t.Fatalf("accepted %d frames with %d real", len(frames), real)
			}
		}
	})
}
