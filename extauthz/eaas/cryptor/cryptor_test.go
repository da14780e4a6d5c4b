package cryptor

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

var ctx = context.Background()

func newManager(t testing.TB) *keymanager.Manager {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	kek, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return keymanager.New(keystore.NewMemory(), kek)
}

func mustKey(t testing.TB, m *keymanager.Manager, p keymanager.PairID, c keymanager.Cipher) keymanager.Key {
	t.Helper()
	k, err := m.Key(ctx, p, c)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func versionOf(ct []byte) uint32 {
	if len(ct) < prefixLen || ct[0] != prefixTag {
		return 0
	}
	return binary.BigEndian.Uint32(ct[1:])
}

func eachCipher(t *testing.T, f func(t *testing.T, m *keymanager.Manager, c keymanager.Cipher)) {
	for _, c := range keymanager.Ciphers() {
		t.Run(string(c), func(t *testing.T) { f(t, newManager(t), c) })
	}
}

var pair = keymanager.NewPairID(54, 1, 2)

func TestRoundTrip(t *testing.T) {
	eachCipher(t, func(t *testing.T, m *keymanager.Manager, c keymanager.Cipher) {
		k := mustKey(t, m, pair, c)
		cr := New(0)
		for _, n := range []int{0, 1, 7, 8, 9, 1024, 64<<10 + 3} {
			pt := bytes.Repeat([]byte{byte(n)}, n)
			ad := []byte(fmt.Sprint("header ", n))
			ct, err := cr.Seal(k, ad, pt)
			if err != nil {
				t.Fatal(err)
			}
			if versionOf(ct) != 1 || n >= 8 && bytes.Contains(ct, pt) {
				t.Fatalf("%d bytes: ciphertext names version %d or holds the plaintext", n, versionOf(ct))
			}
			again, _ := cr.Seal(k, ad, pt)
			if bytes.Equal(again, ct) {
				t.Fatalf("%d bytes: two seals gave one ciphertext", n)
			}
			got, err := cr.Open(k, ad, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%d bytes: open: %v", n, err)
			}
		}
	})
}

// An attacker who changes a ciphertext in any way, moves it to another
// header (associated data) or pair, gets the one error and no plaintext.
func TestOpenRefusesEveryChange(t *testing.T) {
	eachCipher(t, func(t *testing.T, m *keymanager.Manager, c keymanager.Cipher) {
		k := mustKey(t, m, pair, c)
		other := mustKey(t, m, keymanager.NewPairID(54, 1, 3), c)
		cr := New(0)
		ad, pt := []byte("MWE1 header"), []byte("the order of 42 widgets")
		ct, _ := cr.Seal(k, ad, pt)
		refused := func(what string, k keymanager.Key, ad, ct []byte) {
			t.Helper()
			if got, err := cr.Open(k, ad, ct); err != ErrDecrypt || got != nil {
				t.Fatalf("%s: opened %q with %v, want exactly ErrDecrypt", what, got, err)
			}
		}
		for i := range ct {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(ct)
				bad[i] ^= bit
				refused(fmt.Sprintf("byte %d ^ %#x", i, bit), k, ad, bad)
			}
		}
		for n := range len(ct) {
			refused(fmt.Sprintf("first %d bytes", n), k, ad, ct[:n])
		}
		refused("a byte appended", k, ad, append(bytes.Clone(ct), 0))
		refused("another header", k, []byte("MWE1 heades"), ct)
		refused("no header", k, nil, ct)
		refused("another pair's key", other, ad, ct)
	})
}

// A legacy ciphertext whose MAC is right but whose padding is not (only the
// holder of the MAC key can make one) fails with the same error as any
// other: the padding is looked at only once the MAC passed, and says nothing.
func TestLegacyNoPaddingOracle(t *testing.T) {
	for _, c := range []keymanager.Cipher{keymanager.InsecureDES, keymanager.Insecure3DES, keymanager.InsecureBlowfish} {
		k := mustKey(t, newManager(t), pair, c)
		a, err := newLegacyAEAD(k)
		if err != nil {
			t.Fatal(err)
		}
		lk := a.primary
		ad := []byte("ad")
		for _, last := range []byte{0, 9, 200} {
			body := make([]byte, 2*legacyBlock) // IV (zero) | one block
			body[len(body)-1] = last
			cipher.NewCBCEncrypter(lk.block, body[:legacyBlock]).CryptBlocks(body[legacyBlock:], body[legacyBlock:])
			ct := append(append(lk.prefix[:], body...), lk.tag(ad, body)...)
			if got, err := New(0).Open(k, ad, ct); err != ErrDecrypt || got != nil {
				t.Fatalf("%s: padding byte %d under a valid MAC: %q, %v; want ErrDecrypt", c, last, got, err)
			}
		}
	}
}

