package proxywasm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// encodePairs serializes a header map the proxy-wasm way: a count, then the
// key and value lengths, then each key and value followed by a NUL.
func encodePairs(pairs [][2]string) []byte {
	size := 4
	for _, p := range pairs {
		size += 8 + len(p[0]) + len(p[1]) + 2
	}
	b := make([]byte, 4, size)
	binary.LittleEndian.PutUint32(b, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(b, p[0]...)
		b = append(b, 0)
		b = append(b, p[1]...)
		b = append(b, 0)
	}
	return b
}

var errShortMap = errors.New("header map: truncated")

// decodePairs parses what encodePairs makes, from guest memory: every length
// is checked, since a guest can pass anything.
func decodePairs(b []byte) ([][2]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, errShortMap
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > (len(b)-4)/10 {
		return nil, fmt.Errorf("header map: %d pairs cannot fit in %d bytes", n, len(b))
	}
	sizes, data := b[4:4+8*n], b[4+8*n:]
	pairs := make([][2]string, n)
	for i := range pairs {
		for j := 0; j < 2; j++ {
			l := int(binary.LittleEndian.Uint32(sizes[8*i+4*j:]))
			if l+1 > len(data) || data[l] != 0 {
				return nil, fmt.Errorf("header map: pair %d: bad length %d", i, l)
			}
			pairs[i][j] = string(data[:l])
			data = data[l+1:]
		}
	}
	return pairs, nil
}
