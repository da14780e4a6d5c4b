package filter

import (
	"encoding/binary"
	"errors"
)

// A response is sealed with the sequence number of the request envelope it
// answers in front of its body. The envelope's header (the associated data)
// binds a response to the pair; this binds it to the request, so that a
// response envelope taken off the wire before the source opened it cannot
// later answer another request of the same pair.

// maxBindingBytes is the longest binding: a uvarint of 64 bits.
const maxBindingBytes = binary.MaxVarintLen64

func bindResponse(requestSeq uint64, body []byte) []byte {
	b := make([]byte, 0, maxBindingBytes+len(body))
	return append(binary.AppendUvarint(b, requestSeq), body...)
}

func unbindResponse(requestSeq uint64, plain []byte) ([]byte, error) {
	seq, n := binary.Uvarint(plain)
	switch {
	case n <= 0:
		return nil, errors.New("response plaintext: byte 0: no request sequence number")
	case seq != requestSeq:
		return nil, errors.New("response plaintext: byte 0: answers another request")
	case n != len(binary.AppendUvarint(nil, seq)):
		return nil, errors.New("response plaintext: byte 0: the request sequence number is not in its shortest form")
	}
	return plain[n:], nil
}
