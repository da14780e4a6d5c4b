package keymanager

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// record is a pair's keyset as stored (encrypted under the KEK): every
// version that still has key bytes, the newest being the primary.
type record struct {
	Format        int           `json:"format"`
	Pair          PairID        `json:"pair"`
	Cipher        Cipher        `json:"cipher"`
	MinDecryption uint32        `json:"min_decryption"`
	PurgedBelow   uint32        `json:"purged_below"`
	Versions      []versionMeta `json:"versions"`
	Material      []byte        `json:"material"`
}

type versionMeta struct {
	Version uint32 `json:"v"`
	Created int64  `json:"created_unix_nano"`
}

const recordFormat = 1

func newRecord(p PairID, c Cipher, now time.Time) (*record, error) {
	mat, err := addVersion(c, nil, 1)
	if err != nil {
		return nil, err
	}
	return &record{Format: recordFormat, Pair: p, Cipher: c, MinDecryption: 1,
		Versions: []versionMeta{{1, now.UnixNano()}}, Material: mat}, nil
}

func (r *record) primary() uint32 { return r.Versions[len(r.Versions)-1].Version }

func (r *record) seal(kek tink.AEAD) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return kek.Encrypt(b, r.Pair.recordAD())
}

// openRecord decrypts and checks a stored record of pair p.
func openRecord(kek tink.AEAD, p PairID, blob []byte) (*record, error) {
	b, err := kek.Decrypt(blob, p.recordAD())
	if err != nil {
		return nil, fmt.Errorf("%w: pair %s (a wrong key-encryption key, or a record of another pair)", ErrRecord, p)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	r := &record{}
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("%w: pair %s: %v", ErrRecord, p, err)
	}
	if err := r.check(p); err != nil {
		return nil, fmt.Errorf("%w: pair %s: %v", ErrRecord, p, err)
	}
	return r, nil
}

func (r *record) check(p PairID) error {
	switch {
	case r.Format != recordFormat:
		return fmt.Errorf("format %d, want %d", r.Format, recordFormat)
	case r.Pair != p:
		return fmt.Errorf("record names pair %s", r.Pair)
	case len(r.Versions) == 0 || len(r.Versions) > MaxVersions:
		return fmt.Errorf("%d versions, want 1 to %d", len(r.Versions), MaxVersions)
	}
	if err := r.Cipher.Valid(); err != nil {
		return err
	}
	first := max(r.PurgedBelow, 1)
	for i, v := range r.Versions {
		if v.Version != first+uint32(i) {
			return fmt.Errorf("version %d at position %d, want %d", v.Version, i, first+uint32(i))
		}
	}
	if r.MinDecryption < first || r.MinDecryption > r.primary() {
		return fmt.Errorf("minimum decryption version %d outside %d..%d", r.MinDecryption, first, r.primary())
	}
	versions, primary, err := materialVersions(r.Cipher, r.Material)
	if err != nil {
		return err
	}
	if primary != r.primary() || !slices.Equal(versions, r.versionNumbers()) {
		return fmt.Errorf("material holds versions %v (primary %d), the record %v", versions, primary, r.versionNumbers())
	}
	return nil
}

func (r *record) versionNumbers() []uint32 {
	out := make([]uint32, len(r.Versions))
	for i, v := range r.Versions {
		out[i] = v.Version
	}
	return out
}

// key returns the material the cryptor gets: retired versions left out.
func (r *record) key() (Key, error) {
	mat := r.Material
	if r.MinDecryption > r.Versions[0].Version {
		var err error
		if mat, err = keepFrom(r.Cipher, r.Material, r.MinDecryption); err != nil {
			return Key{}, err
		}
	}
	return Key{Pair: r.Pair, Cipher: r.Cipher, Material: mat, Primary: r.primary()}, nil
}

func (r *record) info() KeyInfo {
	ki := KeyInfo{Pair: r.Pair, Cipher: r.Cipher, Primary: r.primary(), MinDecryption: r.MinDecryption, PurgedBelow: r.PurgedBelow}
	for _, v := range r.Versions {
		ki.Versions = append(ki.Versions, VersionInfo{Version: v.Version, Created: time.Unix(0, v.Created).UTC(), Retired: v.Version < r.MinDecryption})
	}
	return ki
}
