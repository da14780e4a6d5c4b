package coordinator

import (
	"context"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// Answer is what goes back to the requester: frames, or (for a subscriber
// that chose the seed's behaviour) the instruction to forward raw data.
type Answer struct {
	Frames           []eaas.Frame
	ForwardPlaintext bool
}

// request is one batch being served: the seed's requests database holds
// exactly this while the key manager and the cryptor work.
type request struct {
	sub    *subscriber.Subscriber
	caller uint32
	head   eaas.Message // the shared header of the batch's frames
	real   eaas.Frame
}

// Process serves a batch of frames from the requester whose verified mesh
// identity is callerID.
func (c *Coordinator) Process(ctx context.Context, callerID string, frames []eaas.Frame) (Answer, error) {
	start := time.Now()
	typ := "unknown"
	ans, err := c.process(ctx, callerID, frames, &typ)
	result := "ok"
	var e *Error
	if errors.As(err, &e) {
		result = e.Reason
	} else if err != nil {
		result = "error"
	}
	c.obs.Request(typ, result)
	c.obs.Stage("coordinator", time.Since(start))
	return ans, err
}

func (c *Coordinator) process(ctx context.Context, callerID string, frames []eaas.Frame, typ *string) (Answer, error) {
	ref, ok := c.dir.member(principal(callerID))
	if !ok {
		return Answer{}, refuse(KindForbidden, ReasonNotMember, "%s is not a member of any subscriber", callerID)
	}
	req, err := c.admit(ref, frames)
	if err != nil {
		return Answer{}, err
	}
	if req.head.Type == eaas.Encrypt {
		*typ = "encrypt"
		return c.encrypt(ctx, req)
	}
	*typ = "decrypt"
	return c.decrypt(ctx, req)
}

// errNoRealMessage is made once: a flood of fakes is dropped without
// formatting a message per batch.
var errNoRealMessage = refuse(KindForbidden, ReasonNoRealMessage, "no frame carries the subscriber's token")

// admit reads only the frames' headers: identity, shape, token and sequence
// number are checked, and fakes dropped, before any key or cryptography.
func (c *Coordinator) admit(ref memberRef, frames []eaas.Frame) (*request, error) {
	s := ref.sub
	if len(frames) == 0 {
		return nil, refuse(KindBadRequest, ReasonMalformed, "no frames")
	}
	req := &request{sub: s, caller: ref.requester}
	found := false
	for i, f := range frames {
		h, err := eaas.DecodeHeader(s.Widths, false, f.Bits, f.NBits)
		if err != nil {
			return nil, refuse(KindBadRequest, ReasonMalformed, "frame %d: %v", i, err)
		}
		if h.Subscriber != s.ID || h.Requester != ref.requester {
			return nil, refuse(KindForbidden, ReasonIdentityMismatch,
				"frame %d names subscriber %d requester %d; the caller is subscriber %d requester %d",
				i, h.Subscriber, h.Requester, s.ID, ref.requester)
		}
		if i == 0 {
			req.head = h
		} else if h.Seq != req.head.Seq || h.Type != req.head.Type || h.Pair != req.head.Pair {
			return nil, refuse(KindBadRequest, ReasonMalformed, "frame %d: sequence, type or pair differs from frame 0", i)
		}
		if h.Type == eaas.Decrypt || h.Token == s.Token {
			if found {
				return nil, refuse(KindBadRequest, ReasonMalformed, "frame %d: a second real frame", i)
			}
			found, req.real = true, f
		}
	}
	if err := c.checkShape(req, len(frames)); err != nil {
		return nil, err
	}
	if !found {
		c.obs.Fakes(s.ID, "dropped", len(frames))
		return nil, errNoRealMessage
	}
	if req.head.Type == eaas.Encrypt {
		c.obs.Fakes(s.ID, "dropped", len(frames)-1)
	}
	if err := c.seqs.use(requesterKey(s.ID, ref.requester), req.head.Seq); err != nil {
		return nil, refuse(KindStale, ReasonStale, "sequence number %d: %v", req.head.Seq, err)
	}
	return req, nil
}

// checkShape wants 2^t frames for an encryption, one for a decryption, and a
// pair that is another member of the subscriber.
func (c *Coordinator) checkShape(req *request, n int) error {
	want := 1
	if req.head.Type == eaas.Encrypt {
		want = req.sub.Messages()
	}
	if n != want {
		return refuse(KindBadRequest, ReasonMalformed, "%d frames: this subscriber's requests carry %d", n, want)
	}
	if _, ok := req.sub.Member(req.head.Pair); !ok || req.head.Pair == req.caller {
		return refuse(KindForbidden, ReasonWrongPair, "pair %d is not another member of subscriber %d", req.head.Pair, req.sub.ID)
	}
	return nil
}

// envelopeOverhead bounds what an envelope adds to its plaintext (header,
// key id, nonce, tag, padding and MAC of the legacy ciphers).
const envelopeOverhead = 256

// data decodes the real frame in full: a plaintext of at most the
// subscriber's bound, or an envelope of such a plaintext.
func (c *Coordinator) data(req *request) ([]byte, error) {
	m, err := eaas.Decode(req.sub.Widths, false, req.real.Bits, req.real.NBits)
	if err != nil {
		return nil, refuse(KindBadRequest, ReasonMalformed, "real frame: %v", err)
	}
	if m.DataBits%8 != 0 {
		return nil, refuse(KindBadRequest, ReasonMalformed, "data of %d bits: whole bytes only", m.DataBits)
	}
	limit := c.maxBody(req.sub)
	if req.head.Type == eaas.Decrypt {
		limit += envelopeOverhead
	}
	if len(m.Data) > limit {
		return nil, refuse(KindTooLarge, ReasonTooLarge, "%d bytes of data: at most %d", len(m.Data), limit)
	}
	return m.Data, nil
}

func cipherOf(s *subscriber.Subscriber) keymanager.Cipher { return keymanager.Cipher(s.Cipher) }

// key fetches the pair's key from a key manager replica; only an existing
// one unless create.
func (c *Coordinator) key(ctx context.Context, s *subscriber.Subscriber, a, b uint32, create bool) (keymanager.Key, error) {
	start := time.Now()
	var key keymanager.Key
	err := c.cfg.Keys.Do(ctx, func(ctx context.Context, k Keys) error {
		var err error
		if create {
			key, err = k.Key(ctx, keymanager.NewPairID(s.ID, a, b), cipherOf(s))
		} else {
			key, err = k.Lookup(ctx, keymanager.NewPairID(s.ID, a, b), cipherOf(s))
		}
		return err
	})
	c.obs.Stage("keymanager", time.Since(start))
	return key, err
}

// crypt runs one operation on a cryptor replica.
func (c *Coordinator) crypt(ctx context.Context, op func(context.Context, Crypto) ([]byte, error)) ([]byte, error) {
	start := time.Now()
	var out []byte
	err := c.cfg.Cryptors.Do(ctx, func(ctx context.Context, cr Crypto) error {
		var err error
		out, err = op(ctx, cr)
		return err
	})
	c.obs.Stage("cryptor", time.Since(start))
	return out, err
}

// unavailable turns a replica failure into the subscriber's choice: refuse
// (meshward's default) or forward the raw data (the seed's behaviour).
func (c *Coordinator) unavailable(s *subscriber.Subscriber, typ string, err error) (Answer, error) {
	if s.OnUnavailable == subscriber.ForwardPlain {
		c.obs.Plaintext(s.ID, typ)
		return Answer{ForwardPlaintext: true}, nil
	}
	return Answer{}, refuse(KindUnavailable, ReasonUnavailable, "%s: %v", typ, err)
}

func (c *Coordinator) encrypt(ctx context.Context, req *request) (Answer, error) {
	s := req.sub
	data, err := c.data(req)
	if err != nil {
		return Answer{}, err
	}
	env := eaas.Envelope{Subscriber: s.ID, Src: req.caller, Dst: req.head.Pair, Seq: req.head.Seq, Token: s.Token,
		Cipher: s.CipherID()}
	key, err := c.key(ctx, s, req.caller, req.head.Pair, true)
	if err != nil {
		return c.failed(s, "encrypt", err)
	}
	ad := env.Header()
	env.Ciphertext, err = c.crypt(ctx, func(ctx context.Context, cr Crypto) ([]byte, error) {
		return cr.Seal(ctx, key, ad, data)
	})
	if err != nil {
		return c.failed(s, "encrypt", err)
	}
	c.seqs.sealed(requesterKey(s.ID, req.caller), req.head.Seq)
	out := req.head
	out.Data = env.Marshal()
	out.DataBits = 8 * len(out.Data)
	f, err := encodeFrame(s, out, true)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Frames: []eaas.Frame{f}}, nil
}

