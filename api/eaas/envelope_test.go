package eaas

import (
	"bytes"
	"strings"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []Envelope{
		{Subscriber: 54, Src: 1, Dst: 2, Seq: 9, Token: 1, Cipher: AES256GCM, Ciphertext: []byte("sealed")},
		{Subscriber: 1<<32 - 1, Src: 1<<32 - 1, Dst: 0, Seq: 1<<64 - 1, Token: 255, Cipher: InsecureBlowfish, Ciphertext: []byte{0}},
	} {
		b := e.Marshal()
		if !bytes.HasPrefix(b, e.Header()) || !bytes.Equal(b[len(e.Header()):], e.Ciphertext) {
			t.Fatalf("marshal %x is not header %x + ciphertext", b, e.Header())
		}
		got, err := ParseEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subscriber != e.Subscriber || got.Src != e.Src || got.Dst != e.Dst || got.Seq != e.Seq ||
			got.Token != e.Token || got.Cipher != e.Cipher || !bytes.Equal(got.Ciphertext, e.Ciphertext) {
			t.Fatalf("parsed %+v, want %+v", got, e)
		}
	}
}

// The header is the AEAD's associated data: moving a ciphertext to another
// subscriber, pair, position, token or cipher must change it.
func TestEnvelopeHeaderBindsEveryField(t *testing.T) {
	base := Envelope{Subscriber: 54, Src: 1, Dst: 2, Seq: 9, Token: 1, Cipher: AES256GCM, Ciphertext: []byte("c")}
	moves := map[string]func(*Envelope){
		"subscriber": func(e *Envelope) { e.Subscriber = 55 },
		"src":        func(e *Envelope) { e.Src = 3 },
		"dst":        func(e *Envelope) { e.Dst = 3 },
		"swap pair":  func(e *Envelope) { e.Src, e.Dst = e.Dst, e.Src },
		"seq":        func(e *Envelope) { e.Seq = 10 },
		"token":      func(e *Envelope) { e.Token = 2 },
		"cipher":     func(e *Envelope) { e.Cipher = ChaCha20Poly1305 },
	}
	for name, move := range moves {
		e := base
		move(&e)
		if bytes.Equal(e.Header(), base.Header()) {
			t.Errorf("%s: same associated data", name)
		}
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	good := Envelope{Subscriber: 54, Src: 1, Dst: 2, Seq: 9, Token: 1, Cipher: AES256GCM, Ciphertext: []byte("c")}.Marshal()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "byte 0: does not start with"},
		{"wrong magic", append([]byte("MWE2"), good[4:]...), "byte 0: does not start with"},
		{"plaintext", []byte(`{"card":"4111"}`), "byte 0: does not start with"},
		{"cut in a varint", []byte("MWE1\x36\x80"), "byte 5: field src: malformed varint"},
		{"varint not minimal", []byte("MWE1\xb6\x00\x01\x02\x09\x01\x01c"), "byte 4: field subscriber: malformed varint"},
		{"dst past 32 bits", []byte("MWE1\x36\x01\x80\x80\x80\x80\x10\x09\x01\x01c"), "byte 6: field dst: 4294967296 does not fit"},
		{"no ciphertext", good[:len(good)-1], "byte 8: truncated"},
		{"no token", good[:8], "byte 8: truncated"},
		{"unknown cipher", append(append(good[:9:9], 7), 'c'), "byte 9: field cipher: unknown cipher id 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEnvelope(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(Envelope{Subscriber: 54, Src: 1, Dst: 2, Seq: 9, Token: 1, Cipher: AES256GCM, Ciphertext: []byte("sealed")}.Marshal())
	f.Add([]byte("MWE1\x80"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "eaas envelope: byte ") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		if !bytes.Equal(e.Marshal(), b) || !bytes.HasPrefix(b, e.Header()) {
			t.Fatalf("re-marshalled %x, want %x", e.Marshal(), b)
		}
	})
}
