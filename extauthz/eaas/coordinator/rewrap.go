package coordinator

import (
	"context"
	"errors"
	"time"

	"github.com/meshward/meshward/api/eaas"
)

// Rewrap moves an envelope to its pair's newest key version (Vault
// Transit's rewrap): the ciphertext is opened and sealed again inside a
// cryptor, and the caller (an operator) never sees the plaintext. The
// envelope's header, and so its binding to pair and position, is unchanged.
func (c *Coordinator) Rewrap(ctx context.Context, envelope []byte) ([]byte, error) {
	start := time.Now()
	out, err := c.rewrap(ctx, envelope)
	result := "ok"
	if e, ok := err.(*Error); ok {
		result = e.Reason
	} else if err != nil {
		result = "error"
	}
	c.obs.Request("rewrap", result)
	c.obs.Stage("coordinator", time.Since(start))
	return out, err
}

func (c *Coordinator) rewrap(ctx context.Context, envelope []byte) ([]byte, error) {
	env, err := eaas.ParseEnvelope(envelope)
	if err != nil {
		return nil, refuse(KindBadRequest, ReasonMalformed, "envelope: %v", err)
	}
	s, ok := c.dir.subscriber(env.Subscriber)
	if !ok {
		return nil, refuse(KindForbidden, ReasonNotMember, "subscriber %d is not served here", env.Subscriber)
	}
	key, err := c.key(ctx, s, env.Src, env.Dst, false)
	if errors.Is(err, ErrNoReplica) {
		return nil, refuse(KindUnavailable, ReasonUnavailable, "rewrap: %v", err)
	}
	if err != nil { // no key for the pair: nothing was ever sealed under it
		return nil, refuse(KindFailed, ReasonDecryptFailed, "rewrap: %v", err)
	}
	ad := env.Header()
	ct, err := c.crypt(ctx, func(ctx context.Context, cr Crypto) ([]byte, error) {
		return cr.Rewrap(ctx, key, ad, env.Ciphertext)
	})
	if err != nil {
		if IsUnavailable(err) {
			return nil, refuse(KindUnavailable, ReasonUnavailable, "rewrap: %v", err)
		}
		return nil, refuse(KindFailed, ReasonDecryptFailed, "rewrap: %v", err)
	}
	env.Ciphertext = ct
	return env.Marshal(), nil
}
