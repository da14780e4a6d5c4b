package cryptor

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"golang.org/x/crypto/blowfish"
)

// The legacy ciphers run in CBC with a random IV and encrypt-then-MAC:
//
//	0x01 | version (u32) | IV | CBC(PKCS#7 padded plaintext) | HMAC-SHA256 tag
//
// The tag covers the prefix, the associated data's length and bytes, the IV
// and the CBC text, and is checked before any padding is looked at, so a
// tampered text fails the same way wherever it was changed.
const (
	prefixLen   = 5
	prefixTag   = 0x01
	tagLen      = sha256.Size
	legacyBlock = 8 // DES, 3DES and Blowfish all have 64-bit blocks
)

type legacyKey struct {
	block  cipher.Block
	mac    []byte
	prefix [prefixLen]byte
}

// legacyAEAD is a tink.AEAD over legacy material: it encrypts with the
// primary and decrypts with the version the prefix names.
type legacyAEAD struct {
	primary  *legacyKey
	versions map[uint32]*legacyKey
}

func newBlock(c keymanager.Cipher, key []byte) (cipher.Block, error) {
	switch c {
	case keymanager.InsecureDES:
		return des.NewCipher(key)
	case keymanager.Insecure3DES:
		return des.NewTripleDESCipher(key)
	case keymanager.InsecureBlowfish:
		return blowfish.NewCipher(key)
	}
	return nil, fmt.Errorf("cipher %q is not a legacy cipher", c)
}

func newLegacyAEAD(k keymanager.Key) (*legacyAEAD, error) {
	m, err := keymanager.ParseLegacy(k.Cipher, k.Material)
	if err != nil {
		return nil, err
	}
	a := &legacyAEAD{versions: map[uint32]*legacyKey{}}
	for _, v := range m.Versions {
		b, err := newBlock(k.Cipher, v.CipherKey)
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", v.Version, err)
		}
		lk := &legacyKey{block: b, mac: v.MACKey}
		lk.prefix[0] = prefixTag
		binary.BigEndian.PutUint32(lk.prefix[1:], v.Version)
		a.versions[v.Version] = lk
	}
	a.primary = a.versions[m.Primary]
	return a, nil
}

func (k *legacyKey) tag(ad, ivAndText []byte) []byte {
	h := hmac.New(sha256.New, k.mac)
	h.Write(k.prefix[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(ad))))
	h.Write(ad)
	h.Write(ivAndText)
	return h.Sum(nil)
}

// Encrypt implements tink.AEAD.
func (a *legacyAEAD) Encrypt(plaintext, ad []byte) ([]byte, error) {
	k := a.primary
	pad := legacyBlock - len(plaintext)%legacyBlock
	out := make([]byte, prefixLen+legacyBlock, prefixLen+legacyBlock+len(plaintext)+pad+tagLen)
	copy(out, k.prefix[:])
	iv := out[prefixLen:]
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	out = append(out, plaintext...)
	for range pad {
		out = append(out, byte(pad))
	}
	text := out[prefixLen+legacyBlock:]
	cipher.NewCBCEncrypter(k.block, iv).CryptBlocks(text, text)
	return append(out, k.tag(ad, out[prefixLen:])...), nil
}

// Decrypt implements tink.AEAD. Every failure is errDecrypt.
func (a *legacyAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	n := len(ct) - prefixLen - legacyBlock - tagLen
	if n < legacyBlock || n%legacyBlock != 0 || ct[0] != prefixTag {
		return nil, ErrDecrypt
	}
	k := a.versions[binary.BigEndian.Uint32(ct[1:prefixLen])]
	if k == nil {
		return nil, ErrDecrypt
	}
	body, tag := ct[prefixLen:len(ct)-tagLen], ct[len(ct)-tagLen:]
	if !hmac.Equal(k.tag(ad, body), tag) {
		return nil, ErrDecrypt
	}
	pt := make([]byte, n)
	cipher.NewCBCDecrypter(k.block, body[:legacyBlock]).CryptBlocks(pt, body[legacyBlock:])
	pad := int(pt[n-1])
	if pad == 0 || pad > legacyBlock {
		return nil, ErrDecrypt
	}
	for _, b := range pt[n-pad:] {
		if b != byte(pad) {
			return nil, ErrDecrypt
		}
	}
	return pt[:n-pad], nil
}
