package eaas

import (
	"encoding/binary"
	"fmt"
)

// ContentType is the media type of a frame batch.
const ContentType = "application/vnd.meshward.eaas-frames"

// Frame is one message's bits within a batch.
type Frame struct {
	Bits  []byte
	NBits int
}

// AppendFrame appends uvarint(nbits) and the ceil(nbits/8) bytes of bits to
// dst. nbits is clamped to [0, 8*len(bits)], and the last byte's unused bits
// are written as zero, so that the batch is canonical.
func AppendFrame(dst, bits []byte, nbits int) []byte {
	nbits = max(0, min(nbits, 8*len(bits)))
	dst = binary.AppendUvarint(dst, uint64(nbits))
	n := (nbits + 7) / 8
	dst = append(dst, bits[:n]...)
	if pad := nbits % 8; pad != 0 {
		dst[len(dst)-1] &^= 0xff >> pad
	}
	return dst
}

// SplitFrames parses a batch of at most maxFrames frames of at most
// maxFrameBytes bytes each. The frames' Bits alias b. Non-minimal varints and
// non-zero padding are refused: a batch has one encoding.
func SplitFrames(b []byte, maxFrames, maxFrameBytes int) ([]Frame, error) {
	var frames []Frame
	for off := 0; off < len(b); {
		if len(frames) == maxFrames {
			return nil, fmt.Errorf("eaas frames: more than %d frames (frame %d at byte %d)", maxFrames, len(frames), off)
		}
		v, n := binary.Uvarint(b[off:])
		if n <= 0 || n != uvarintLen(v) {
			return nil, fmt.Errorf("eaas frames: frame %d at byte %d: malformed bit length", len(frames), off)
		}
		if v > uint64(maxFrameBytes)*8 || v > MaxBits {
			return nil, fmt.Errorf("eaas frames: frame %d at byte %d: %d bits, limit %d bytes", len(frames), off, v, maxFrameBytes)
		}
		nbits := int(v)
		nbytes := (nbits + 7) / 8
		off += n
		if len(b)-off < nbytes {
			return nil, fmt.Errorf("eaas frames: frame %d at byte %d: truncated: %d bytes, %d remain", len(frames), off, nbytes, len(b)-off)
		}
		bits := b[off : off+nbytes : off+nbytes]
		if pad := nbits % 8; pad != 0 && bits[nbytes-1]&(0xff>>pad) != 0 {
			return nil, fmt.Errorf("eaas frames: frame %d at byte %d: unused low bits of the last byte are not zero", len(frames), off+nbytes-1)
		}
		if frames == nil {
			frames = make([]Frame, 0, min(maxFrames, 16))
		}
		frames = append(frames, Frame{Bits: bits, NBits: nbits})
		off += nbytes
	}
	return frames, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
