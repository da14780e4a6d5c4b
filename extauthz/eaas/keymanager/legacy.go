package keymanager

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// Legacy material is meshward's own format for the insecure ciphers, which
// Tink does not have: per version a cipher key and an HMAC-SHA256 key.
//
//	"MWL1" | cipher id (1 byte) | primary (u32) | count (u16) |
//	count × ( version (u32) | cipher key | MAC key (32 bytes) )
//
// Integers are big endian, versions strictly ascending; key sizes follow
// from the cipher, so every valid material has exactly one length.
const (
	legacyMagic     = "MWL1"
	legacyHeaderLen = len(legacyMagic) + 1 + 4 + 2
	// MACKeyBytes is the size of a legacy version's HMAC-SHA256 key.
	MACKeyBytes = 32
	// MaxVersions bounds the versions a keyset keeps (purged ones aside).
	MaxVersions = 1024
)

type legacyParam struct {
	id      byte // the wire's cipher id (api/eaas CipherID)
	keySize int
}

var legacyParams = map[Cipher]legacyParam{
	InsecureDES:      {101, 8},
	Insecure3DES:     {102, 24},
	InsecureBlowfish: {103, 16},
}

// LegacyMaterial is a parsed legacy keyset.
type LegacyMaterial struct {
	Cipher   Cipher
	Primary  uint32
	Versions []LegacyVersion // ascending
}

// LegacyVersion is one version's keys.
type LegacyVersion struct {
	Version   uint32
	CipherKey []byte
	MACKey    []byte
}

func legacyCipher(id byte) (Cipher, legacyParam, bool) {
	for c, p := range legacyParams {
		if p.id == id {
			return c, p, true
		}
	}
	return "", legacyParam{}, false
}

// ParseMaterial parses legacy material. Errors name the byte offset.
func ParseMaterial(b []byte) (*LegacyMaterial, error) {
	if len(b) < legacyHeaderLen || string(b[:len(legacyMagic)]) != legacyMagic {
		return nil, fmt.Errorf("keymanager: legacy material at byte 0: not an %q header of %d bytes", legacyMagic, legacyHeaderLen)
	}
	c, p, ok := legacyCipher(b[4])
	if !ok {
		return nil, fmt.Errorf("keymanager: legacy material at byte 4: unknown cipher id %d", b[4])
	}
	m := &LegacyMaterial{Cipher: c, Primary: binary.BigEndian.Uint32(b[5:])}
	n := int(binary.BigEndian.Uint16(b[9:]))
	entry := 4 + p.keySize + MACKeyBytes
	if n == 0 || n > MaxVersions {
		return nil, fmt.Errorf("keymanager: legacy material at byte 9: %d versions, want 1 to %d", n, MaxVersions)
	}
	if want := legacyHeaderLen + n*entry; len(b) != want {
		return nil, fmt.Errorf("keymanager: legacy material at byte %d: %d bytes for %d %s versions, want %d", legacyHeaderLen, len(b), n, c, want)
	}
	for i, off := 0, legacyHeaderLen; i < n; i, off = i+1, off+entry {
		v := LegacyVersion{Version: binary.BigEndian.Uint32(b[off:])}
		v.CipherKey = bytes.Clone(b[off+4 : off+4+p.keySize])
		v.MACKey = bytes.Clone(b[off+4+p.keySize : off+entry])
		if i > 0 && v.Version <= m.Versions[i-1].Version || v.Version == 0 {
			return nil, fmt.Errorf("keymanager: legacy material at byte %d: version %d is zero or not above the one before", off, v.Version)
		}
		m.Versions = append(m.Versions, v)
	}
	if m.version(m.Primary) == nil {
		return nil, fmt.Errorf("keymanager: legacy material at byte 5: primary version %d is not in the material", m.Primary)
	}
	return m, nil
}

// Marshal encodes the material; ParseMaterial(m.Marshal()) gives m back.
func (m *LegacyMaterial) Marshal() []byte {
	b := append([]byte(legacyMagic), legacyParams[m.Cipher].id)
	b = binary.BigEndian.AppendUint32(b, m.Primary)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Versions)))
	for _, v := range m.Versions {
		b = binary.BigEndian.AppendUint32(b, v.Version)
		b = append(append(b, v.CipherKey...), v.MACKey...)
	}
	return b
}

func (m *LegacyMaterial) version(v uint32) *LegacyVersion {
	for i := range m.Versions {
		if m.Versions[i].Version == v {
			return &m.Versions[i]
		}
	}
	return nil
}

// Version returns a version's keys, or nil.
func (m *LegacyMaterial) Version(v uint32) *LegacyVersion { return m.version(v) }

func newLegacyVersion(c Cipher, version uint32) (LegacyVersion, error) {
	v := LegacyVersion{Version: version, CipherKey: make([]byte, legacyParams[c].keySize), MACKey: make([]byte, MACKeyBytes)}
	if _, err := rand.Read(v.CipherKey); err != nil {
		return v, err
	}
	_, err := rand.Read(v.MACKey)
	return v, err
}
