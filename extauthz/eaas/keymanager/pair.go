// Package keymanager keeps one versioned keyset per service pair of a
// subscriber: created on first use, rotated, retired, and stored encrypted
// under a key-encryption key with the pair as associated data. It hands keys
// to the cryptor; it never logs.
package keymanager

import (
	"encoding/binary"
	"fmt"
)

// PairID names the two requesters of a subscriber that share a keyset; the
// order of the two does not matter, so A <= B always.
type PairID struct{ Subscriber, A, B uint32 }

// NewPairID returns the pair of a and b, in either order.
func NewPairID(subscriber, a, b uint32) PairID {
	if a > b {
		a, b = b, a
	}
	return PairID{Subscriber: subscriber, A: a, B: b}
}

func (p PairID) normalised() PairID { return NewPairID(p.Subscriber, p.A, p.B) }

func (p PairID) String() string { return fmt.Sprintf("%d/%d-%d", p.Subscriber, p.A, p.B) }

// storePrefix is where the records live in a keystore.Store.
const storePrefix = "eaas/keysets/v1/"

func (p PairID) storeKey() string {
	return fmt.Sprintf("%s%010d/%010d/%010d", storePrefix, p.Subscriber, p.A, p.B)
}

// parseStoreKey is the inverse of storeKey, for records met while listing.
func parseStoreKey(k string) (PairID, bool) {
	var p PairID
	n, err := fmt.Sscanf(k, storePrefix+"%010d/%010d/%010d", &p.Subscriber, &p.A, &p.B)
	return p, err == nil && n == 3 && p.storeKey() == k
}

// recordAD is the associated data of a pair's record under the KEK: a record
// moved to another pair's key does not open.
func (p PairID) recordAD() []byte {
	ad := []byte("meshward/eaas/keyset/v1\x00")
	ad = binary.BigEndian.AppendUint32(ad, p.Subscriber)
	ad = binary.BigEndian.AppendUint32(ad, p.A)
	return binary.BigEndian.AppendUint32(ad, p.B)
}

// Cipher names a keyset's algorithm.
type Cipher string

// The ciphers. Only the first two are AEADs fit for use; the insecure ones
// (64-bit blocks, DES's 56-bit key) exist to reproduce the seed's figures.
const (
	AES256GCM        Cipher = "aes256-gcm"
	ChaCha20Poly1305 Cipher = "chacha20-poly1305"
	InsecureDES      Cipher = "insecure-des"
	Insecure3DES     Cipher = "insecure-3des"
	InsecureBlowfish Cipher = "insecure-blowfish"
)

// DefaultCipher is what an empty Cipher means.
const DefaultCipher = AES256GCM

// Ciphers lists every cipher, the default first.
func Ciphers() []Cipher {
	return []Cipher{AES256GCM, ChaCha20Poly1305, InsecureDES, Insecure3DES, InsecureBlowfish}
}

// IsTink says whether the cipher's material is a Tink keyset.
func (c Cipher) IsTink() bool { return c == AES256GCM || c == ChaCha20Poly1305 }

// Insecure says whether the cipher is one of the seed's legacy ciphers.
func (c Cipher) Insecure() bool { _, ok := legacyParams[c]; return ok }

// Valid reports an unknown cipher.
func (c Cipher) Valid() error {
	if c.IsTink() || c.Insecure() {
		return nil
	}
	shown := string(c)
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	return fmt.Errorf("keymanager: unknown cipher %q (want one of %v)", shown, Ciphers())
}

func (c Cipher) orDefault() Cipher {
	if c == "" {
		return DefaultCipher
	}
	return c
}
