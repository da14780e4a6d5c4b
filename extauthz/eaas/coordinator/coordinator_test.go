package coordinator

import (
	"bytes"
	"context"
	"testing"

	"github.com/meshward/meshward/api/eaas"
)

func TestEncryptThenDecrypt(t *testing.T) {
	r := newRig(t, fig3())
	a, b := r.enrol(t, idA), r.enrol(t, idB)
	plain := []byte("the database password is hunter2")
	env, err := a.encrypt(2, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, plain) {
		t.Fatal("the envelope holds the plaintext")
	}
	e, err := eaas.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if e.Subscriber != 54 || e.Src != 1 || e.Dst != 2 || e.Cipher != eaas.AES256GCM {
		t.Fatalf("envelope %+v", e)
	}
	got, err := b.decrypt(1, env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("decrypted %q", got)
	}
}

// Each attack is refused with its reason, before or by the cryptography.
func TestAttacksAreRefused(t *testing.T) {
	r := newRig(t, fig3())
	a, b, c := r.enrol(t, idA), r.enrol(t, idB), r.enrol(t, idC)
	env, err := a.encrypt(2, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(env)
	tampered[len(tampered)-1] ^= 1
	moved, _ := eaas.ParseEnvelope(env)
	moved.Dst = 3 // a ciphertext for B re-addressed to C
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"not a member", func() error {
			_, err := r.c.Process(context.Background(), "spiffe://cluster.local/ns/evil/sa/x", a.encBatch(2, a.next(), []byte("x")))
			return err
		}, ReasonNotMember},
		{"only fakes (wrong token)", func() error {
			fr := a.encBatch(2, a.next(), []byte("x"))
			real := int(a.e.Token)
			fr = append(fr[:real], fr[real+1:]...)
			fr = append(fr, fr[0])
			_, err := r.c.Process(context.Background(), idA, fr)
			return err
		}, ReasonNoRealMessage},
		{"C claims to be A", func() error {
			_, err := r.c.Process(context.Background(), idC, a.encBatch(2, a.next(), []byte("x")))
			return err
		}, ReasonIdentityMismatch},
		{"replayed sequence", func() error {
			seq := a.next()
			if _, err := r.c.Process(context.Background(), idA, a.encBatch(2, seq, []byte("x"))); err != nil {
				return err
			}
			_, err := r.c.Process(context.Background(), idA, a.encBatch(2, seq, []byte("x")))
			return err
		}, ReasonStale},
		{"sequence outside the lease", func() error {
			_, err := r.c.Process(context.Background(), idA, a.encBatch(2, a.e.Seq.Start+a.e.Seq.Count+5, []byte("x")))
			return err
		}, ReasonStale},
		{"too few frames", func() error {
			_, err := r.c.Process(context.Background(), idA, a.encBatch(2, a.next(), []byte("x"))[:1])
			return err
		}, ReasonMalformed},
		{"pair is not a member", func() error {
			_, err := a.encrypt(9, []byte("x"))
			return err
		}, ReasonWrongPair},
		{"pair is the requester itself", func() error {
			_, err := a.encrypt(1, []byte("x"))
			return err
		}, ReasonWrongPair},
		{"C decrypts what A sent B", func() error {
			_, err := c.decrypt(1, env)
			return err
		}, ReasonWrongPair},
		{"ciphertext re-addressed to C", func() error {
			_, err := c.decrypt(1, moved.Marshal())
			return err
		}, ReasonDecryptFailed},
		{"tampered ciphertext", func() error {
			_, err := b.decrypt(1, tampered)
			return err
		}, ReasonDecryptFailed},
		{"truncated envelope", func() error {
			_, err := b.decrypt(1, env[:7])
			return err
		}, ReasonMalformed},
		{"the real one still opens, once", func() error {
			if _, err := b.decrypt(1, env); err != nil {
				return err
			}
			_, err := b.decrypt(1, env)
			return err
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

// A coordinator restarted on the same store never leases a sequence number
// twice, and still serves its subscribers.
func TestRestartKeepsSubscribersAndSequences(t *testing.T) {
	r := newRig(t, fig3())
	first := r.enrol(t, idA).e.Seq
	c2, err := New(Config{ID: "coordinator-0", State: StoreState{S: r.store}, Keys: r.c.cfg.Keys, Cryptors: r.c.cfg.Cryptors})
	if err != nil {
		t.Fatal(err)
	}
	e, err := c2.Enrol(idA)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq.Start < first.Start+first.Count {
		t.Fatalf("lease %+v after a restart overlaps %+v", e.Seq, first)
	}
}

// Coordinators sharing a store (etcd) serve only their own subscribers: a
// requester's sequence books must live in one place.
func TestACoordinatorServesOnlyItsOwnSubscribers(t *testing.T) {
	r := newRig(t, fig3())
	other, err := New(Config{ID: "coordinator-1", State: StoreState{S: r.store}, Keys: r.c.cfg.Keys, Cryptors: r.c.cfg.Cryptors})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Enrol(idA); reason(err) != ReasonNotMember {
		t.Fatalf("coordinator-1 enrolled a requester of coordinator-0's subscriber: %v", err)
	}
	same, err := New(Config{ID: "coordinator-0", State: StoreState{S: r.store}, Keys: r.c.cfg.Keys, Cryptors: r.c.cfg.Cryptors})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := same.Enrol(idA); err != nil {
		t.Fatalf("coordinator-0 restarted does not serve its subscriber: %v", err)
	}
}

// Only an encryption makes a pair's key: a rewrap (or decryption) of an
// envelope for a pair that never encrypted is refused and makes none.
func TestOnlyEncryptionMakesKeys(t *testing.T) {
	r := newRig(t, fig3())
	forged := eaas.Envelope{Subscriber: 54, Src: 2, Dst: 3, Seq: 1, Token: 1, Cipher: eaas.AES256GCM, Ciphertext: []byte("not sealed")}
	if _, err := r.c.Rewrap(context.Background(), forged.Marshal()); reason(err) != ReasonDecryptFailed {
		t.Fatalf("a forged envelope: %v, want %s", err, ReasonDecryptFailed)
	}
	infos, err := r.keys.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Fatalf("a refused rewrap made keys: %+v", infos)
	}
}
