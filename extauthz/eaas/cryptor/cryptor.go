// Package cryptor seals and opens data with the keys of the key manager. It
// keeps the parsed primitives of the keys it met (a bounded cache), so a key
// is parsed once, not per call. It holds no keys of its own and never logs.
package cryptor

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// MaxData bounds a plaintext or ciphertext, so that one call cannot make the
// cryptor hold unbounded memory.
const MaxData = 64 << 20

// DefaultPairs is how many pairs' primitives New keeps by default.
const DefaultPairs = 4096

// materialsPerPair bounds the materials kept per pair: while a rotation
// reaches replicas, a pair has an old and a new one for a moment.
const materialsPerPair = 4

// ErrDecrypt is the only error Open gives about a ciphertext: it does not
// say which check failed.
var ErrDecrypt = errors.New("cryptor: ciphertext does not decrypt")

// ErrTooLarge: data above MaxData.
var ErrTooLarge = fmt.Errorf("cryptor: data above %d bytes", MaxData)

// Cryptor is safe for concurrent use.
type Cryptor struct {
	maxPairs int
	parses   atomic.Uint64

	mu    sync.RWMutex
	pairs map[keymanager.PairID][]*primitive
}

type primitive struct {
	cipher   keymanager.Cipher
	primary  uint32
	material []byte
	aead     tink.AEAD
}

// New returns a Cryptor that keeps the primitives of up to maxPairs pairs
// (DefaultPairs if maxPairs <= 0).
func New(maxPairs int) *Cryptor {
	if maxPairs <= 0 {
		maxPairs = DefaultPairs
	}
	return &Cryptor{maxPairs: maxPairs, pairs: map[keymanager.PairID][]*primitive{}}
}

// Parses counts the keys parsed so far (cache misses).
func (c *Cryptor) Parses() uint64 { return c.parses.Load() }

// Seal encrypts plaintext with the key's primary version, bound to ad.
func (c *Cryptor) Seal(k keymanager.Key, ad, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxData {
		return nil, ErrTooLarge
	}
	p, err := c.primitive(k)
	if err != nil {
		return nil, err
	}
	return p.aead.Encrypt(plaintext, ad)
}

// Open decrypts a ciphertext of any version the key still holds.
func (c *Cryptor) Open(k keymanager.Key, ad, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) > MaxData {
		return nil, ErrTooLarge
	}
	p, err := c.primitive(k)
	if err != nil {
		return nil, err
	}
	return open(p, ad, ciphertext)
}

func open(p *primitive, ad, ciphertext []byte) ([]byte, error) {
	pt, err := p.aead.Decrypt(ciphertext, ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Rewrap moves a ciphertext of any live version to the primary version,
// with the same ad; the plaintext never leaves the cryptor.
func (c *Cryptor) Rewrap(k keymanager.Key, ad, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) > MaxData {
		return nil, ErrTooLarge
	}
	p, err := c.primitive(k)
	if err != nil {
		return nil, err
	}
	pt, err := open(p, ad, ciphertext)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return p.aead.Encrypt(pt, ad)
}

func (c *Cryptor) primitive(k keymanager.Key) (*primitive, error) {
	c.mu.RLock()
	for _, p := range c.pairs[k.Pair] {
		if bytes.Equal(p.material, k.Material) {
			c.mu.RUnlock()
			if p.cipher != k.Cipher || p.primary != k.Primary {
				return nil, fmt.Errorf("cryptor: %v: cipher or primary do not match its material", k)
			}
			return p, nil
		}
	}
	c.mu.RUnlock()
	p, err := parse(k)
	if err != nil {
		return nil, fmt.Errorf("cryptor: %v: %w", k, err)
	}
	c.parses.Add(1)
	c.remember(k.Pair, p)
	return p, nil
}

func (c *Cryptor) remember(pair keymanager.PairID, p *primitive) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list, ok := c.pairs[pair]
	if !ok && len(c.pairs) >= c.maxPairs {
		for other := range c.pairs {
			delete(c.pairs, other)
			break
		}
	}
	if len(list) >= materialsPerPair {
		list = list[1:]
	}
	c.pairs[pair] = append(list, p)
}

// parse builds the key's primitive and checks the key says what its
// material holds.
func parse(k keymanager.Key) (*primitive, error) {
	if err := k.Cipher.Valid(); err != nil {
		return nil, err
	}
	p := &primitive{cipher: k.Cipher, primary: k.Primary, material: bytes.Clone(k.Material)}
	if !k.Cipher.IsTink() {
		a, err := newLegacyAEAD(k)
		if err != nil {
			return nil, err
		}
		if a.primary != a.versions[k.Primary] || a.primary == nil {
			return nil, errors.New("primary is not the material's")
		}
		p.aead = a
		return p, nil
	}
	h, err := keymanager.ParseKeyset(k.Cipher, p.material)
	if err != nil {
		return nil, err
	}
	if e, err := h.Primary(); err != nil || e.KeyID() != k.Primary {
		return nil, errors.New("primary is not the material's")
	}
	if p.aead, err = aead.New(h); err != nil {
		return nil, err
	}
	return p, nil
}
