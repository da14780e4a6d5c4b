package eaas

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
// dst, a byte at a time (the data field is most of a message).
func copyBits(dst []byte, off int, src []byte, n int) {
	full, rest := n/8, n%8
	sh := off & 7
	d := dst[off>>3:]
	if sh == 0 {
		copy(d, src[:full])
	} else if full > 0 {
		d, src := d[:full+1], src[:full]
		for i, c := range src {
			d[i] |= c >> sh
			d[i+1] = c << (8 - sh)
		}
	}
	if rest > 0 {
		putBits(dst, off+8*full, rest, uint64(src[full]>>(8-rest)))
	}
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
		s, d := s[:full+1], dst[:full] // lets the compiler drop bounds checks
		for i := range d {
			d[i] = s[i]<<sh | s[i+1]>>(8-sh)
		}
	}
	if rest > 0 {
		dst[full] = byte(getBits(src, off+8*full, rest) << (8 - rest))
	}
}
