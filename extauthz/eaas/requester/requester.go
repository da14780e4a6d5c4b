// Package requester is the requester's side of EaaS in Go: what the
// sidecar filter does (build 2^t frames around each real message, pick the
// real answer among fakes, drop envelopes that cannot be for it), for tests,
// benchmarks and clients that are not Envoy. It knows no transport.
package requester

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"

	"github.com/meshward/meshward/api/eaas"
)

// ErrLeaseUsed means the session's sequence numbers are spent: enrol again.
var ErrLeaseUsed = errors.New("sequence lease used up")

// Session is one enrolment: identity, token, peers and a sequence lease.
type Session struct {
	E    eaas.Enrolment
	mu   sync.Mutex
	next uint64
}

// New starts a session on an enrolment.
func New(e eaas.Enrolment) *Session { return &Session{E: e, next: e.Seq.Start} }

func (s *Session) seq() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= s.E.Seq.Start+s.E.Seq.Count {
		return 0, ErrLeaseUsed
	}
	n := s.next
	s.next++
	return n, nil
}

func (s *Session) message(seq uint64, typ eaas.Type, pair uint32, tok uint8, data []byte) eaas.Message {
	return eaas.Message{Subscriber: s.E.Subscriber, Requester: s.E.Requester, Seq: seq, Type: typ, Pair: pair,
		Token: tok, Data: data, DataBits: 8 * len(data)}
}

// EncryptBatch is the batch asking to encrypt data for pair: the real frame
// with the token, each other token value on random bytes of the same size,
// in token order (every frame looks alike but for its token bits).
func (s *Session) EncryptBatch(pair uint32, data []byte) ([]byte, error) {
	seq, err := s.seq()
	if err != nil {
		return nil, err
	}
	// ChaCha8 keyed from crypto/rand, as the filter and the coordinator
	// make theirs: a cryptographic stream, without a system call per fake.
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	gen := mrand.NewChaCha8(seed)
	var batch []byte
	fake := make([]byte, len(data))
	for tok := range s.E.Widths.Tokens() {
		d := data
		if uint8(tok) != s.E.Token {
			_, _ = gen.Read(fake) // never fails
			d = fake
		}
		bits, n, err := eaas.Encode(s.E.Widths, s.message(seq, eaas.Encrypt, pair, uint8(tok), d), false)
		if err != nil {
			return nil, err
		}
		batch = eaas.AppendFrame(batch, bits, n)
	}
	return batch, nil
}

// DecryptBatch is the batch asking to decrypt an envelope from pair.
func (s *Session) DecryptBatch(pair uint32, envelope []byte) ([]byte, error) {
	seq, err := s.seq()
	if err != nil {
		return nil, err
	}
	bits, n, err := eaas.Encode(s.E.Widths, s.message(seq, eaas.Decrypt, pair, 0, envelope), false)
	if err != nil {
		return nil, err
	}
	return eaas.AppendFrame(nil, bits, n), nil
}

// Envelope reads an encryption's answer: one frame holding the envelope.
func (s *Session) Envelope(answer []byte) ([]byte, error) {
	frames, err := eaas.SplitFrames(answer, 1, len(answer))
	if err != nil {
		return nil, fmt.Errorf("encryption answer: %w", err)
	}
	if len(frames) != 1 {
		return nil, fmt.Errorf("encryption answer: %d frames, want 1", len(frames))
	}
	m, err := eaas.Decode(s.E.Widths, true, frames[0].Bits, frames[0].NBits)
	if err != nil {
		return nil, fmt.Errorf("encryption answer: %w", err)
	}
	return m.Data, nil
}

// Plaintext reads a decryption's answer: 2^t frames, exactly one with the token.
func (s *Session) Plaintext(answer []byte) ([]byte, error) {
	want := s.E.Widths.Tokens()
	frames, err := eaas.SplitFrames(answer, want, len(answer))
	if err != nil {
		return nil, fmt.Errorf("decryption answer: %w", err)
	}
	if len(frames) != want {
		return nil, fmt.Errorf("decryption answer: %d frames, want %d", len(frames), want)
	}
	var real []byte
	found := 0
	for i, f := range frames {
		h, err := eaas.DecodeHeader(s.E.Widths, true, f.Bits, f.NBits)
		if err != nil {
			return nil, fmt.Errorf("decryption answer: frame %d: %w", i, err)
		}
		if h.Token != s.E.Token {
			continue
		}
		m, err := eaas.Decode(s.E.Widths, true, f.Bits, f.NBits)
		if err != nil {
			return nil, fmt.Errorf("decryption answer: frame %d: %w", i, err)
		}
		real, found = m.Data, found+1
	}
	if found != 1 {
		return nil, fmt.Errorf("decryption answer: %d frames carry the token, want 1", found)
	}
	return real, nil
}

// Admit is the destination's cheap drop (the seed's Scenario 2): an
// envelope is decrypted only if it is for this requester, from a peer whose
// identity is the caller's, with the subscriber's token; it costs a header
// parse and no key, callout or cryptography. It returns the source peer.
func (s *Session) Admit(envelope []byte, callerPrincipal string) (eaas.Peer, error) {
	e, err := eaas.ParseEnvelope(envelope)
	if err != nil {
		return eaas.Peer{}, err
	}
	if e.Subscriber != s.E.Subscriber || e.Dst != s.E.Requester || e.Token != s.E.Token || e.Cipher != s.E.Cipher {
		return eaas.Peer{}, errors.New("envelope is not for this requester")
	}
	p, ok := s.E.PeerByRequester(e.Src)
	if !ok || p.Principal != callerPrincipal {
		return eaas.Peer{}, errors.New("envelope source is not the caller")
	}
	return p, nil
}