// failed separates a replica outage (the subscriber's choice applies) from
// the cryptography's own refusal.
func (c *Coordinator) failed(s *subscriber.Subscriber, typ string, err error) (Answer, error) {
	if errors.Is(err, ErrNoReplica) {
		return c.unavailable(s, typ, err)
	}
	return Answer{}, refuse(KindFailed, ReasonDecryptFailed, "%s: %v", typ, err)
}

func encodeFrame(s *subscriber.Subscriber, m eaas.Message, answer bool) (eaas.Frame, error) {
	bits, n, err := eaas.Encode(s.Widths, m, answer)
	if err != nil {
		return eaas.Frame{}, refuse(KindBadRequest, ReasonMalformed, "encoding the answer: %v", err)
	}
	return eaas.Frame{Bits: bits, NBits: n}, nil
}

func (c *Coordinator) decrypt(ctx context.Context, req *request) (Answer, error) {
	s := req.sub
	data, err := c.data(req)
	if err != nil {
		return Answer{}, err
	}
	env, err := eaas.ParseEnvelope(data)
	if err != nil {
		return Answer{}, refuse(KindBadRequest, ReasonMalformed, "envelope: %v", err)
	}
	if env.Subscriber != s.ID || env.Dst != req.caller || env.Src != req.head.Pair ||
		env.Cipher != s.CipherID() || env.Token != s.Token {
		return Answer{}, refuse(KindForbidden, ReasonWrongPair,
			"envelope from %d to %d (subscriber %d): the caller is %d asking about %d", env.Src, env.Dst, env.Subscriber, req.caller, req.head.Pair)
	}
	release, err := c.seqs.open(requesterKey(s.ID, env.Src), env.Seq)
	if err != nil {
		return Answer{}, refuse(KindForbidden, ReasonReplay, "envelope %d/%d: not sealed here or already opened", env.Src, env.Seq)
	}
	plain, err := c.openEnvelope(ctx, s, env)
	if err != nil {
		release()
		return c.failed(s, "decrypt", err)
	}
	return c.hide(s, req.head, plain)
}

