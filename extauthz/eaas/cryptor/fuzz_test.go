package cryptor

import (
	"bytes"
	"testing"

	"github.com/meshward/meshward/extauthz/eaas/keymanager"
)

// FuzzOpen: hostile ciphertexts and headers never panic, and nothing opens
// but what was sealed, under the header it was sealed with.
func FuzzOpen(f *testing.F) {
	m := newManager(f)
	ciphers := keymanager.Ciphers()
	keys := make([]keymanager.Key, len(ciphers))
	cr := New(0)
	type sealed struct{ ad, pt string }
	made := map[string]sealed{}
	for i, c := range ciphers {
		keys[i] = mustKey(f, m, keymanager.NewPairID(54, 1, uint32(10+i)), c)
		for _, pt := range []string{"", "x", "eight by", "a longer plaintext of several blocks"} {
			ad := "header " + pt
			ct, err := cr.Seal(keys[i], []byte(ad), []byte(pt))
			if err != nil {
				f.Fatal(err)
			}
			made[string(ct)] = sealed{ad, pt}
			f.Add(uint8(i), []byte(ad), ct)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, ad, ct []byte) {
		k := keys[int(which)%len(keys)]
		pt, err := cr.Open(k, ad, ct)
		if err != nil {
			if err != ErrDecrypt && err != ErrTooLarge {
				t.Fatalf("Open error %v, want ErrDecrypt", err)
			}
			return
		}
		s, ok := made[string(ct)]
		if !ok || s.ad != string(ad) || !bytes.Equal(pt, []byte(s.pt)) {
			t.Fatalf("opened a ciphertext that was never sealed with this header")
		}
	})
}
