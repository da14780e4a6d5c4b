package eaas

import (
	"bytes"
	"strings"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	var batch []byte
	in := []Frame{{[]byte{0xa0}, 3}, {nil, 0}, {bytes.Repeat([]byte{0xff}, 300), 2400}, {[]byte{0x12, 0x80}, 9}}
	for _, f := range in {
		batch = AppendFrame(batch, f.Bits, f.NBits)
	}
	got, err := SplitFrames(batch, 4, 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("%d frames, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i].NBits != in[i].NBits || !bytes.Equal(got[i].Bits, in[i].Bits) {
			t.Fatalf("frame %d: %+v, want %+v", i, got[i], in[i])
		}
	}
	if f, err := SplitFrames(nil, 4, 10); err != nil || len(f) != 0 {
		t.Fatalf("empty batch: %v, %v", f, err)
	}
}

func TestAppendFrameIsCanonical(t *testing.T) {
	tests := []struct {
		name  string
		bits  []byte
		nbits int
		want  []byte
	}{
		{"padding cleared", []byte{0xff}, 3, []byte{3, 0xe0}},
		{"past the bits: clamped", []byte{0xff}, 20, []byte{8, 0xff}},
		{"negative: empty frame", []byte{0xff}, -5, []byte{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppendFrame(nil, tc.bits, tc.nbits); !bytes.Equal(got, tc.want) {
				t.Fatalf("%x, want %x", got, tc.want)
			}
		})
	}
}

func TestSplitFramesErrors(t *testing.T) {
	three := AppendFrame(AppendFrame(AppendFrame(nil, []byte{1}, 8), []byte{2}, 8), []byte{3}, 8)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"too many frames", three, "more than 2 frames (frame 2 at byte 4)"},
		{"varint cut", []byte{0x80}, "frame 0 at byte 0: malformed bit length"},
		{"varint not minimal", []byte{0x88, 0x00, 1}, "frame 0 at byte 0: malformed bit length"},
		{"varint overflows", bytes.Repeat([]byte{0xff}, 11), "frame 0 at byte 0: malformed bit length"},
		{"frame too large", []byte{0x88, 0x01}, "frame 0 at byte 0: 136 bits, limit 16 bytes"},
		{"truncated", append(AppendFrame(nil, []byte{1}, 8), 16, 1), "frame 1 at byte 3: truncated: 2 bytes, 1 remain"},
		{"padding set", []byte{8, 1, 3, 0xf0}, "frame 1 at byte 3: unused low bits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SplitFrames(tc.in, 2, 16); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzSplitFrames(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, []byte{0xa0}, 3), []byte{1, 2, 3}, 24))
	f.Add([]byte{0x80, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := SplitFrames(b, 8, 64)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "eaas frames: ") {
				t.Fatalf("error does not say what: %v", err)
			}
			return
		}
		if len(frames) > 8 {
			t.Fatalf("%d frames past the limit", len(frames))
		}
		var again []byte
		for _, fr := range frames {
			if len(fr.Bits) > 64 || len(fr.Bits) != (fr.NBits+7)/8 {
				t.Fatalf("frame of %d bits in %d bytes", fr.NBits, len(fr.Bits))
			}
			again = AppendFrame(again, fr.Bits, fr.NBits)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
	})
}
