package coordinator

import (
	"context"

	"github.com/meshward/meshward/extauthz/eaas/cryptor"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
)

// LocalCrypto is a cryptor in this process (the default deployment runs all
// four roles in one).
type LocalCrypto struct{ C *cryptor.Cryptor }

func (l LocalCrypto) Seal(_ context.Context, k keymanager.Key, ad, pt []byte) ([]byte, error) {
	return l.C.Seal(k, ad, pt)
}

func (l LocalCrypto) Open(_ context.Context, k keymanager.Key, ad, ct []byte) ([]byte, error) {
	return l.C.Open(k, ad, ct)
}

func (l LocalCrypto) Rewrap(_ context.Context, k keymanager.Key, ad, ct []byte) ([]byte, error) {
	return l.C.Rewrap(k, ad, ct)
}
