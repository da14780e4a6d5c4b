package cryptor

import (
	"fmt"
	"testing"

	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// rawAEAD is the bare primitive the cryptor wraps: Tink's AEAD for the
// Tink ciphers, meshward's CBC+HMAC for the legacy ones.
func rawAEAD(b *testing.B, k keymanager.Key) tink.AEAD {
	if !k.Cipher.IsTink() {
		a, err := newLegacyAEAD(k)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	h, err := keymanager.ParseKeyset(k.Cipher, k.Material)
	if err != nil {
		b.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkSeal and BenchmarkOpen run the cryptor and the raw primitive on
// the same key and data side by side: cryptor ÷ raw is the cost of the
// cache lookup.
func BenchmarkSeal(b *testing.B) { benchmark(b, false) }

func BenchmarkOpen(b *testing.B) { benchmark(b, true) }

func benchmark(b *testing.B, open bool) {
	m := newManager(b)
	ad := []byte("MWE1 header of an envelope")
	for i, c := range keymanager.Ciphers() {
		k := mustKey(b, m, keymanager.NewPairID(54, 1, uint32(10+i)), c)
		raw, cr := rawAEAD(b, k), New(0)
		for _, size := range []int{1 << 10, 64 << 10} {
			pt := make([]byte, size)
			ct, _ := raw.Encrypt(pt, ad)
			impls := []struct {
				name string
				seal func() ([]byte, error)
				open func() ([]byte, error)
			}{
				{"raw", func() ([]byte, error) { return raw.Encrypt(pt, ad) }, func() ([]byte, error) { return raw.Decrypt(ct, ad) }},
				{"cryptor", func() ([]byte, error) { return cr.Seal(k, ad, pt) }, func() ([]byte, error) { return cr.Open(k, ad, ct) }},
			}
			for _, impl := range impls {
				f := impl.seal
				if open {
					f = impl.open
				}
				b.Run(fmt.Sprintf("%s/%dKiB/%s", c, size>>10, impl.name), func(b *testing.B) {
					b.SetBytes(int64(size))
					for b.Loop() {
						if _, err := f(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
