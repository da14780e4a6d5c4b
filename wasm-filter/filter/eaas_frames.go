package filter

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/meshward/meshward/api/eaas"
)

// random feeds the fakes and their order: the host's random_get.
var random io.Reader = rand.Reader

// who is what a message's header must say: the filter's enrolment, the
// sequence number it used and the pair it named.
type who struct {
	e    *eaas.Enrolment
	seq  uint64
	pair uint32
}

func (w who) message(typ eaas.Type, token uint8, data []byte) eaas.Message {
	return eaas.Message{Subscriber: w.e.Subscriber, Requester: w.e.Requester, Seq: w.seq, Type: typ, Pair: w.pair,
		Token: token, Data: data, DataBits: 8 * len(data)}
}

// encryptBatch is an encryption request: 2^t frames in random order, the
// one with the subscriber's token carrying the plaintext, the others random
// data of the same length (the seed's deception), written straight into
// the batch.
func encryptBatch(w who, plain []byte) ([]byte, error) {
	n := w.e.Widths.Tokens()
	order, err := shuffled(n)
	if err != nil {
		return nil, err
	}
	batch := make([]byte, 0, n*(len(plain)+frameSlack))
	for _, tok := range order {
		m := w.message(eaas.Encrypt, uint8(tok), plain)
		if uint8(tok) == w.e.Token {
			batch, err = eaas.AppendEncoded(batch, w.e.Widths, m, false)
		} else {
			batch, err = eaas.AppendRandomFrame(batch, w.e.Widths, m, false, len(plain), fillRandom)
		}
		if err != nil {
			return nil, err
		}
	}
	return batch, nil
}

// maxRandomGet is the most Envoy's random_get hands out per call
// (proxy-wasm-cpp-host's PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES);
// Go's crypto/rand asks for a whole buffer in one call and ends the VM when
// the host refuses.
const maxRandomGet = 64 << 10

// fillRandom fills a fake from the host's generator (BoringSSL's in Envoy)
// in calls Envoy accepts: in the VM a generator runs at a fraction of the
// host's speed, and 64 KiB at t=2 is 192 KiB of fakes.
func fillRandom(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), maxRandomGet)
		if _, err := io.ReadFull(random, b[:n]); err != nil {
			return fmt.Errorf("random data for the fakes: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// decryptBatch is a decryption request: one frame, no token, the envelope
// as data.
func decryptBatch(w who, envelope []byte) ([]byte, error) {
	return eaas.AppendEncoded(nil, w.e.Widths, w.message(eaas.Decrypt, 0, envelope), false)
}

// shuffled is a uniformly random permutation of 0..n-1 (Fisher-Yates).
func shuffled(n int) ([]int, error) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var b [8]byte
	for i := n - 1; i > 0; i-- {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return nil, fmt.Errorf("random order: %w", err)
		}
		j := int(binary.LittleEndian.Uint64(b[:]) % uint64(i+1)) // n ≤ 256: the bias is below 2^-55
		p[i], p[j] = p[j], p[i]
	}
	return p, nil
}

// frameSlack covers a frame's header and varint beyond its data.
const frameSlack = 64

// envelopeSlack covers what an envelope adds to its plaintext: a header of
// at most 30 bytes and, for the widest cipher (the legacy encrypt-then-MAC
// ones), a 5-byte key prefix, an 8-byte IV, 8 bytes of padding and a 32-byte
// tag. A plaintext of max_body_bytes is sealed by one side, so its envelope
// must be taken by the other.
const envelopeSlack = 128

// parseEncryptAnswer checks the coordinator's answer to an encryption
// request (one frame, type 0, no token, naming w) and returns the envelope
// it carries, which must seal from this requester to the pair at w.seq.
func parseEncryptAnswer(w who, body []byte, maxEnvelope int) ([]byte, error) {
	frames, err := eaas.SplitFrames(body, 1, maxEnvelope+frameSlack)
	if err != nil {
		return nil, err
	}
	if len(frames) != 1 {
		return nil, errors.New("no frame")
	}
	m, err := eaas.Decode(w.e.Widths, true, frames[0].Bits, frames[0].NBits)
	if err != nil {
		return nil, err
	}
	if err := w.matches(m, eaas.Encrypt); err != nil {
		return nil, err
	}
	env, err := eaas.ParseEnvelope(m.Data)
	if err != nil {
		return nil, err
	}
	if env.Subscriber != w.e.Subscriber || env.Src != w.e.Requester || env.Dst != w.pair || env.Seq != w.seq || env.Token != w.e.Token {
		return nil, errors.New("the envelope is not for this subscriber, pair and sequence")
	}
	return m.Data, nil
}

