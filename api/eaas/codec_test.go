package eaas

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fromBits turns "0110..." into packed bits.
func fromBits(s string) ([]byte, int) {
	b := make([]byte, (len(s)+7)/8)
	for i, c := range s {
		if c == '1' {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	return b, len(s)
}

func toBits(b []byte, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteByte('0' + b[i/8]>>(7-i%8)&1)
	}
	return sb.String()
}

var fig3Widths = Widths{S: 8, R: 5, N: 12, T: 2}

// TestFig3 reproduces the seed's Fig. 3 bit for bit: subscriber 54, requester
// 1, sequence 9, an encryption request to pair 2, the real token 01 among
// the fakes 00, 10 and 11.
func TestFig3(t *testing.T) {
	rows := []struct{ token, data string }{
		{"00", "11000000111010"}, {"01", "01101000100010"}, {"10", "00010000000011"}, {"11", "10010111001111"},
	}
	for i, row := range rows {
		data, dataBits := fromBits(row.data)
		m := Message{Subscriber: 54, Requester: 1, Seq: 9, Type: Encrypt, Pair: 2, Token: uint8(i), Data: data, DataBits: dataBits}
		bits, nbits, err := Encode(fig3Widths, m, false)
		if err != nil {
			t.Fatal(err)
		}
		want := "00110110" + "00001" + "000000001001" + "0" + "00010" + row.token + row.data
		if got := toBits(bits, nbits); got != want {
			t.Fatalf("token %s:\n got %s\nwant %s", row.token, got, want)
		}
		back, err := Decode(fig3Widths, false, bits, nbits)
		if err != nil {
			t.Fatal(err)
		}
		if back.Token != uint8(i) || back.Subscriber != 54 || back.Requester != 1 || back.Seq != 9 || back.Pair != 2 ||
			toBits(back.Data, back.DataBits) != row.data {
			t.Fatalf("decoded %+v", back)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	data := []byte{0xde, 0xad, 0xbe, 0xef, 0x55, 0xff}
	tests := []struct {
		name   string
		w      Widths
		m      Message
		answer bool
	}{
		{"defaults, encrypt request", DefaultWidths, Message{Subscriber: 65535, Requester: 7, Seq: 1<<32 - 1, Pair: 9, Token: 3, Data: data, DataBits: 48}, false},
		{"encrypt answer (no token)", DefaultWidths, Message{Subscriber: 1, Requester: 2, Seq: 3, Pair: 4, Data: data, DataBits: 41}, true},
		{"decrypt request (no token)", DefaultWidths, Message{Subscriber: 1, Requester: 2, Seq: 3, Type: Decrypt, Pair: 4, Data: data, DataBits: 7}, false},
		{"decrypt answer", DefaultWidths, Message{Subscriber: 1, Requester: 2, Seq: 3, Type: Decrypt, Pair: 4, Token: 2, Data: data, DataBits: 48}, true},
		{"widest", Widths{32, 32, 64, 8}, Message{Subscriber: 1<<32 - 1, Requester: 1<<32 - 1, Seq: 1<<64 - 1, Pair: 1<<32 - 1, Token: 255, Data: data, DataBits: 47}, false},
		{"narrowest, no data", Widths{1, 1, 1, 0}, Message{Subscriber: 1, Requester: 1, Seq: 1, Pair: 1}, false},
		{"byte aligned data", Widths{8, 8, 8, 7}, Message{Subscriber: 1, Requester: 2, Seq: 3, Pair: 4, Token: 5, Data: data, DataBits: 48}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bits, nbits, err := Encode(tc.w, tc.m, tc.answer)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.w.HeaderBits(tc.m.Type, tc.answer) + tc.m.DataBits; nbits != want || len(bits) != (want+7)/8 {
				t.Fatalf("%d bits in %d bytes, want %d", nbits, len(bits), want)
			}
			got, err := Decode(tc.w, tc.answer, bits, nbits)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.m
			if !TokenPresent(want.Type, tc.answer) {
				want.Token = 0
			}
			want.Data = masked(want.Data, want.DataBits)
			if !sameMessage(got, want) {
				t.Fatalf("decoded %+v, want %+v", got, want)
			}
			head, err := DecodeHeader(tc.w, tc.answer, bits, nbits)
			if err != nil || head.Data != nil {
				t.Fatalf("header %+v, %v", head, err)
			}
			head.Data = got.Data
			if !sameMessage(head, got) {
				t.Fatalf("DecodeHeader %+v, Decode %+v", head, got)
			}
		})
	}
}

func masked(b []byte, n int) []byte {
	out := make([]byte, (n+7)/8)
	copy(out, b)
	if n%8 != 0 {
		out[len(out)-1] &^= 0xff >> (n % 8)
	}
	return out
}

func sameMessage(a, b Message) bool {
	return a.Subscriber == b.Subscriber && a.Requester == b.Requester && a.Pair == b.Pair && a.Seq == b.Seq &&
		a.Type == b.Type && a.Token == b.Token && a.DataBits == b.DataBits && bytes.Equal(a.Data, b.Data)
}

func TestEncodeErrors(t *testing.T) {
	ok := Message{Subscriber: 54, Requester: 1, Seq: 9, Pair: 2, Token: 1}
	with := func(f func(*Message)) Message { m := ok; f(&m); return m }
	tests := []struct {
		name string
		w    Widths
		m    Message
		want string
	}{
		{"s 0", Widths{0, 5, 12, 2}, ok, "width s is 0"},
		{"r 33", Widths{8, 33, 12, 2}, ok, "width r is 33"},
		{"n 65", Widths{8, 5, 65, 2}, ok, "width n is 65"},
		{"t 9", Widths{8, 5, 12, 9}, ok, "width t is 9"},
		{"type 2", fig3Widths, with(func(m *Message) { m.Type = 2 }), "type is 2"},
		{"subscriber", fig3Widths, with(func(m *Message) { m.Subscriber = 256 }), "subscriber 256 does not fit in 8 bits"},
		{"requester", fig3Widths, with(func(m *Message) { m.Requester = 32 }), "requester 32 does not fit in 5 bits"},
		{"sequence", fig3Widths, with(func(m *Message) { m.Seq = 4096 }), "sequence 4096 does not fit in 12 bits"},
		{"pair", fig3Widths, with(func(m *Message) { m.Pair = 40 }), "pair 40 does not fit in 5 bits"},
		{"token", fig3Widths, with(func(m *Message) { m.Token = 4 }), "token 4 does not fit in 2 bits"},
		{"data bits past data", fig3Widths, with(func(m *Message) { m.Data, m.DataBits = []byte{1}, 9 }), "data bits 9"},
		{"negative data bits", fig3Widths, with(func(m *Message) { m.DataBits = -1 }), "data bits -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Encode(tc.w, tc.m, false); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A token that does not fit is no error where the layout has no token.
	if _, _, err := Encode(fig3Widths, with(func(m *Message) { m.Token = 9 }), true); err != nil {
		t.Fatalf("encryption answer with an unused token: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	fig3 := "00110110" + "00001" + "000000001001" + "0" + "00010" + "01" + "01101000100010"
	decReq := "00110110" + "00001" + "000000001001" + "1" + "00010"
	tests := []struct {
		name   string
		w      Widths
		answer bool
		bits   string
		field  string
		bit    int
	}{
		{"bad widths", Widths{8, 0, 12, 2}, false, fig3, "widths", 0},
		{"empty", fig3Widths, false, "", "subscriber", 0},
		{"subscriber cut", fig3Widths, false, fig3[:7], "subscriber", 0},
		{"requester cut", fig3Widths, false, fig3[:12], "requester", 8},
		{"sequence cut", fig3Widths, false, fig3[:24], "sequence", 13},
		{"type missing", fig3Widths, false, fig3[:25], "type", 25},
		{"pair cut", fig3Widths, false, fig3[:30], "pair", 26},
		{"token cut", fig3Widths, false, fig3[:32], "token", 31},
		// A decryption answer carries the token; a decryption request does not.
		{"decrypt answer without token", fig3Widths, true, decReq, "token", 31},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, n := fromBits(tc.bits)
			for _, decode := range []func(Widths, bool, []byte, int) (Message, error){Decode, DecodeHeader} {
				_, err := decode(tc.w, tc.answer, b, n)
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field || fe.Bit != tc.bit {
					t.Fatalf("err = %v, want field %s at bit %d", err, tc.field, tc.bit)
				}
				if !strings.HasPrefix(err.Error(), "field "+tc.field+" at bit ") {
					t.Fatalf("message %q", err)
				}
			}
		})
	}
	db, dn := fromBits(decReq)
	if m, err := Decode(fig3Widths, false, db, dn); err != nil || m.Type != Decrypt || m.DataBits != 0 {
		t.Fatalf("decryption request without token or data: %+v, %v", m, err)
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	b, n := fromBits("001101100000100000000100101")
	tests := []struct {
		name  string
		bits  []byte
		nbits int
		field string
		bit   int
	}{
		{"negative length", b, -1, "frame", 0},
		{"too long", b, MaxBits + 1, "frame", 0},
		{"bytes short", b[:2], n, "frame", 0},
		{"bytes extra", append(b[:len(b):len(b)], 0), n, "frame", 0},
		{"padding set", []byte{b[0], b[1], b[2], b[3] | 1}, n, "padding", n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(fig3Widths, false, tc.bits, tc.nbits)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Bit != tc.bit {
				t.Fatalf("err = %v, want field %s at bit %d", err, tc.field, tc.bit)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for i, data := range []string{"11000000111010", "01101000100010"} {
		d, dn := fromBits(data)
		bits, _, _ := Encode(fig3Widths, Message{Subscriber: 54, Requester: 1, Seq: 9, Pair: 2, Token: uint8(i), Data: d, DataBits: dn}, false)
		f.Add(bits, uint8(2), uint8(8), uint8(5), uint8(12), uint8(2), false)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(0), uint8(32), uint8(32), uint8(64), uint8(8), true)
	f.Fuzz(func(t *testing.T, bits []byte, trim, s, r, n, tw uint8, answer bool) {
		w := Widths{s, r, n, tw}
		nbits := len(bits)*8 - int(trim%8)
		if nbits < 0 {
			nbits = 0
		}
		m, err := Decode(w, answer, bits, nbits)
		head, herr := DecodeHeader(w, answer, bits, nbits)
		if (err == nil) != (herr == nil) {
			t.Fatalf("Decode %v, DecodeHeader %v", err, herr)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FieldError: %v", err)
			}
			return
		}
		head.Data = m.Data
		if !sameMessage(head, m) {
			t.Fatalf("DecodeHeader %+v, Decode %+v", head, m)
		}
		again, an, err := Encode(w, m, answer)
		if err != nil || an != nbits || !bytes.Equal(again, bits) {
			t.Fatalf("re-encoded %x (%d bits, %v), want %x (%d bits)", again, an, err, bits, nbits)
		}
	})
}

func benchMessage() Message {
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return Message{Subscriber: 54, Requester: 1, Seq: 9, Pair: 2, Token: 1, Data: data, DataBits: 8*len(data) - 3}
}

func BenchmarkEncode64KiB(b *testing.B) {
	m := benchMessage()
	b.SetBytes(int64(len(m.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Encode(DefaultWidths, m, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode64KiB(b *testing.B) {
	m := benchMessage()
	bits, nbits, _ := Encode(DefaultWidths, m, false)
	b.SetBytes(int64(len(m.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(DefaultWidths, false, bits, nbits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeHeader64KiB(b *testing.B) {
	m := benchMessage()
	bits, nbits, _ := Encode(DefaultWidths, m, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHeader(DefaultWidths, false, bits, nbits); err != nil {
			b.Fatal(err)
		}
	}
}
