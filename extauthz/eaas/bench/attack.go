package bench

import (
	"crypto/rand"
	"errors"

	"github.com/meshward/meshward/api/eaas"
)

// FakeBatch is an encryption request in which no frame carries the
// subscriber's token: what a member of subscriber e.Subscriber can send
// without its token, or what a flooder sends to cost the coordinator work.
// Its 2^t frames are well formed (the caller's own ids, a pair of the
// subscriber, size bytes of random data each), so that only the token
// check drops them.
func FakeBatch(e eaas.Enrolment, pair uint32, size int) ([]byte, error) {
	n := e.Widths.Tokens()
	if n < 2 {
		return nil, errors.New("fake batch: a deception factor of 0 leaves no token but the real one")
	}
	var batch []byte
	data := make([]byte, size)
	for i := range n {
		if _, err := rand.Read(data); err != nil {
			return nil, err
		}
		tok := (int(e.Token) + 1 + i%(n-1)) % n // every token but the real one
		m := eaas.Message{Subscriber: e.Subscriber, Requester: e.Requester, Seq: e.Seq.Start, Type: eaas.Encrypt,
			Pair: pair, Token: uint8(tok), Data: data, DataBits: 8 * size}
		bits, nbits, err := eaas.Encode(e.Widths, m, false)
		if err != nil {
			return nil, err
		}
		batch = eaas.AppendFrame(batch, bits, nbits)
	}
	return batch, nil
}

// FloodEnvelope is an envelope a workload that is not src sends to dst in
// src's name, with a token guessed wrong and size bytes of random
// "ciphertext": the destination's filter must drop it (Session.Admit)
// before any call.
func FloodEnvelope(dst eaas.Enrolment, src uint32, size int) ([]byte, error) {
	ct := make([]byte, size)
	if _, err := rand.Read(ct); err != nil {
		return nil, err
	}
	tok := uint8((int(dst.Token) + 1) % dst.Widths.Tokens())
	e := eaas.Envelope{Subscriber: dst.Subscriber, Src: src, Dst: dst.Requester, Seq: dst.Seq.Start, Token: tok,
		Cipher: dst.Cipher, Ciphertext: ct}
	return e.Marshal(), nil
}
