package eaas

import (
	"encoding/binary"
	"fmt"
	"math"
)

// EnvelopeMagic starts every envelope; its last byte is the format version.
const EnvelopeMagic = "MWE1"

// Envelope is what travels between sidecars as the HTTP body in place of the
// plaintext. Src is the requester that encrypted, Dst the one that may
// decrypt, Seq the encryption request's sequence number.
type Envelope struct {
	Subscriber, Src, Dst uint32
	Seq                  uint64
	Token                uint8
	Cipher               CipherID
	Ciphertext           []byte
}

// Header is the canonical encoding of everything before the ciphertext. It
// is the AEAD's associated data, so a ciphertext moved to another
// subscriber, pair or position fails to open.
func (e Envelope) Header() []byte {
	return e.appendHeader(make([]byte, 0, envelopeHeaderMax))
}

// Marshal encodes the envelope.
func (e Envelope) Marshal() []byte {
	b := e.appendHeader(make([]byte, 0, envelopeHeaderMax+len(e.Ciphertext)))
	return append(b, e.Ciphertext...)
}

// envelopeHeaderMax is the longest header: magic, three uint32 and one
// uint64 varints, token and cipher.
const envelopeHeaderMax = len(EnvelopeMagic) + 3*5 + 10 + 2

func (e Envelope) appendHeader(b []byte) []byte {
	b = append(b, EnvelopeMagic...)
	b = binary.AppendUvarint(b, uint64(e.Subscriber))
	b = binary.AppendUvarint(b, uint64(e.Src))
	b = binary.AppendUvarint(b, uint64(e.Dst))
	b = binary.AppendUvarint(b, e.Seq)
	return append(b, e.Token, byte(e.Cipher))
}

// ParseEnvelope decodes an envelope. The Ciphertext aliases b. Only the
// canonical encoding is accepted (minimal varints, a known cipher, a
// non-empty ciphertext), so Marshal gives b back.
func ParseEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if len(b) < len(EnvelopeMagic) || string(b[:len(EnvelopeMagic)]) != EnvelopeMagic {
		return e, fmt.Errorf("eaas envelope: byte 0: does not start with %q", EnvelopeMagic)
	}
	off := len(EnvelopeMagic)
	var vals [4]uint64
	for i, name := range [4]string{"subscriber", "src", "dst", "seq"} {
		v, n := binary.Uvarint(b[off:])
		if n <= 0 || n != uvarintLen(v) {
			return Envelope{}, fmt.Errorf("eaas envelope: byte %d: field %s: malformed varint", off, name)
		}
		if i < 3 && v > math.MaxUint32 {
			return Envelope{}, fmt.Errorf("eaas envelope: byte %d: field %s: %d does not fit in 32 bits", off, name, v)
		}
		vals[i] = v
		off += n
	}
	if len(b)-off < 3 {
		return Envelope{}, fmt.Errorf("eaas envelope: byte %d: truncated: token, cipher and ciphertext missing", off)
	}
	e = Envelope{Subscriber: uint32(vals[0]), Src: uint32(vals[1]), Dst: uint32(vals[2]), Seq: vals[3],
		Token: b[off], Cipher: CipherID(b[off+1]), Ciphertext: b[off+2:]}
	if e.Cipher.String() == "" {
		return Envelope{}, fmt.Errorf("eaas envelope: byte %d: field cipher: unknown cipher id %d", off+1, b[off+1])
	}
	return e, nil
}