// parseDecryptAnswer checks the coordinator's answer to a decryption
// request (2^t frames, type 1, each with a distinct token, all naming w and
// of one length) and returns the data of the frame with the subscriber's
// token.
func parseDecryptAnswer(w who, body []byte, maxPlain int) ([]byte, error) {
	n := w.e.Widths.Tokens()
	frames, err := eaas.SplitFrames(body, n, maxPlain+frameSlack)
	if err != nil {
		return nil, err
	}
	if len(frames) != n {
		return nil, fmt.Errorf("%d frames, want %d", len(frames), n)
	}
	seen := make([]bool, n)
	real := -1
	for i, f := range frames {
		m, err := eaas.DecodeHeader(w.e.Widths, true, f.Bits, f.NBits)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		if err := w.matches(m, eaas.Decrypt); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		if seen[m.Token] || m.DataBits%8 != 0 || m.DataBits/8 > maxPlain || f.NBits != frames[0].NBits { // one layout: equal lengths, equal data
			return nil, fmt.Errorf("frame %d: repeated token or odd length", i)
		}
		seen[m.Token] = true
		if m.Token == w.e.Token {
			real = i
		}
	}
	if real < 0 {
		return nil, errors.New("no frame with the subscriber's token")
	}
	m, err := eaas.Decode(w.e.Widths, true, frames[real].Bits, frames[real].NBits)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

func (w who) matches(m eaas.Message, typ eaas.Type) error {
	if m.Type != typ || m.Subscriber != w.e.Subscriber || m.Requester != w.e.Requester || m.Seq != w.seq || m.Pair != w.pair {
		return fmt.Errorf("a %s answer for another request", typ)
	}
	return nil
}

// floodCheck is Scenario 2's drop, decided from the enrolment alone before
// any callout: the mark and the envelope must name this subscriber, this
// requester as the destination and the subscriber's token, and the source
// must be a peer whose principal is the verified peer certificate's.
func floodCheck(e *eaas.Enrolment, peers *peerIndex, mark uint32, env eaas.Envelope, peerCert string) error {
	switch {
	case mark != e.Subscriber || env.Subscriber != e.Subscriber:
		return errors.New("another subscriber")
	case env.Dst != e.Requester:
		return errors.New("not addressed to this requester")
	case env.Token != e.Token:
		return errors.New("wrong token")
	}
	p, ok := peers.byID[env.Src]
	if !ok {
		return errors.New("source is not a peer")
	}
	if principal, ok := strings.CutPrefix(peerCert, "spiffe://"); !ok || principal != p.Principal {
		return errors.New("source's principal is not the peer certificate's")
	}
	return nil
}

// peerIndex finds peers by requester id and by host.
type peerIndex struct {
	byID   map[uint32]*eaas.Peer
	byHost map[string]*eaas.Peer
}

func indexPeers(e *eaas.Enrolment) *peerIndex {
	x := &peerIndex{byID: make(map[uint32]*eaas.Peer, len(e.Peers)), byHost: make(map[string]*eaas.Peer, len(e.Peers))}
	for i := range e.Peers {
		p := &e.Peers[i]
		x.byID[p.Requester] = p
		for _, h := range p.Hosts {
			x.byHost[h] = p
		}
	}
	return x
}

// hostOf is an :authority without its port, lower-cased, without the
// trailing dot of a fully qualified name: "orders.shop.svc.cluster.local."
// reaches the same peer, so its body must be sealed as well.
func hostOf(authority string) string {
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		authority = authority[:i]
	}
	return strings.ToLower(strings.TrimSuffix(authority, "."))
}
