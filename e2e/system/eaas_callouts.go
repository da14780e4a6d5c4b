package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/requester"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
)

// calloutPeer is a Go requester with a sidecar's identity: what that
// sidecar's filter asks of the coordinator, without wasm or proxying.
type calloutPeer struct {
	c rpc.RequesterClient
	s *requester.Session
}

func (m *EaaSMesh) calloutPeer(ctx context.Context, id string) (*calloutPeer, error) {
	cert, err := m.CA.CA.Issue(id)
	if err != nil {
		return nil, err
	}
	c := rpc.RequesterClient{Base: "https://" + m.Authz.HTTPAddr.String(),
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: m.CA.CA.ClientTLS(cert)}}}
	e, err := c.Enrol(ctx)
	if err != nil {
		return nil, fmt.Errorf("enrolling %s: %w", id, err)
	}
	return &calloutPeer{c: c, s: requester.New(e)}, nil
}

// Callouts makes, one after another, the four coordinator calls one
// protected exchange costs the two filters (the frontend seals the request,
// orders opens it, orders seals the answer, the frontend opens it), from Go
// requesters holding the sidecars' identities: the floor under what EaaS
// adds to a hop, whatever the filter does around its callouts.
func (m *EaaSMesh) Callouts(ctx context.Context, body []byte) error {
	m.calloutMu.Lock()
	defer m.calloutMu.Unlock()
	if m.callouts == nil {
		var err error
		m.callouts = map[string]*calloutPeer{}
		for _, id := range []string{Frontend, Orders} {
			if m.callouts[id], err = m.calloutPeer(ctx, id); err != nil {
				m.callouts = nil
				return err
			}
		}
	}
	f, o := m.callouts[Frontend], m.callouts[Orders]
	got, err := pass(ctx, f, o, body)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if got, err = pass(ctx, o, f, got); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if !bytes.Equal(got, body) {
		return fmt.Errorf("the exchange changed the body")
	}
	return nil
}

// renew enrols again once the session's sequence numbers are spent, as
// the filter does.
func (p *calloutPeer) renew(ctx context.Context, build func(*requester.Session) ([]byte, error)) ([]byte, error) {
	b, err := build(p.s)
	if !errors.Is(err, requester.ErrLeaseUsed) {
		return b, err
	}
	e, err := p.c.Enrol(ctx)
	if err != nil {
		return nil, err
	}
	p.s = requester.New(e)
	return build(p.s)
}

// pass has src seal data for dst and dst open it.
func pass(ctx context.Context, src, dst *calloutPeer, data []byte) ([]byte, error) {
	batch, err := src.renew(ctx, func(s *requester.Session) ([]byte, error) {
		return s.EncryptBatch(dst.s.E.Requester, data)
	})
	if err != nil {
		return nil, err
	}
	ans, err := src.c.Send(ctx, batch)
	if err != nil {
		return nil, err
	}
	env, err := src.s.Envelope(ans)
	if err != nil {
		return nil, err
	}
	batch, err = dst.renew(ctx, func(s *requester.Session) ([]byte, error) {
		return s.DecryptBatch(src.s.E.Requester, env)
	})
	if err != nil {
		return nil, err
	}
	if ans, err = dst.c.Send(ctx, batch); err != nil {
		return nil, err
	}
	return dst.s.Plaintext(ans)
}

// FilterCallouts is what both sidecars' filters called so far, by path.
func (m *EaaSMesh) FilterCallouts() map[string]int {
	out := m.outHost.Callouts()
	for k, v := range m.inHost.Callouts() {
		out[k] += v
	}
	return out
}

// FilterUsage is the time both sidecars' VMs spent in the guest so far.
func (m *EaaSMesh) FilterUsage() time.Duration {
	return m.outHost.Usage().GuestTime() + m.inHost.Usage().GuestTime()
}
