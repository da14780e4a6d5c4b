package eaas

import "fmt"

// CipherID names a cipher in envelopes (one byte) and in JSON (its name).
type CipherID uint8

const (
	AES256GCM        CipherID = 1
	ChaCha20Poly1305 CipherID = 2
	// The seed's ciphers, for reproducing its figures only: encrypt-then-MAC
	// around DES, 3DES and Blowfish. Never a default.
	InsecureDES      CipherID = 101
	Insecure3DES     CipherID = 102
	InsecureBlowfish CipherID = 103
)

var cipherNames = map[CipherID]string{
	AES256GCM: "aes256-gcm", ChaCha20Poly1305: "chacha20-poly1305",
	InsecureDES: "insecure-des", Insecure3DES: "insecure-3des", InsecureBlowfish: "insecure-blowfish",
}

// String is the cipher's name, "" for an unknown id.
func (c CipherID) String() string { return cipherNames[c] }

// Insecure says whether the cipher is one of the seed's legacy ones.
func (c CipherID) Insecure() bool { return c >= 101 && c.String() != "" }

// ParseCipher returns the id of a cipher name.
func ParseCipher(name string) (CipherID, error) {
	for id, n := range cipherNames {
		if n == name {
			return id, nil
		}
	}
	return 0, fmt.Errorf("unknown cipher %.64q, want aes256-gcm, chacha20-poly1305, insecure-des, insecure-3des or insecure-blowfish", name)
}

// MarshalText writes the cipher's name (JSON uses it).
func (c CipherID) MarshalText() ([]byte, error) {
	if c.String() == "" {
		return nil, fmt.Errorf("unknown cipher id %d", uint8(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText reads a cipher's name.
func (c *CipherID) UnmarshalText(b []byte) error {
	id, err := ParseCipher(string(b))
	if err != nil {
		return err
	}
	*c = id
	return nil
}
