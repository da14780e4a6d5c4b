package filter

import (
	"bytes"
	"testing"
)

func TestResponseBinding(t *testing.T) {
	tests := []struct {
		name  string
		plain []byte
		seq   uint64
		want  []byte
		err   bool
	}{
		{"bound", bindResponse(9, []byte("receipt")), 9, []byte("receipt"), false},
		{"empty body", bindResponse(1<<63, nil), 1 << 63, []byte{}, false},
		{"another request", bindResponse(8, []byte("receipt")), 9, nil, true},
		{"nothing", nil, 0, nil, true},
		{"cut varint", []byte{0x80}, 0, nil, true},
		{"varint over 64 bits", bytes.Repeat([]byte{0xff}, 11), 0, nil, true},
		{"padded varint", []byte{0x89, 0x00, 'r'}, 9, nil, true},
	}
	for _, tc := range tests {
		got, err := unbindResponse(tc.seq, tc.plain)
		if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
	}
}

// FuzzUnbindResponse: any plaintext an attacker gets sealed is either
// refused or the body after a binding to exactly the request's number.
func FuzzUnbindResponse(f *testing.F) {
	f.Add(uint64(9), bindResponse(9, []byte("receipt")))
	f.Add(uint64(0), []byte{0x80, 0x80})
	f.Fuzz(func(t *testing.T, seq uint64, plain []byte) {
		body, err := unbindResponse(seq, plain)
		if err != nil {
			return
		}
		if !bytes.Equal(bindResponse(seq, body), plain) {
			t.Fatalf("%x opened as %x for request %d", plain, body, seq)
		}
	})
}
