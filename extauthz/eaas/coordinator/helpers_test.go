package coordinator

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/cryptor"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

const (
	idA = "spiffe://cluster.local/ns/shop/sa/a"
	idB = "spiffe://cluster.local/ns/shop/sa/b"
	idC = "spiffe://cluster.local/ns/shop/sa/c"
)

// fig3 is the seed's Fig. 3 subscriber: id 54, s=8, r=5, n=12, t=2, token 01.
func fig3() subscriber.Subscriber {
	return subscriber.Subscriber{ID: 54, Widths: eaas.Widths{S: 8, R: 5, N: 12, T: 2}, Token: 1,
		Cipher: "aes256-gcm", OnUnavailable: subscriber.FailClosed, Members: []subscriber.Member{
			{Requester: 1, Principal: "cluster.local/ns/shop/sa/a", Hosts: []string{"a"}},
			{Requester: 2, Principal: "cluster.local/ns/shop/sa/b", Hosts: []string{"b"}},
			{Requester: 3, Principal: "cluster.local/ns/shop/sa/c", Hosts: []string{"c"}},
		}}
}

type rig struct {
	c     *Coordinator
	sub   subscriber.Subscriber
	keys  *keymanager.Manager
	store keystore.Store
}

func newManager(t testing.TB, store keystore.Store) *keymanager.Manager {
	t.Helper()
	kek := filepath.Join(t.TempDir(), "kek.json")
	if err := keymanager.GenerateKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	aead, err := keymanager.LoadKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	return keymanager.New(store, aead)
}

func newRig(t testing.TB, sub subscriber.Subscriber) *rig {
	t.Helper()
	store := keystore.NewMemory()
	m := newManager(t, store)
	c, err := New(Config{ID: "coordinator-0", State: StoreState{S: store},
		Keys:     NewPool[Keys]("keymanager", &Replica[Keys]{Name: "km-0", Client: m}),
		Cryptors: NewPool[Crypto]("cryptor", &Replica[Crypto]{Name: "cr-0", Client: LocalCrypto{C: cryptor.New(64)}})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Assign(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	return &rig{c: c, sub: sub, keys: m, store: store}
}

// requester is what a sidecar filter does, in Go.
type requester struct {
	t   testing.TB
	r   *rig
	id  string
	e   eaas.Enrolment
	seq uint64
}

func (r *rig) enrol(t testing.TB, id string) *requester {
	t.Helper()
	e, err := r.c.Enrol(id)
	if err != nil {
		t.Fatal(err)
	}
	return &requester{t: t, r: r, id: id, e: e, seq: e.Seq.Start}
}

// next is the next sequence number of the requester's lease; it enrols
// again when the lease is used up, as the filter does.
func (q *requester) next() uint64 {
	if q.seq >= q.e.Seq.Start+q.e.Seq.Count {
		e, err := q.r.c.Enrol(q.id)
		if err != nil {
			q.t.Fatal(err)
		}
		q.e, q.seq = e, e.Seq.Start
	}
	s := q.seq
	q.seq++
	return s
}

func frame(t testing.TB, w eaas.Widths, m eaas.Message, answer bool) eaas.Frame {
	t.Helper()
	b, n, err := eaas.Encode(w, m, answer)
	if err != nil {
		t.Fatal(err)
	}
	return eaas.Frame{Bits: b, NBits: n}
}

// encBatch is 2^t frames: the real one with token, fakes with the others.
func (q *requester) encBatch(pair uint32, seq uint64, data []byte) []eaas.Frame {
	w := q.e.Widths
	var out []eaas.Frame
	for tok := range 1 << w.T {
		d := data
		if uint8(tok) != q.e.Token {
			d = make([]byte, len(data))
			_, _ = rand.Read(d)
		}
		out = append(out, frame(q.t, w, eaas.Message{Subscriber: q.e.Subscriber, Requester: q.e.Requester, Seq: seq,
			Type: eaas.Encrypt, Pair: pair, Token: uint8(tok), Data: d, DataBits: 8 * len(d)}, false))
	}
	return out
}

func (q *requester) encrypt(pair uint32, data []byte) ([]byte, error) {
	ans, err := q.r.c.Process(context.Background(), q.id, q.encBatch(pair, q.next(), data))
	if err != nil {
		return nil, err
	}
	if len(ans.Frames) != 1 {
		q.t.Fatalf("encryption answered %d frames", len(ans.Frames))
	}
	m, err := eaas.Decode(q.e.Widths, true, ans.Frames[0].Bits, ans.Frames[0].NBits)
	if err != nil {
		q.t.Fatal(err)
	}
	return m.Data, nil
}

func (q *requester) decBatch(pair uint32, seq uint64, env []byte) []eaas.Frame {
	return []eaas.Frame{frame(q.t, q.e.Widths, eaas.Message{Subscriber: q.e.Subscriber, Requester: q.e.Requester,
		Seq: seq, Type: eaas.Decrypt, Pair: pair, Data: env, DataBits: 8 * len(env)}, false)}
}

func (q *requester) decrypt(pair uint32, env []byte) ([]byte, error) {
	ans, err := q.r.c.Process(context.Background(), q.id, q.decBatch(pair, q.next(), env))
	if err != nil {
		return nil, err
	}
	return q.pick(ans.Frames), nil
}

// pick keeps the frame with the subscriber's token.
func (q *requester) pick(frames []eaas.Frame) []byte {
	q.t.Helper()
	if len(frames) != 1<<q.e.Widths.T {
		q.t.Fatalf("decryption answered %d frames, want %d", len(frames), 1<<q.e.Widths.T)
	}
	var real []byte
	found := 0
	for _, f := range frames {
		m, err := eaas.Decode(q.e.Widths, true, f.Bits, f.NBits)
		if err != nil {
			q.t.Fatal(err)
		}
		if m.Token == q.e.Token {
			real, found = m.Data, found+1
		}
	}
	if found != 1 {
		q.t.Fatalf("%d frames carry the token", found)
	}
	return real
}

func reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}
