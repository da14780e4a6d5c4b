package roles

import (
	"context"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
)

// countedKeys counts and times a key manager's operations.
type countedKeys struct {
	m *keymanager.Manager
	x *metrics
}

func (k countedKeys) Key(ctx context.Context, p keymanager.PairID, c keymanager.Cipher) (keymanager.Key, error) {
	start := time.Now()
	key, err := k.m.Key(ctx, p, c)
	k.x.keyOps.WithLabelValues("get", result(err)).Inc()
	k.x.stage.WithLabelValues("keymanager-serve").Observe(time.Since(start).Seconds())
	return key, err
}

func (k countedKeys) Lookup(ctx context.Context, p keymanager.PairID, c keymanager.Cipher) (keymanager.Key, error) {
	key, err := k.m.Lookup(ctx, p, c)
	k.x.keyOps.WithLabelValues("lookup", result(err)).Inc()
	return key, err
}

func (k countedKeys) Rotate(ctx context.Context, p keymanager.PairID) (uint32, error) {
	v, err := k.m.Rotate(ctx, p)
	k.x.keyOps.WithLabelValues("rotate", result(err)).Inc()
	return v, err
}

func (k countedKeys) List(ctx context.Context) ([]keymanager.KeyInfo, error) {
	l, err := k.m.List(ctx)
	k.x.keyOps.WithLabelValues("list", result(err)).Inc()
	return l, err
}

// countedCrypto counts and times a cryptor's operations.
type countedCrypto struct {
	c coordinator.Crypto
	x *metrics
}

func (c countedCrypto) do(op string, f func() ([]byte, error)) ([]byte, error) {
	start := time.Now()
	out, err := f()
	c.x.requests.WithLabelValues("cryptor", op, result(err)).Inc()
	c.x.stage.WithLabelValues("cryptor-serve").Observe(time.Since(start).Seconds())
	return out, err
}

func (c countedCrypto) Seal(ctx context.Context, k keymanager.Key, ad, d []byte) ([]byte, error) {
	return c.do("seal", func() ([]byte, error) { return c.c.Seal(ctx, k, ad, d) })
}

func (c countedCrypto) Open(ctx context.Context, k keymanager.Key, ad, d []byte) ([]byte, error) {
	return c.do("open", func() ([]byte, error) { return c.c.Open(ctx, k, ad, d) })
}

func (c countedCrypto) Rewrap(ctx context.Context, k keymanager.Key, ad, d []byte) ([]byte, error) {
	return c.do("rewrap", func() ([]byte, error) { return c.c.Rewrap(ctx, k, ad, d) })
}
