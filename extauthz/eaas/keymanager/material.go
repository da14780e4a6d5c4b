package keymanager

// The operations on a keyset's material, for Tink keysets and legacy
// material alike.

func materialVersions(c Cipher, material []byte) (versions []uint32, primary uint32, err error) {
	if c.IsTink() {
		h, err := ParseKeyset(c, material)
		if err != nil {
			return nil, 0, err
		}
		return tinkVersions(h)
	}
	m, err := ParseLegacy(c, material)
	if err != nil {
		return nil, 0, err
	}
	for _, v := range m.Versions {
		versions = append(versions, v.Version)
	}
	return versions, m.Primary, nil
}

// addVersion adds version as the primary; material nil starts a keyset.
func addVersion(c Cipher, material []byte, version uint32) ([]byte, error) {
	if c.IsTink() {
		return tinkAdd(c, material, version)
	}
	m := &LegacyMaterial{Cipher: c}
	if material != nil {
		var err error
		if m, err = ParseLegacy(c, material); err != nil {
			return nil, err
		}
	}
	v, err := newLegacyVersion(c, version)
	if err != nil {
		return nil, err
	}
	m.Versions = append(m.Versions, v)
	m.Primary = version
	return m.Marshal(), nil
}

// keepFrom drops the versions below min.
func keepFrom(c Cipher, material []byte, min uint32) ([]byte, error) {
	if c.IsTink() {
		return tinkKeepFrom(c, material, min)
	}
	m, err := ParseLegacy(c, material)
	if err != nil {
		return nil, err
	}
	kept := m.Versions[:0]
	for _, v := range m.Versions {
		if v.Version >= min {
			kept = append(kept, v)
		}
	}
	m.Versions = kept
	return m.Marshal(), nil
}

// ParseLegacy parses legacy material and checks it is of cipher c.
func ParseLegacy(c Cipher, material []byte) (*LegacyMaterial, error) {
	m, err := ParseMaterial(material)
	if err != nil {
		return nil, err
	}
	if m.Cipher != c {
		return nil, errCipher(c, m.Cipher)
	}
	return m, nil
}
