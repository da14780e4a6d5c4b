package eaas

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Widths are a subscriber's field widths in bits: subscriber id (S),
// requester and pair ids (R), sequence number (N) and token (T).
type Widths struct {
	S uint8 `json:"s"`
	R uint8 `json:"r"`
	N uint8 `json:"n"`
	T uint8 `json:"t"`
}

// DefaultWidths are meshward's defaults.
var DefaultWidths = Widths{S: 16, R: 16, N: 32, T: 2}

// Validate checks the widths against the limits of the codec: ids are
// uint32, sequence numbers uint64, and a token is at most a byte.
func (w Widths) Validate() error {
	switch {
	case w.S < 1 || w.S > 32:
		return fmt.Errorf("width s is %d, want 1 to 32", w.S)
	case w.R < 1 || w.R > 32:
		return fmt.Errorf("width r is %d, want 1 to 32", w.R)
	case w.N < 1 || w.N > 64:
		return fmt.Errorf("width n is %d, want 1 to 64", w.N)
	case w.T > 8:
		return fmt.Errorf("width t is %d, want 0 to 8", w.T)
	}
	return nil
}

// Tokens is 2^T: the number of frames of one encryption request or
// decryption answer (one real, the others fakes).
func (w Widths) Tokens() int { return 1 << w.T }

// HeaderBits is the number of bits before the data field.
func (w Widths) HeaderBits(typ Type, answer bool) int {
	n := int(w.S) + 2*int(w.R) + int(w.N) + 1
	if TokenPresent(typ, answer) {
		n += int(w.T)
	}
	return n
}

// Type is a message's request type.
type Type uint8

const (
	Encrypt Type = 0
	Decrypt Type = 1
)

