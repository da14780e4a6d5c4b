package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/requester"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
)

// DropReport is part 3: the mean cost of each operation, measured in
// interleaved blocks of Ops operations, Rounds times.
type DropReport struct {
	Ops, Rounds int
	// The coordinator's own work (no transport): a real decryption (key,
	// cryptor, 2^t answer frames) and a fake-only batch it drops after the
	// headers.
	RealDecrypt, FakeDrop time.Duration
	// The destination filter's drop of a flood envelope (Session.Admit).
	Admit time.Duration
	// Over HTTPS with mesh certificates: the destination filter's whole
	// real decryption (admit, call, pick the real frame) and a fake-only
	// batch answered 403.
	HTTPSRealDecrypt, HTTPSFakeDrop time.Duration
}

type dropSetup struct {
	a, b, mallory *local // a and b: the victim subscriber's; mallory: another subscriber's member
	malloryPair   uint32
	ha, hb        *member // a and b over HTTPS
	hm            rpc.RequesterClient
	fake, flood   []byte
	data          []byte
}

func newDropSetup(ctx context.Context, m *Mesh, sc *Scenario, cfg Config) (*dropSetup, error) {
	victim, err := sc.Register(ctx, 901, cfg.Deception, "aes256-gcm")
	if err != nil {
		return nil, err
	}
	other, err := sc.Register(ctx, 902, cfg.Deception, "aes256-gcm")
	if err != nil {
		return nil, err
	}
	d := &dropSetup{data: make([]byte, cfg.Size)}
	if _, err := rand.Read(d.data); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		p  **local
		c  *coordinator.Coordinator
		id string
	}{{&d.a, victim.C, victim.A}, {&d.b, victim.C, victim.B}, {&d.mallory, other.C, other.A}} {
		if *x.p, err = newLocal(x.c, x.id); err != nil {
			return nil, err
		}
	}
	mb, err := newLocal(other.C, other.B)
	if err != nil {
		return nil, err
	}
	d.malloryPair = mb.s.E.Requester
	if d.fake, err = FakeBatch(d.mallory.s.E, d.malloryPair, cfg.Size); err != nil {
		return nil, err
	}
	// As long as a real AES-GCM ciphertext: Tink's prefix, nonce and tag.
	if d.flood, err = FloodEnvelope(d.b.s.E, d.a.s.E.Requester, cfg.Size+5+12+16); err != nil {
		return nil, err
	}
	return d, d.https(m, victim, other)
}

func (d *dropSetup) https(m *Mesh, victim, other Target) error {
	var err error
	if d.ha, err = newMember(m, victim.A, victim.URL); err != nil {
		return err
	}
	if d.hb, err = newMember(m, victim.B, victim.URL); err != nil {
		return err
	}
	hm, err := m.Client(other.A)
	d.hm = rpc.RequesterClient{HTTP: hm, Base: other.URL}
	return err
}

// Drops runs part 3 on scenario sc (α: every role in one process).
func Drops(ctx context.Context, m *Mesh, sc *Scenario, cfg Config) (*DropReport, error) {
	d, err := newDropSetup(ctx, m, sc, cfg)
	if err != nil {
		return nil, err
	}
	rep := &DropReport{Ops: cfg.DropOps, Rounds: cfg.DropRounds}
	steps := []struct {
		sum *time.Duration
		run func(context.Context, int) (time.Duration, error)
	}{{&rep.RealDecrypt, d.realDecrypts}, {&rep.FakeDrop, d.fakeDrops}, {&rep.Admit, d.admits},
		{&rep.HTTPSRealDecrypt, d.httpsDecrypts}, {&rep.HTTPSFakeDrop, d.httpsFakes}}
	if err := d.warm(ctx); err != nil {
		return nil, err
	}
	for r := range cfg.DropRounds {
		for k := range steps {
			s := steps[(k+r)%len(steps)]
			t, err := s.run(ctx, cfg.DropOps)
			if err != nil {
				return nil, err
			}
			*s.sum += t
		}
	}
	n := time.Duration(max(cfg.DropOps*cfg.DropRounds, 1))
	for _, s := range steps {
		*s.sum /= n
	}
	return rep, nil
}

func (d *dropSetup) warm(ctx context.Context) error {
	for _, f := range []func(context.Context, int) (time.Duration, error){d.realDecrypts, d.fakeDrops, d.httpsDecrypts, d.httpsFakes} {
		if _, err := f(ctx, 2); err != nil {
			return err
		}
	}
	return nil
}

// realDecrypts times n decryptions by the coordinator of envelopes a made
// for b (made first, untimed): from the batch's bytes to the answer.
func (d *dropSetup) realDecrypts(ctx context.Context, n int) (time.Duration, error) {
	batches := make([][]byte, n)
	for i := range batches {
		env, err := d.a.encrypt(ctx, d.b.s.E.Requester, d.data)
		if err != nil {
			return 0, fmt.Errorf("making an envelope: %w", err)
		}
		if batches[i], err = d.b.batch(func(s *requester.Session) ([]byte, error) {
			return s.DecryptBatch(d.a.s.E.Requester, env)
		}); err != nil {
			return 0, err
		}
	}
	var total time.Duration
	for _, b := range batches {
		start := time.Now()
		ans, err := d.b.process(ctx, b)
		total += time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("real decryption: %w", err)
		}
		if pt, err := d.b.s.Plaintext(join(ans.Frames)); err != nil || !bytes.Equal(pt, d.data) {
			return 0, fmt.Errorf("real decryption: read other data (%v)", err)
		}
	}
	return total, nil
}

// fakeDrops times n fake-only batches of mallory, each of which must be
// refused for carrying no real message.
func (d *dropSetup) fakeDrops(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		_, err := d.mallory.process(ctx, d.fake)
		if err := wantRefusal(err, coordinator.ReasonNoRealMessage); err != nil {
			return 0, fmt.Errorf("fake batch: %w", err)
		}
	}
	return time.Since(start), nil
}

// admits times n drops of a flood envelope by b's filter.
func (d *dropSetup) admits(_ context.Context, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if _, err := d.b.s.Admit(d.flood, principal(d.mallory.id)); err == nil {
			return 0, errors.New("the destination admitted a flood envelope")
		}
	}
	return time.Since(start), nil
}
