package eaas

import "encoding/binary"

// getBits reads n ≤ 64 bits at bit offset off, MSB first; the caller has
// checked that they are there.
func getBits(b []byte, off, n int) uint64 {
	var v uint64
	for n > 0 {
		avail := 8 - off&7
		take := min(avail, n)
		chunk := b[off>>3] >> (avail - take) & byte(1<<take-1)
		v = v<<take | uint64(chunk)
		off += take
		n -= take
	}
	return v
}

// putBits writes the low n ≤ 64 bits of v at bit offset off of a zeroed b.
func putBits(b []byte, off, n int, v uint64) {
	for n > 0 {
		avail := 8 - off&7
		take := min(avail, n)
		chunk := byte(v>>(n-take)) & byte(1<<take-1)
		b[off>>3] |= chunk << (avail - take)
		off += take
		n -= take
	}
}

// copyBits writes the first n bits of src at bit offset off of a zeroed
// dst. The data field is most of a message, so whole bytes move eight at a
// time: every frame of a 64 KiB body goes through here, in the filter too.
func copyBits(dst []byte, off int, src []byte, n int) {
	full, rest := n/8, n%8
	sh := off & 7
	d := dst[off>>3:]
	if sh == 0 {
		copy(d, src[:full])
	} else if full > 0 {
		shiftRight(d[:full+1], src[:full], uint(sh))
	}
	if rest > 0 {
		putBits(dst, off+8*full, rest, uint64(src[full]>>(8-rest)))
	}
}

// shiftRight ORs src, moved sh (1..7) bits to the right, into d (one byte
// longer than src, its first byte keeping its high bits).
func shiftRight(d, src []byte, sh uint) {
	i := 0
	carry := d[0] // the header's bits in the first byte
	for ; i+8 <= len(src); i += 8 {
		w := binary.BigEndian.Uint64(src[i:])
		binary.BigEndian.PutUint64(d[i:], uint64(carry)<<56|w>>sh)
		carry = byte(w << (8 - sh))
	}
	for ; i < len(src); i++ {
		c := src[i]
		d[i] = carry | c>>sh
		carry = c << (8 - sh)
	}
	d[i] = carry
}

// extractBits copies n bits of src from bit offset off into dst (zeroed,
// ceil(n/8) bytes), aligned to dst's first bit.
func extractBits(dst, src []byte, off, n int) {
	full, rest := n/8, n%8
	sh := off & 7
	s := src[off>>3:]
	if sh == 0 {
		copy(dst, s[:full])
	} else if full > 0 {
		shiftLeft(dst[:full], s[:full+1], uint(sh))
	}
	if rest > 0 {
		dst[full] = byte(getBits(src, off+8*full, rest) << (8 - rest))
	}
}

// shiftLeft fills d with s moved sh (1..7) bits to the left (s is one byte
// longer than d), eight bytes at a time.
func shiftLeft(d, s []byte, sh uint) {
	i := 0
	for ; i+9 <= len(s); i += 8 {
		w := binary.BigEndian.Uint64(s[i:])
		binary.BigEndian.PutUint64(d[i:], w<<sh|uint64(s[i+8])>>(8-sh))
	}
	for ; i < len(d); i++ {
		d[i] = s[i]<<sh | s[i+1]>>(8-sh)
	}
}