func (t Type) String() string {
	switch t {
	case Encrypt:
		return "encrypt"
	case Decrypt:
		return "decrypt"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// TokenPresent says whether a message carries the token: an encryption
// request and a decryption answer do, the others do not (Fig. 2 and 5).
func TokenPresent(typ Type, answer bool) bool { return (typ == Encrypt) != answer }

// Message is one Fig. 2 message, decoded.
type Message struct {
	Subscriber, Requester, Pair uint32
	Seq                         uint64
	Type                        Type
	// Token is meaningful only when the layout carries it (TokenPresent).
	Token uint8
	// Data holds DataBits bits, MSB first; the last byte's unused low bits
	// are zero.
	Data     []byte
	DataBits int
}

// FieldError is every decode error of a message: which field, at which
// bit offset, and what is wrong.
type FieldError struct {
	Field string
	Bit   int
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %s at bit %d: %s", e.Field, e.Bit, e.Msg)
}

// MaxBits bounds a message: far above any body the filter accepts, low
// enough that bit offsets never overflow an int on wasm32-sized ints.
const MaxBits = 1 << 30

// Encode packs m with widths w; answer says whether m is a coordinator's
// answer (it decides with m.Type whether the token is present).
func Encode(w Widths, m Message, answer bool) (bits []byte, nbits int, err error) {
	if m.DataBits < 0 || m.DataBits > 8*len(m.Data) {
		return nil, 0, fmt.Errorf("data bits %d, but data holds %d bytes", m.DataBits, len(m.Data))
	}
	head, err := checkHeader(w, m, answer)
	if err != nil {
		return nil, 0, err
	}
	nbits = head + m.DataBits
	bits = make([]byte, (nbits+7)/8)
	putHeader(bits, w, m, answer)
	copyBits(bits, head, m.Data, m.DataBits)
	return bits, nbits, nil
}

// AppendEncoded appends m, packed, to dst as one frame: Encode then
// AppendFrame without the copy between them.
func AppendEncoded(dst []byte, w Widths, m Message, answer bool) ([]byte, error) {
	if m.DataBits < 0 || m.DataBits > 8*len(m.Data) {
		return dst, fmt.Errorf("data bits %d, but data holds %d bytes", m.DataBits, len(m.Data))
	}
	head, err := checkHeader(w, m, answer)
	if err != nil {
		return dst, err
	}
	dst, bits := growFrame(dst, head+m.DataBits)
	putHeader(bits, w, m, answer)
	copyBits(bits, head, m.Data, m.DataBits)
	return dst, nil
}

// AppendRandomFrame appends to dst a frame with m's header and dataBytes
// random bytes as its data, read from fill (m.Data is ignored): a fake.
func AppendRandomFrame(dst []byte, w Widths, m Message, answer bool, dataBytes int, fill func([]byte) error) ([]byte, error) {
	head, err := checkRandom(w, &m, answer, dataBytes)
	if err != nil {
		return dst, err
	}
	dst, bits := growFrame(dst, head+m.DataBits)
	putHeader(bits, w, m, answer)
	return dst, randomData(bits, head, dataBytes, fill)
}

// EncodeRandom is Encode for a fake: m's header, then dataBytes random
// bytes read from fill.
func EncodeRandom(w Widths, m Message, answer bool, dataBytes int, fill func([]byte) error) ([]byte, int, error) {
	head, err := checkRandom(w, &m, answer, dataBytes)
	if err != nil {
		return nil, 0, err
	}
	nbits := head + m.DataBits
	bits := make([]byte, (nbits+7)/8)
	putHeader(bits, w, m, answer)
	return bits, nbits, randomData(bits, head, dataBytes, fill)
}

func checkRandom(w Widths, m *Message, answer bool, dataBytes int) (int, error) {
	if dataBytes < 0 {
		return 0, fmt.Errorf("data bytes %d", dataBytes)
	}
	m.Data, m.DataBits = nil, 8*dataBytes
	return checkHeader(w, *m, answer)
}

// randomData fills the data field, which starts at bit head of bits, with
// random bytes: random bits are random at any offset, so they are written
// in place instead of being shifted there.
func randomData(bits []byte, head, dataBytes int, fill func([]byte) error) error {
	if dataBytes == 0 {
		return nil
	}
	first := head / 8
	if sh := head % 8; sh != 0 {
		var b [1]byte
		if err := fill(b[:]); err != nil {
			return err
		}
		bits[first] |= b[0] & (0xff >> sh)
		first++
	}
	if err := fill(bits[first:]); err != nil {
		return err
	}
	if pad := (head + 8*dataBytes) % 8; pad != 0 {
		bits[len(bits)-1] &^= 0xff >> pad
	}
	return nil
}

// growFrame appends a frame of nbits zero bits to dst and returns them.
func growFrame(dst []byte, nbits int) ([]byte, []byte) {
	dst = binary.AppendUvarint(dst, uint64(nbits))
	start := len(dst)
	dst = append(dst, make([]byte, (nbits+7)/8)...)
	return dst, dst[start:]
}

// checkHeader says whether m's header fields fit w and returns the
// header's length in bits.
func checkHeader(w Widths, m Message, answer bool) (int, error) {
	if err := w.Validate(); err != nil {
		return 0, err
	}
	if m.Type > Decrypt {
		return 0, fmt.Errorf("type is %d, want 0 (encrypt) or 1 (decrypt)", m.Type)
	}
	values := headerValues(m)
	for i, f := range layout(w, TokenPresent(m.Type, answer)) {
		if f.width < 64 && values[i]>>f.width != 0 {
			return 0, fmt.Errorf("%s %d does not fit in %d bits", f.name, values[i], f.width)
		}
	}
	head := w.HeaderBits(m.Type, answer)
	if m.DataBits > MaxBits-head {
		return 0, errors.New("message longer than MaxBits")
	}
	return head, nil
}

func headerValues(m Message) [6]uint64 {
	return [6]uint64{uint64(m.Subscriber), uint64(m.Requester), m.Seq, uint64(m.Type), uint64(m.Pair), uint64(m.Token)}
}

// putHeader writes m's checked header at the start of the zeroed bits.
func putHeader(bits []byte, w Widths, m Message, answer bool) {
	values := headerValues(m)
	off := 0
	for i, f := range layout(w, TokenPresent(m.Type, answer)) {
		putBits(bits, off, f.width, values[i])
		off += f.width
	}
}

// Decode unpacks a message of nbits bits; Data is a copy.
func Decode(w Widths, answer bool, bits []byte, nbits int) (Message, error) {
	m, err := DecodeHeader(w, answer, bits, nbits)
	if err != nil {
		return Message{}, err
	}
	m.Data = make([]byte, (m.DataBits+7)/8)
	extractBits(m.Data, bits, nbits-m.DataBits, m.DataBits)
	return m, nil
}

// DecodeHeader reads only the header fields and sets DataBits, copying no
// data: the cheap look at a few bits that drops a fake or a flood.
func DecodeHeader(w Widths, answer bool, bits []byte, nbits int) (Message, error) {
	if err := w.Validate(); err != nil {
		return Message{}, &FieldError{Field: "widths", Bit: 0, Msg: err.Error()}
	}
	if err := checkFrame(bits, nbits); err != nil {
		return Message{}, err
	}
	var m Message
	var v [6]uint64
	off := 0
	for i, f := range layout(w, true) {
		if i == 5 && !TokenPresent(Type(v[3]), answer) {
			break
		}
		if nbits-off < f.width {
			return Message{}, &FieldError{Field: f.name, Bit: off,
				Msg: fmt.Sprintf("truncated: needs %d bits, %d remain", f.width, nbits-off)}
		}
		v[i] = getBits(bits, off, f.width)
		off += f.width
	}
	m.Subscriber, m.Requester, m.Seq = uint32(v[0]), uint32(v[1]), v[2]
	m.Type, m.Pair, m.Token = Type(v[3]), uint32(v[4]), uint8(v[5])
	m.DataBits = nbits - off
	return m, nil
}

// checkFrame refuses a bit string whose length and nbits disagree, or whose
// padding is not zero: every accepted frame has one encoding.
func checkFrame(bits []byte, nbits int) error {
	if nbits < 0 || nbits > MaxBits {
		return &FieldError{Field: "frame", Bit: 0, Msg: fmt.Sprintf("length %d bits, want 0 to %d", nbits, MaxBits)}
	}
	if len(bits) != (nbits+7)/8 {
		return &FieldError{Field: "frame", Bit: 0, Msg: fmt.Sprintf("%d bits need %d bytes, got %d", nbits, (nbits+7)/8, len(bits))}
	}
	if pad := nbits % 8; pad != 0 && bits[len(bits)-1]&(0xff>>pad) != 0 {
		return &FieldError{Field: "padding", Bit: nbits, Msg: "unused low bits of the last byte are not zero"}
	}
	return nil
}

type field struct {
	name  string
	width int
}

// layout lists the header fields in wire order; the token last, when present.
func layout(w Widths, token bool) []field {
	f := []field{{"subscriber", int(w.S)}, {"requester", int(w.R)}, {"sequence", int(w.N)},
		{"type", 1}, {"pair", int(w.R)}, {"token", int(w.T)}}
	if !token {
		return f[:5]
	}
	return f
}
