package keymanager

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

func legacyFor(t testing.TB, c Cipher, versions int) []byte {
	var mat []byte
	for v := 1; v <= versions; v++ {
		var err error
		if mat, err = addVersion(c, mat, uint32(v)); err != nil {
			t.Fatal(err)
		}
	}
	return mat
}

func TestParseMaterialRoundTrip(t *testing.T) {
	for c, p := range legacyParams {
		mat := legacyFor(t, c, 3)
		m, err := ParseMaterial(mat)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if m.Cipher != c || m.Primary != 3 || len(m.Versions) != 3 || len(m.Versions[0].CipherKey) != p.keySize || len(m.Versions[0].MACKey) != MACKeyBytes {
			t.Fatalf("%s: parsed %s primary %d, %d versions", c, m.Cipher, m.Primary, len(m.Versions))
		}
		if bytes.Equal(m.Versions[0].CipherKey, m.Versions[1].CipherKey) || bytes.Equal(m.Versions[0].MACKey, m.Versions[1].MACKey) {
			t.Fatalf("%s: two versions share key bytes", c)
		}
		if !bytes.Equal(m.Marshal(), mat) {
			t.Fatalf("%s: Marshal does not give the parsed bytes back", c)
		}
	}
}

func TestParseMaterialErrors(t *testing.T) {
	good := legacyFor(t, InsecureDES, 2) // entries of 4+8+32 = 44 bytes
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "at byte 0"},
		{"magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "at byte 0"},
		{"cipher", mutate(func(b []byte) []byte { b[4] = 7; return b }), "at byte 4: unknown cipher id 7"},
		{"no versions", mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[9:], 0); return b[:11] }), "at byte 9: 0 versions"},
		{"too many", mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[9:], MaxVersions+1); return b }), "at byte 9: 1025 versions"},
		{"short", good[:len(good)-1], "at byte 11: 98 bytes for 2 insecure-des versions, want 99"},
		{"long", append(bytes.Clone(good), 0), "want 99"},
		{"zero version", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[11:], 0); return b }), "at byte 11: version 0"},
		{"descending", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[55:], 1); return b }), "at byte 55: version 1 is zero or not above"},
		{"primary", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[5:], 9); return b }), "at byte 5: primary version 9"},
	}
	for _, c := range cases {
		_, err := ParseMaterial(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestParseLegacyOfAnotherCipher(t *testing.T) {
	if _, err := ParseLegacy(InsecureBlowfish, legacyFor(t, InsecureDES, 1)); err == nil {
		t.Fatal("DES material accepted as Blowfish material")
	}
}

// FuzzParseMaterial: hostile material never panics, and whatever parses is
// canonical (it marshals back to the same bytes).
func FuzzParseMaterial(f *testing.F) {
	for c := range legacyParams {
		f.Add(legacyFor(f, c, 2))
	}
	f.Add([]byte("MWL1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMaterial(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatalf("parsed material marshals to other bytes")
		}
	})
}

// FuzzParseKeyset: hostile Tink material never panics, and what parses as a
// cipher's keyset has a primary among its versions.
func FuzzParseKeyset(f *testing.F) {
	for _, c := range []Cipher{AES256GCM, ChaCha20Poly1305} {
		mat, err := addVersion(c, nil, 1)
		if err != nil {
			f.Fatal(err)
		}
		if mat, err = addVersion(c, mat, 2); err != nil {
			f.Fatal(err)
		}
		f.Add(mat)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []Cipher{AES256GCM, ChaCha20Poly1305} {
			h, err := ParseKeyset(c, b)
			if err != nil {
				continue
			}
			versions, primary, err := tinkVersions(h)
			if err != nil || !slices.Contains(versions, primary) {
				t.Fatalf("%s keyset parsed, but versions %v, primary %d: %v", c, versions, primary, err)
			}
		}
	})
}
