package coordinator

import (
	"bytes"
	"context"
	"testing"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

const idD = "spiffe://cluster.local/ns/other/sa/d"

// sub55 is a second subscriber with the same widths, member d.
func sub55() subscriber.Subscriber {
	s := fig3()
	s.ID, s.Token = 55, 2
	s.Members = []subscriber.Member{{Requester: 1, Principal: "cluster.local/ns/other/sa/d"},
		{Requester: 2, Principal: "cluster.local/ns/other/sa/e"}}
	return s
}

// Insiders with valid mesh identities: members of the subscriber, of
// another subscriber, or of none. Each attack is refused with its reason.
func TestInsiderAttacksAreRefused(t *testing.T) {
	r := newRig(t, fig3())
	if _, err := r.c.Assign(context.Background(), sub55()); err != nil {
		t.Fatal(err)
	}
	a, b, d := r.enrol(t, idA), r.enrol(t, idB), r.enrol(t, idD)
	env1, err := a.encrypt(2, []byte("first secret"))
	if err != nil {
		t.Fatal(err)
	}
	env2, err := a.encrypt(2, []byte("second secret"))
	if err != nil {
		t.Fatal(err)
	}
	forge := func(env []byte, edit func(*eaas.Envelope)) []byte {
		e, err := eaas.ParseEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		e.Ciphertext = bytes.Clone(e.Ciphertext)
		edit(&e)
		return e.Marshal()
	}
	e2, _ := eaas.ParseEnvelope(env2)
	process := func(id string, frames []eaas.Frame) error {
		_, err := r.c.Process(context.Background(), id, frames)
		return err
	}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"a member of another subscriber names this one", func() error {
			fr := a.encBatch(2, a.next(), []byte("x"))
			return process(idD, fr)
		}, ReasonIdentityMismatch},
		{"a member names another subscriber (same requester id)", func() error {
			fr := d.encBatch(2, d.next(), []byte("x"))
			return process(idA, fr)
		}, ReasonIdentityMismatch},
		{"a member names another member's requester id", func() error {
			return process(idB, a.encBatch(2, a.next(), []byte("x")))
		}, ReasonIdentityMismatch},
		{"a workload of no subscriber", func() error {
			return process("spiffe://cluster.local/ns/shop/sa/mallory", a.encBatch(2, a.next(), []byte("x")))
		}, ReasonNotMember},
		{"2^t frames, all with the token", func() error {
			fr := a.encBatch(2, a.next(), []byte("x"))
			for i := range fr {
				fr[i] = fr[a.e.Token]
			}
			return process(idA, fr)
		}, ReasonMalformed},
		{"2^t + 1 frames", func() error {
			fr := a.encBatch(2, a.next(), []byte("x"))
			tok := (a.e.Token + 1) % 4
			return process(idA, append(fr, fr[tok]))
		}, ReasonMalformed},
		{"frames of two sequence numbers", func() error {
			fr := a.encBatch(2, a.next(), []byte("x"))
			other := a.encBatch(2, a.next(), []byte("x"))
			fr[(a.e.Token+1)%4] = other[(a.e.Token+1)%4]
			return process(idA, fr)
		}, ReasonMalformed},
		{"a decryption of two frames", func() error {
			fr := b.decBatch(1, b.next(), env1)
			return process(idB, append(fr, fr[0]))
		}, ReasonMalformed},
		{"a decryption on a used sequence number", func() error {
			seq := b.next()
			_ = process(idB, b.decBatch(3, seq, env1)) // refused, but the number is used
			return process(idB, b.decBatch(1, seq, env1))
		}, ReasonStale},
		{"a decryption naming the wrong source", func() error { return process(idB, b.decBatch(3, b.next(), env1)) }, ReasonWrongPair},
		{"the sender decrypts its own envelope", func() error { return process(idA, a.decBatch(2, a.next(), env1)) }, ReasonWrongPair},
		{"an envelope moved to another subscriber", func() error {
			return process(idB, b.decBatch(1, b.next(), forge(env1, func(e *eaas.Envelope) { e.Subscriber = 55 })))
		}, ReasonWrongPair},
		{"an envelope with another token", func() error {
			return process(idB, b.decBatch(1, b.next(), forge(env1, func(e *eaas.Envelope) { e.Token ^= 1 })))
		}, ReasonWrongPair},
		{"an envelope with another cipher", func() error {
			return process(idB, b.decBatch(1, b.next(), forge(env1, func(e *eaas.Envelope) { e.Cipher = eaas.ChaCha20Poly1305 })))
		}, ReasonWrongPair},
		{"an envelope moved to another position (a sealed, unopened one)", func() error {
			return process(idB, b.decBatch(1, b.next(), forge(env1, func(e *eaas.Envelope) { e.Seq = e2.Seq })))
		}, ReasonDecryptFailed},
		{"an envelope moved to a position never sealed", func() error {
			return process(idB, b.decBatch(1, b.next(), forge(env1, func(e *eaas.Envelope) { e.Seq += 1000 })))
		}, ReasonReplay},
		{"a ciphertext spliced from another envelope", func() error {
			e1, _ := eaas.ParseEnvelope(env1)
			return process(idB, b.decBatch(1, b.next(), forge(env2, func(e *eaas.Envelope) { e.Ciphertext = e1.Ciphertext })))
		}, ReasonDecryptFailed},
		{"the forgeries burnt nothing: both envelopes open once", func() error {
			for _, env := range [][]byte{env1, env2} {
				if _, err := b.decrypt(1, env); err != nil {
					return err
				}
			}
			return process(idB, b.decBatch(1, b.next(), env2))
		}, ReasonReplay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reason(tc.run()); got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

// The plaintext bound is exact, and the enrolment says what it is.
func TestBodyBound(t *testing.T) {
	r := newRig(t, fig3())
	r.c.cfg.MaxBodyBytes = 4096
	a, b := r.enrol(t, idA), r.enrol(t, idB)
	if a.e.MaxBodyBytes != 4096 {
		t.Fatalf("enrolment bound %d", a.e.MaxBodyBytes)
	}
	env, err := a.encrypt(2, make([]byte, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.encrypt(2, make([]byte, 4097)); reason(err) != ReasonTooLarge {
		t.Fatalf("4097 bytes: %v", err)
	}
	if _, err := b.decrypt(1, env); err != nil {
		t.Fatalf("the envelope of the largest body: %v", err)
	}
}

// What a request makes the coordinator hold stays within MaxBatchBytes for
// every deception factor: the largest decryption request and its 2^t frames
// of answer together, and the largest encryption batch.
func TestBoundsHoldForEveryDeceptionFactor(t *testing.T) {
	for tt := uint8(0); tt <= subscriber.MaxDeception; tt++ {
		s := fig3()
		s.Widths = eaas.Widths{S: 32, R: 32, N: 64, T: tt}
		s.Token = 0
		c, err := New(Config{ID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Assign(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		bd, ok := c.Bounds(idA)
		if !ok || bd.Messages != 1<<tt {
			t.Fatalf("t=%d: bounds %+v %v", tt, bd, ok)
		}
		body := int64(c.maxBody(&s))
		decReq := body + envelopeOverhead + frameOverhead
		held := decReq + bd.AnswerBytes(decReq, 1)
		if decReq > bd.MaxRequestBytes || held > MaxBatchBytes {
			t.Fatalf("t=%d: a decryption request of %d bytes holds %d, bound %d", tt, decReq, held, MaxBatchBytes)
		}
		encReq := int64(bd.Messages) * (body + frameOverhead)
		if encReq > bd.MaxRequestBytes || encReq+bd.AnswerBytes(encReq, bd.Messages) > MaxBatchBytes+envelopeOverhead+frameOverhead {
			t.Fatalf("t=%d: an encryption batch of %d bytes, bound %d", tt, encReq, bd.MaxRequestBytes)
		}
	}
	c, _ := New(Config{ID: "c"})
	if _, ok := c.Bounds("spiffe://cluster.local/ns/x/sa/y"); ok {
		t.Fatal("a non-member has bounds")
	}
}

// A requester that enrols in a loop holds at most MaxLeases blocks, one
// book, and nothing for a non-member.
func TestEnrolmentLoopStaysBounded(t *testing.T) {
	r := newRig(t, sub64())
	for range 10 * DefaultMaxLeases {
		if _, err := r.c.Enrol(idA); err != nil {
			t.Fatal(err)
		}
		if _, err := r.c.Enrol("spiffe://cluster.local/ns/x/sa/nobody"); reason(err) != ReasonNotMember {
			t.Fatalf("non-member: %v", err)
		}
	}
	r.c.seqs.mu.Lock()
	defer r.c.seqs.mu.Unlock()
	if len(r.c.seqs.books) != 1 {
		t.Fatalf("%d books, want 1", len(r.c.seqs.books))
	}
	for k, b := range r.c.seqs.books {
		if len(b.blocks) != DefaultMaxLeases {
			t.Fatalf("book %s holds %d blocks, want %d", k, len(b.blocks), DefaultMaxLeases)
		}
	}
}

// sub64 has meshward's default widths (n=32, so leases of 1024) and t=3.
func sub64() subscriber.Subscriber {
	s := fig3()
	s.Widths = eaas.Widths{S: 16, R: 16, N: 32, T: 3}
	s.Token = 5
	return s
}

// A requester whose n-bit space is used up is refused cleanly, with the
// stale reason (the filter enrols again and fails closed).
func TestTinySequenceSpace(t *testing.T) {
	s := fig3()
	s.Widths.N = 4
	r := newRig(t, s)
	n := 0
	for ; ; n++ {
		_, err := r.c.Enrol(idA)
		if err != nil {
			if reason(err) != ReasonStale {
				t.Fatalf("exhausted: %v", err)
			}
			break
		}
	}
	if n != 15 {
		t.Fatalf("%d leases of one number in a 4-bit space, want 15", n)
	}
}

// The widths at their limits work end to end; beyond them a subscriber is
// refused.
func TestWidthsAtTheirLimits(t *testing.T) {
	const top = 1<<32 - 1
	cases := []struct {
		name string
		w    eaas.Widths
		id   uint32
		reqs [2]uint32
		tok  uint8
	}{
		{"s=32 r=32 n=64 t=0", eaas.Widths{S: 32, R: 32, N: 64, T: 0}, top, [2]uint32{top, top - 1}, 0},
		{"t=6", eaas.Widths{S: 8, R: 5, N: 12, T: 6}, 54, [2]uint32{1, 31}, 63},
		{"s=1 r=2 n=1 t=1", eaas.Widths{S: 1, R: 2, N: 1, T: 1}, 1, [2]uint32{1, 3}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fig3()
			s.ID, s.Widths, s.Token = tc.id, tc.w, tc.tok
			s.Members = []subscriber.Member{{Requester: tc.reqs[0], Principal: "cluster.local/ns/shop/sa/a"},
				{Requester: tc.reqs[1], Principal: "cluster.local/ns/shop/sa/b"}}
			r := newRig(t, s)
			a, b := r.enrol(t, idA), r.enrol(t, idB)
			env, err := a.encrypt(tc.reqs[1], []byte("at the edge"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.decrypt(tc.reqs[0], env)
			if err != nil || string(got) != "at the edge" {
				t.Fatalf("decrypted %q, %v", got, err)
			}
		})
	}
	for _, w := range []eaas.Widths{{S: 33, R: 5, N: 12, T: 2}, {S: 8, R: 5, N: 65, T: 2}, {S: 8, R: 5, N: 12, T: 7}} {
		s := fig3()
		s.Widths = w
		c, _ := New(Config{ID: "c"})
		if _, err := c.Assign(context.Background(), s); err == nil {
			t.Fatalf("widths %+v accepted", w)
		}
	}
}
