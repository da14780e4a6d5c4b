package keymanager

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/aead/chacha20poly1305"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/key"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/secretdata"
)

// Tink keys are made with the key id set to the version, so the 5-byte Tink
// prefix of a ciphertext (0x01 | id) names its version.
func tinkParams(c Cipher) (key.Parameters, error) {
	switch c {
	case AES256GCM:
		return aesgcm.NewParameters(aesgcm.ParametersOpts{KeySizeInBytes: 32, IVSizeInBytes: 12, TagSizeInBytes: 16, Variant: aesgcm.VariantTink})
	case ChaCha20Poly1305:
		return chacha20poly1305.NewParameters(chacha20poly1305.VariantTink)
	}
	return nil, fmt.Errorf("keymanager: %q is not a Tink cipher", c)
}

func newTinkKey(c Cipher, version uint32) (key.Key, error) {
	switch c {
	case AES256GCM:
		p, err := tinkParams(c)
		if err != nil {
			return nil, err
		}
		b, err := secretdata.NewBytesFromRand(32)
		if err != nil {
			return nil, err
		}
		return aesgcm.NewKey(b, version, p.(*aesgcm.Parameters))
	case ChaCha20Poly1305:
		p, err := tinkParams(c)
		if err != nil {
			return nil, err
		}
		b, err := secretdata.NewBytesFromRand(32)
		if err != nil {
			return nil, err
		}
		return chacha20poly1305.NewKey(b, version, p.(*chacha20poly1305.Parameters))
	}
	return nil, fmt.Errorf("keymanager: %q is not a Tink cipher", c)
}

// ParseKeyset reads a Tink cipher's material and checks that it holds only
// enabled keys of that cipher, each with its version as key id.
func ParseKeyset(c Cipher, material []byte) (*keyset.Handle, error) {
	want, err := tinkParams(c)
	if err != nil {
		return nil, err
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(material)))
	if err != nil {
		return nil, fmt.Errorf("keymanager: %s material is not a Tink keyset: %w", c, err)
	}
	if h.Len() > MaxVersions {
		return nil, fmt.Errorf("keymanager: %s keyset of %d keys: at most %d", c, h.Len(), MaxVersions)
	}
	seen := map[uint32]bool{}
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return nil, fmt.Errorf("keymanager: %s keyset key %d: %w", c, i, err)
		}
		id, hasID := e.Key().IDRequirement()
		switch {
		case e.KeyStatus() != keyset.Enabled:
			return nil, fmt.Errorf("keymanager: %s keyset key %d: status %s, want enabled", c, i, e.KeyStatus())
		case !want.Equal(e.Key().Parameters()):
			return nil, fmt.Errorf("keymanager: %s keyset key %d: not a %s key", c, i, c)
		case !hasID || id != e.KeyID() || id == 0 || seen[id]:
			return nil, fmt.Errorf("keymanager: %s keyset key %d: id %d is not a version of its own", c, i, e.KeyID())
		}
		seen[id] = true
	}
	return h, nil
}

func writeKeyset(h *keyset.Handle) ([]byte, error) {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewBinaryWriter(&buf)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func tinkVersions(h *keyset.Handle) (versions []uint32, primary uint32, err error) {
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return nil, 0, err
		}
		versions = append(versions, e.KeyID())
		if e.IsPrimary() {
			primary = e.KeyID()
		}
	}
	slices.Sort(versions)
	if primary == 0 {
		return nil, 0, errors.New("keymanager: keyset without a primary key")
	}
	return versions, primary, nil
}

// tinkAdd adds version as the new primary; material nil starts a keyset.
func tinkAdd(c Cipher, material []byte, version uint32) ([]byte, error) {
	m := keyset.NewManager()
	if material != nil {
		h, err := ParseKeyset(c, material)
		if err != nil {
			return nil, err
		}
		m = keyset.NewManagerFromHandle(h)
	}
	k, err := newTinkKey(c, version)
	if err != nil {
		return nil, err
	}
	id, err := m.AddKey(k)
	if err != nil {
		return nil, err
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, err
	}
	h, err := m.Handle()
	if err != nil {
		return nil, err
	}
	return writeKeyset(h)
}

// tinkKeepFrom drops the versions below min; the primary is never below it.
func tinkKeepFrom(c Cipher, material []byte, min uint32) ([]byte, error) {
	h, err := ParseKeyset(c, material)
	if err != nil {
		return nil, err
	}
	versions, _, err := tinkVersions(h)
	if err != nil {
		return nil, err
	}
	m := keyset.NewManagerFromHandle(h)
	for _, v := range versions {
		if v < min {
			if err := m.Delete(v); err != nil {
				return nil, err
			}
		}
	}
	if h, err = m.Handle(); err != nil {
		return nil, err
	}
	return writeKeyset(h)
}
