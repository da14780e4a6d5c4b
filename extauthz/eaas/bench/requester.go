package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/meshward/meshward/extauthz/eaas/requester"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
)

// member is one filter VM of a workload: its own enrolment (its own lease
// of sequence numbers), as each VM of a sidecar has.
type member struct {
	id     string // SPIFFE ID
	client rpc.RequesterClient

	mu   sync.Mutex
	sess *requester.Session
}

func newMember(m *Mesh, id, url string) (*member, error) {
	c, err := m.Client(id)
	if err != nil {
		return nil, err
	}
	return &member{id: id, client: rpc.RequesterClient{HTTP: c, Base: url}}, nil
}

// session returns the current enrolment, enrolling first if there is none
// or if renew (the lease was used up).
func (w *member) session(ctx context.Context, renew *requester.Session) (*requester.Session, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sess != nil && w.sess != renew {
		return w.sess, nil
	}
	e, err := w.client.Enrol(ctx)
	if err != nil {
		return nil, fmt.Errorf("enrolling %s: %w", w.id, err)
	}
	w.sess = requester.New(e)
	return w.sess, nil
}

// batch builds a batch with the current session, enrolling again once
// when its lease is used up.
func (w *member) batch(ctx context.Context, build func(*requester.Session) ([]byte, error)) (*requester.Session, []byte, error) {
	s, err := w.session(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	b, err := build(s)
	if errors.Is(err, requester.ErrLeaseUsed) {
		if s, err = w.session(ctx, s); err != nil {
			return nil, nil, err
		}
		b, err = build(s)
	}
	return s, b, err
}

func (w *member) encrypt(ctx context.Context, pair uint32, data []byte) ([]byte, error) {
	s, batch, err := w.batch(ctx, func(s *requester.Session) ([]byte, error) { return s.EncryptBatch(pair, data) })
	if err != nil {
		return nil, err
	}
	ans, err := w.client.Send(ctx, batch)
	if err != nil {
		return nil, err
	}
	return s.Envelope(ans)
}

// decrypt is the destination filter's whole work on an envelope from
// src: the cheap check, then the coordinator.
func (w *member) decrypt(ctx context.Context, src *member, env []byte) ([]byte, error) {
	s, err := w.session(ctx, nil)
	if err != nil {
		return nil, err
	}
	peer, err := s.Admit(env, principal(src.id))
	if err != nil {
		return nil, fmt.Errorf("destination dropped a real envelope: %w", err)
	}
	s, batch, err := w.batch(ctx, func(s *requester.Session) ([]byte, error) { return s.DecryptBatch(peer.Requester, env) })
	if err != nil {
		return nil, err
	}
	ans, err := w.client.Send(ctx, batch)
	if err != nil {
		return nil, err
	}
	return s.Plaintext(ans)
}

// requesterID is the member's requester id (enrolling if needed).
func (w *member) requesterID(ctx context.Context) (uint32, error) {
	s, err := w.session(ctx, nil)
	if err != nil {
		return 0, err
	}
	return s.E.Requester, nil
}

// Pair is a source and a destination of one subscriber: one round trip is
// an encryption at the source and a decryption at the destination.
type Pair struct {
	src, dst *member
	dstID    uint32
}

// NewPair enrols a VM of each of t's two members.
func NewPair(ctx context.Context, m *Mesh, t Target) (*Pair, error) {
	a, err := newMember(m, t.A, t.URL)
	if err != nil {
		return nil, err
	}
	b, err := newMember(m, t.B, t.URL)
	if err != nil {
		return nil, err
	}
	if _, err := a.requesterID(ctx); err != nil {
		return nil, err
	}
	id, err := b.requesterID(ctx)
	if err != nil {
		return nil, err
	}
	return &Pair{src: a, dst: b, dstID: id}, nil
}

// RoundTrip sends data from the source to the destination through EaaS
// and checks that the destination reads data.
func (p *Pair) RoundTrip(ctx context.Context, data []byte) error {
	env, err := p.src.encrypt(ctx, p.dstID, data)
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	got, err := p.dst.decrypt(ctx, p.src, env)
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	if !bytes.Equal(got, data) {
		return errors.New("the destination read other data than was sent")
	}
	return nil
}