func (c *Coordinator) openEnvelope(ctx context.Context, s *subscriber.Subscriber, env eaas.Envelope) ([]byte, error) {
	key, err := c.key(ctx, s, env.Src, env.Dst, false)
	if err != nil {
		return nil, err
	}
	ad := env.Header()
	return c.crypt(ctx, func(ctx context.Context, cr Crypto) ([]byte, error) {
		return cr.Open(ctx, key, ad, env.Ciphertext)
	})
}

// hide answers a decryption with 2^t frames in random order: the real one
// carries the subscriber's token, each fake another token and random bytes
// of the same length.
func (c *Coordinator) hide(s *subscriber.Subscriber, head eaas.Message, plain []byte) (Answer, error) {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return Answer{}, err
	}
	// ChaCha8 keyed from crypto/rand: a cryptographic generator for the
	// fakes' bytes and their order, without a system call per fake.
	gen := mrand.NewChaCha8(seed)
	n := s.Messages()
	frames := make([]eaas.Frame, n)
	fill := func(b []byte) error {
		_, _ = gen.Read(b) // never fails
		return nil
	}
	for tok := range n {
		m := head
		m.Token = uint8(tok)
		m.Data, m.DataBits = plain, 8*len(plain)
		var err error
		f := &frames[tok]
		if uint8(tok) == s.Token {
			f.Bits, f.NBits, err = eaas.Encode(s.Widths, m, true)
		} else {
			f.Bits, f.NBits, err = eaas.EncodeRandom(s.Widths, m, true, len(plain), fill)
		}
		if err != nil {
			return Answer{}, refuse(KindBadRequest, ReasonMalformed, "encoding the answer: %v", err)
		}
	}
	shuffle(frames, gen)
	c.obs.Fakes(s.ID, "sent", n-1)
	return Answer{Frames: frames}, nil
}

// shuffle permutes frames uniformly: where the real frame sits must tell
// an eavesdropper nothing.
func shuffle(frames []eaas.Frame, gen *mrand.ChaCha8) {
	r := mrand.New(gen)
	r.Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })
}
