package eaas

import (
	"bytes"
	"errors"
	"testing"
)

var appendCases = []struct {
	name string
	w    Widths
	m    Message
	ans  bool
}{
	{"fig 3 request", fig3Widths, Message{Subscriber: 54, Requester: 1, Seq: 9, Pair: 2, Token: 3}, false},
	{"fig 3 decryption answer", fig3Widths, Message{Subscriber: 54, Requester: 1, Seq: 9, Type: Decrypt, Pair: 2, Token: 1}, true},
	{"byte aligned header", Widths{8, 8, 8, 7}, Message{Subscriber: 1, Requester: 2, Seq: 3, Pair: 4, Token: 5}, false},
	{"widest", Widths{32, 32, 64, 8}, Message{Subscriber: 1<<32 - 1, Requester: 7, Seq: 1<<64 - 1, Pair: 9, Token: 255}, false},
}

// AppendEncoded is Encode then AppendFrame, byte for byte.
func TestAppendEncodedIsEncodeThenAppendFrame(t *testing.T) {
	for _, c := range appendCases {
		for _, n := range []int{0, 1, 7, 8, 9, 1000} {
			m := c.m
			m.Data = bytes.Repeat([]byte{0xa5, 0x3c}, n)[:n]
			m.DataBits = 8 * n
			bits, nbits, err := Encode(c.w, m, c.ans)
			if err != nil {
				t.Fatal(err)
			}
			want := AppendFrame([]byte("prefix"), bits, nbits)
			got, err := AppendEncoded([]byte("prefix"), c.w, m, c.ans)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s, %d bytes: got %x (%v), want %x", c.name, n, got, err, want)
			}
		}
	}
}

// A random frame has the header asked for, exactly dataBytes of data bits
// and zero padding, and its data is the bytes fill gave: all ones stay all
// ones, and a frame from a zero fill is the header followed by zeros.
func TestAppendRandomFrame(t *testing.T) {
	ones := func(b []byte) error {
		for i := range b {
			b[i] = 0xff
		}
		return nil
	}
	for _, c := range appendCases {
		for _, n := range []int{0, 1, 7, 64, 1000} {
			batch, err := AppendRandomFrame(nil, c.w, c.m, c.ans, n, ones)
			if err != nil {
				t.Fatal(err)
			}
			frames, err := SplitFrames(batch, 1, n+64)
			if err != nil || len(frames) != 1 {
				t.Fatalf("%s, %d bytes: %v", c.name, n, err)
			}
			got, err := Decode(c.w, c.ans, frames[0].Bits, frames[0].NBits)
			if err != nil {
				t.Fatal(err)
			}
			head, gotHead := c.m, got
			head.DataBits, gotHead.Data = 8*n, nil
			if gotHead.Subscriber != head.Subscriber || gotHead.Requester != head.Requester || gotHead.Seq != head.Seq ||
				gotHead.Type != head.Type || gotHead.Pair != head.Pair || gotHead.DataBits != head.DataBits ||
				(TokenPresent(head.Type, c.ans) && gotHead.Token != head.Token) ||
				!bytes.Equal(got.Data, bytes.Repeat([]byte{0xff}, n)) {
				t.Errorf("%s, %d bytes: decoded %+v", c.name, n, got)
			}
			bits, nbits, err := EncodeRandom(c.w, c.m, c.ans, n, ones)
			if err != nil || !bytes.Equal(AppendFrame(nil, bits, nbits), batch) {
				t.Errorf("%s, %d bytes: EncodeRandom and AppendRandomFrame differ (%v)", c.name, n, err)
			}
			zero, _ := AppendRandomFrame(nil, c.w, c.m, c.ans, n, func([]byte) error { return nil })
			m := c.m
			m.Data, m.DataBits = make([]byte, n), 8*n
			want, _ := AppendEncoded(nil, c.w, m, c.ans)
			if !bytes.Equal(zero, want) {
				t.Errorf("%s, %d bytes: a zero fill gives %x, want %x", c.name, n, zero, want)
			}
		}
	}
}

func TestAppendRandomFrameErrors(t *testing.T) {
	boom := errors.New("no randomness")
	fail := func([]byte) error { return boom }
	if _, err := AppendRandomFrame(nil, fig3Widths, appendCases[0].m, false, 10, fail); !errors.Is(err, boom) {
		t.Errorf("a failing fill: %v", err)
	}
	if _, _, err := EncodeRandom(fig3Widths, appendCases[0].m, false, 10, fail); !errors.Is(err, boom) {
		t.Errorf("a failing fill: %v", err)
	}
	if _, err := AppendRandomFrame(nil, fig3Widths, appendCases[0].m, false, -1, fail); err == nil {
		t.Error("negative length accepted")
	}
	tooWide := appendCases[0].m
	tooWide.Subscriber = 256
	if _, err := AppendRandomFrame(nil, fig3Widths, tooWide, false, 1, fail); err == nil {
		t.Error("a subscriber wider than s accepted")
	}
	if _, err := AppendEncoded(nil, fig3Widths, Message{Data: []byte{1}, DataBits: 9}, false); err == nil {
		t.Error("more data bits than data accepted")
	}
}