func TestVersions(t *testing.T) {
	eachCipher(t, func(t *testing.T, m *keymanager.Manager, c keymanager.Cipher) {
		cr := New(0)
		ad := []byte("ad")
		v1key := mustKey(t, m, pair, c)
		ct1, _ := cr.Seal(v1key, ad, []byte("old"))
		if _, err := m.Rotate(ctx, pair); err != nil {
			t.Fatal(err)
		}
		v2key := mustKey(t, m, pair, c)
		ct2, _ := cr.Seal(v2key, ad, []byte("new"))
		if versionOf(ct1) != 1 || versionOf(ct2) != 2 {
			t.Fatalf("versions %d and %d, want 1 and 2", versionOf(ct1), versionOf(ct2))
		}
		if pt, err := cr.Open(v2key, ad, ct1); err != nil || string(pt) != "old" {
			t.Fatalf("a version 1 ciphertext after the rotation: %v", err)
		}
		if _, err := cr.Open(v1key, ad, ct2); err != ErrDecrypt {
			t.Fatalf("the key of before the rotation opened a version 2 ciphertext: %v", err)
		}
		rewrapped, err := cr.Rewrap(v2key, ad, ct1)
		if err != nil || versionOf(rewrapped) != 2 || bytes.Contains(rewrapped, []byte("old")) {
			t.Fatalf("rewrap: version %d, %v; want version 2", versionOf(rewrapped), err)
		}
		if _, err := cr.Rewrap(v2key, []byte("other"), ct1); err != ErrDecrypt {
			t.Fatalf("rewrap under another header: %v, want ErrDecrypt", err)
		}
		if err := m.Retire(ctx, pair, 2); err != nil {
			t.Fatal(err)
		}
		retired := mustKey(t, m, pair, c)
		if _, err := cr.Open(retired, ad, ct1); err != ErrDecrypt {
			t.Fatalf("a retired version's ciphertext: %v, want ErrDecrypt", err)
		}
		if _, err := cr.Rewrap(retired, ad, ct1); err != ErrDecrypt {
			t.Fatalf("rewrap of a retired version's ciphertext: %v, want ErrDecrypt", err)
		}
		if pt, err := cr.Open(retired, ad, rewrapped); err != nil || string(pt) != "old" {
			t.Fatalf("the rewrapped ciphertext after retiring version 1: %v", err)
		}
	})
}

func TestCache(t *testing.T) {
	m := newManager(t)
	cr := New(2)
	k := mustKey(t, m, pair, keymanager.AES256GCM)
	for range 100 {
		if _, err := cr.Seal(k, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if cr.Parses() != 1 {
		t.Fatalf("100 seals with one key parsed it %d times", cr.Parses())
	}
	m.Rotate(ctx, pair)
	cr.Seal(mustKey(t, m, pair, keymanager.AES256GCM), nil, nil)
	cr.Seal(k, nil, nil)
	if cr.Parses() != 2 {
		t.Fatalf("after a rotation: %d parses, want 2 (the new material once)", cr.Parses())
	}
	for i := range 10 {
		cr.Seal(mustKey(t, m, keymanager.NewPairID(1, 1, uint32(i+10)), keymanager.AES256GCM), nil, nil)
	}
	if len(cr.pairs) > 2 {
		t.Fatalf("a cache of 2 pairs holds %d", len(cr.pairs))
	}
	for range 10 {
		m.Rotate(ctx, pair)
		cr.Seal(mustKey(t, m, pair, keymanager.AES256GCM), nil, nil)
	}
	if n := len(cr.pairs[pair]); n > materialsPerPair {
		t.Fatalf("one pair holds %d materials", n)
	}
}

// A key whose labels do not fit its material, or whose material is not
// material, is refused before any data is touched.
func TestBadKeys(t *testing.T) {
	m := newManager(t)
	aes := mustKey(t, m, pair, keymanager.AES256GCM)
	des := mustKey(t, m, keymanager.NewPairID(1, 1, 5), keymanager.InsecureDES)
	relabel := func(k keymanager.Key, f func(*keymanager.Key)) keymanager.Key {
		k.Material = bytes.Clone(k.Material)
		f(&k)
		return k
	}
	cases := map[string]keymanager.Key{
		"AES material as ChaCha20":   relabel(aes, func(k *keymanager.Key) { k.Cipher = keymanager.ChaCha20Poly1305 }),
		"DES material as Blowfish":   relabel(des, func(k *keymanager.Key) { k.Cipher = keymanager.InsecureBlowfish }),
		"DES material as AES":        relabel(des, func(k *keymanager.Key) { k.Cipher = keymanager.AES256GCM }),
		"a primary it does not have": relabel(aes, func(k *keymanager.Key) { k.Primary = 2 }),
		"a legacy primary it lacks":  relabel(des, func(k *keymanager.Key) { k.Primary = 7 }),
		"random bytes":               relabel(aes, func(k *keymanager.Key) { k.Material = []byte("not a keyset at all") }),
		"no cipher":                  relabel(aes, func(k *keymanager.Key) { k.Cipher = "" }),
	}
	for name, k := range cases {
		cr := New(0)
		if _, err := cr.Seal(k, nil, []byte("x")); err == nil || errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: Seal %v, want a key error", name, err)
		}
	}
	cr := New(0)
	cr.Seal(aes, nil, nil) // cached: a relabelled copy of the same material must still be refused
	if _, err := cr.Seal(cases["a primary it does not have"], nil, nil); err == nil {
		t.Error("a cached material under another primary was accepted")
	}
}

func TestTooLarge(t *testing.T) {
	k := mustKey(t, newManager(t), pair, keymanager.AES256GCM)
	big := make([]byte, MaxData+1)
	cr := New(0)
	for name, f := range map[string]func(keymanager.Key, []byte, []byte) ([]byte, error){"Seal": cr.Seal, "Open": cr.Open, "Rewrap": cr.Rewrap} {
		if _, err := f(k, nil, big); err != ErrTooLarge {
			t.Errorf("%s of %d bytes: %v", name, len(big), err)
		}
	}
}
