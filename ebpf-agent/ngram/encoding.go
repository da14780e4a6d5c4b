package ngram

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// encMagic starts an encoded model; the byte after it is the format version.
const (
	encMagic   = "MWNG"
	encVersion = 1
	encHeader  = len(encMagic) + 1 + 1 + 4 // magic, version, n, entries
	encEntry   = 8 + 4                     // n-gram key, count
)

// MarshalBinary encodes the model: a header, then its n-grams in key order
// (so that the same model always encodes to the same bytes).
func (m *Model) MarshalBinary() ([]byte, error) {
	keys := make([]uint64, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, encHeader, encHeader+len(keys)*encEntry)
	copy(b, encMagic)
	b[4], b[5] = encVersion, byte(m.n)
	binary.LittleEndian.PutUint32(b[6:], uint32(len(keys)))
	for _, k := range keys {
		b = binary.LittleEndian.AppendUint64(b, k)
		b = binary.LittleEndian.AppendUint32(b, m.counts[k])
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote, and says at which byte
// the input is wrong.
func (m *Model) UnmarshalBinary(b []byte) error {
	if len(b) < encHeader || string(b[:4]) != encMagic {
		return fmt.Errorf("ngram: not an encoded model (no %q header)", encMagic)
	}
	if b[4] != encVersion {
		return fmt.Errorf("ngram: byte 4: format version %d, want %d", b[4], encVersion)
	}
	n := int(b[5])
	if n < 2 || n > 8 {
		return fmt.Errorf("ngram: byte 5: n-gram length %d, want 2 to 8", n)
	}
	entries := int(binary.LittleEndian.Uint32(b[6:]))
	if want := encHeader + entries*encEntry; entries > len(b)/encEntry || len(b) != want {
		return fmt.Errorf("ngram: %d bytes for %d n-grams, want %d", len(b), entries, encHeader+entries*encEntry)
	}
	counts := make(map[uint64]uint32, entries)
	prev, total := uint64(0), uint64(0)
	for i := 0; i < entries; i++ {
		off := encHeader + i*encEntry
		k, c := binary.LittleEndian.Uint64(b[off:]), binary.LittleEndian.Uint32(b[off+8:])
		if i > 0 && k <= prev {
			return fmt.Errorf("ngram: byte %d: n-gram %d out of order", off, i)
		}
		if c == 0 {
			return fmt.Errorf("ngram: byte %d: n-gram %d has count 0", off+8, i)
		}
		counts[k], prev = c, k
		total += uint64(c)
	}
	m.n, m.counts, m.total = n, counts, total
	return nil
}
