package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/meshward/meshward/extauthz/eaas/cryptor"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
)

// CryptorRow is part 2's figure for one cipher and size: a seal and an
// open per operation, one goroutine, the cryptor (with its key lookup)
// against the Tink primitive it wraps, on the same data.
type CryptorRow struct {
	Cipher        string
	Size          int
	Cryptor, Raw  float64 // MB/s of plaintext
	Ratio         float64 // median of the rounds' Cryptor/Raw
	Rounds, Slice int     // rounds of a slice of each, alternating who goes first
}

// tinkCiphers are the ciphers with a raw Tink AEAD to compare with; the
// legacy ones have no Tink primitive.
var tinkCiphers = []keymanager.Cipher{keymanager.AES256GCM, keymanager.ChaCha20Poly1305}

// CryptorVsTink runs part 2: for each Tink cipher and size, slices of
// cryptor and raw Tink work alternate for d in all.
func CryptorVsTink(ctx context.Context, m *Mesh, sizes []int, d time.Duration) ([]CryptorRow, error) {
	keys := keymanager.New(keystore.NewMemory(), m.kek)
	c := cryptor.New(0)
	n := len(tinkCiphers) * len(sizes)
	slice := 50 * time.Millisecond
	rounds := max(1, int(d/(2*slice*time.Duration(max(n, 1)))))
	var rows []CryptorRow
	for i, ci := range tinkCiphers {
		key, err := keys.Key(ctx, keymanager.NewPairID(1, 1, uint32(2+i)), ci)
		if err != nil {
			return nil, err
		}
		h, err := keymanager.ParseKeyset(ci, key.Material)
		if err != nil {
			return nil, err
		}
		raw, err := aead.New(h)
		if err != nil {
			return nil, err
		}
		for _, size := range sizes {
			row, err := compareCryptor(c, key, raw, size, rounds, slice)
			if err != nil {
				return nil, fmt.Errorf("%s %d bytes: %w", ci, size, err)
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func compareCryptor(c *cryptor.Cryptor, key keymanager.Key, raw tink.AEAD, size, rounds int, slice time.Duration) (CryptorRow, error) {
	pt, ad := make([]byte, size), []byte("MWE1 associated data of an envelope")
	if _, err := rand.Read(pt); err != nil {
		return CryptorRow{}, err
	}
	viaCryptor := func() error {
		ct, err := c.Seal(key, ad, pt)
		if err == nil {
			_, err = c.Open(key, ad, ct)
		}
		return err
	}
	viaTink := func() error {
		ct, err := raw.Encrypt(pt, ad)
		if err == nil {
			_, err = raw.Decrypt(ct, ad)
		}
		return err
	}
	row := CryptorRow{Cipher: string(key.Cipher), Size: size, Rounds: rounds, Slice: int(slice / time.Millisecond)}
	var cOps, rOps int
	var cTime, rTime time.Duration
	var ratios []float64
	for r := range rounds {
		var co, ro int
		var ct, rt time.Duration
		var err error
		if r%2 == 0 {
			co, ct, err = spin(viaCryptor, slice)
			if err == nil {
				ro, rt, err = spin(viaTink, slice)
			}
		} else {
			ro, rt, err = spin(viaTink, slice)
			if err == nil {
				co, ct, err = spin(viaCryptor, slice)
			}
		}
		if err != nil {
			return row, err
		}
		cOps, rOps, cTime, rTime = cOps+co, rOps+ro, cTime+ct, rTime+rt
		ratios = append(ratios, (float64(co)/ct.Seconds())/(float64(ro)/rt.Seconds()))
	}
	row.Cryptor = float64(cOps*size) / cTime.Seconds() / 1e6
	row.Raw = float64(rOps*size) / rTime.Seconds() / 1e6
	row.Ratio = median(ratios)
	return row, nil
}

// spin runs op for about d and says how often and for how long exactly.
func spin(op func() error, d time.Duration) (int, time.Duration, error) {
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		for range 8 {
			if err := op(); err != nil {
				return n, 0, err
			}
			n++
		}
	}
	return n, time.Since(start), nil
}
